"""The README's `entropykit passk` examples run as written, in order, at small sizes (a tiny
random Llama instead of the named model, 2 problems, 4 tokens); everything else is as typed."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SMALL = ["--limit", "2", "--max-tokens", "4", "--backend", "hf"]
QUIET = ["--quiet", "--verify-workers", "0"]


def readme_passk_commands() -> list[list[str]]:
    """argv (after `entropykit`) of every `entropykit passk` line of the README's bash blocks."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip().rstrip("&").strip()
            if "entropykit passk" not in line:
                continue
            argv = shlex.split(line[line.index("entropykit passk"):])[1:]
            commands.append(argv)
    return commands


def test_the_readme_has_the_examples_this_test_runs():
    cmds = readme_passk_commands()
    assert any("--from-samples" in c for c in cmds) and any(c[1:2] == ["compare"] for c in cmds)
    assert any("--shard" in c for c in cmds) and any("--token-entropies" in c for c in cmds)


@pytest.mark.slow
def test_readme_passk_examples_run_as_written(tiny_model_dir, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from entropykit.cli.app import app

    monkeypatch.chdir(tmp_path)  # the examples write runs/... relative to where they are typed
    runner = CliRunner()
    for argv in readme_passk_commands():
        if "--model" in argv:
            argv = list(argv)
            argv[argv.index("--model") + 1] = tiny_model_dir
            argv += SMALL + QUIET
        elif "--from-samples" in argv:
            argv = argv + QUIET
        r = runner.invoke(app, argv)
        assert r.exit_code == 0, f"entropykit {shlex.join(argv)}\n{r.output}"
    assert (tmp_path / "runs" / "rescored" / "summary.json").exists()
    assert (tmp_path / "compare.html").exists()
    assert (tmp_path / "runs" / "qwen-sharded" / "summary.json").exists()  # both shards ran: the last wrote it
