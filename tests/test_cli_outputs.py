"""Every output of every command is checked before the work starts (issue 11, item 1).

The commands and their options are read from the typer app itself, so a new command or a new
path option cannot be forgotten: each path-like option must be classified below as an output
(then it is tried with unwritable paths) or as an input. Each try runs the real console entry
point in a fresh process in which importing a heavy module (torch, transformers, plotly, ...)
kills the process with exit code 99: a command passes only if it refuses the path with one
line and exit code 2 before any of that work.
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from entropykit.cli.app import app, main

HEAVY = ("torch", "transformers", "vllm", "plotly", "sentence_transformers", "math_verify", "umap", "sklearn", "datasets")

# Runs the CLI with `sys.argv[1:]`; an import of a HEAVY module exits 99 at once.
GUARDED_MAIN = f"""
import os, sys
HEAVY = {HEAVY!r}
class _NoHeavyWork:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            sys.stderr.write("heavy import before the output check: " + name + "\\n")
            sys.stderr.flush()
            os._exit(99)
        return None
sys.meta_path.insert(0, _NoHeavyWork())
from entropykit.cli.app import main
main(sys.argv[1:])
"""

# (command path, option) -> "output" or "input". Options named --out/--output/-o are outputs
# without being listed; every other path-like option must be listed (see test_every_path_option_is_classified).
CLASSIFIED = {
    (("train",), "--resume"): "output",  # the run folder that training continues to write into
    (("score",), "INPUT_PATH"): "input",
    (("analyze", "run"), "OUTPUTS"): "input",  # `entropykit analyze OUTPUTS` runs the group's default command
    (("analyze", "run"), "--base"): "input",
    (("analyze", "run"), "--lexicon-add"): "input",
    (("analyze", "run"), "--reflective-add"): "input",
    (("analyze", "compare"), "RUN_A"): "input",
    (("analyze", "compare"), "RUN_B"): "input",
    (("passk",), "--from-samples"): "input",
    (("passk",), "--batch-input"): "input",
    (("score",), "--batch-input"): "input",
    (("analyze", "run"), "--batch-input"): "input",
    (("passk", "compare"), "DIRS"): "input",
    (("train", "report"), "RUNS"): "input",
    (("train", "export"), "RUN"): "input",
    (("train",), "--data"): "input",
    (("train",), "--eval-data"): "input",
    (("reproduce", "run"), "--data"): "input",  # `entropykit reproduce --out ...` runs the group's default command
    (("reproduce", "run"), "--eval"): "input",
    (("reproduce", "power"), "FOLDER"): "input",  # shown as DIR
}
# str-typed options whose name says "path" must be classified too
_PATHLIKE_WORDS = {"out", "output", "dir", "folder", "file", "path", "save", "dest", "report", "log", "data", "resume"}


def _walk(cmd, path=()):
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _walk(sub, path + (name,))


def _param_key(p) -> str:
    if p.param_type_name == "argument":
        return p.name.upper()
    return max(p.opts, key=len)


def _is_pathlike(p) -> bool:
    desc = getattr(p, "type_descriptor", None)
    annotation = str(getattr(desc, "annotation", getattr(p, "type", "")))
    if "Path" in annotation or getattr(desc, "is_path", False):
        return True
    if getattr(p, "is_flag", False) or not ("str" in annotation or "TEXT" in annotation.upper()):
        return False
    words = p.name.lower().split("_")
    return any(w in _PATHLIKE_WORDS or w.endswith(("dir", "file", "path")) for w in words)


def _is_output(path, p) -> bool:
    if p.param_type_name == "option" and ({"--out", "--output", "-o"} & set(p.opts)):
        return True
    return CLASSIFIED.get((path, _param_key(p))) == "output"


def output_options() -> list[tuple[tuple[str, ...], str]]:
    """(command path, option) for every output option of every command."""
    found = []
    for path, cmd in _walk(typer.main.get_command(app)):
        for p in cmd.params:
            if p.param_type_name == "option" and _is_output(path, p):
                found.append((path, _param_key(p)))
    return found


def test_every_path_option_is_classified():
    unclassified = []
    for path, cmd in _walk(typer.main.get_command(app)):
        for p in cmd.params:
            if _is_pathlike(p) and not _is_output(path, p) and (path, _param_key(p)) not in CLASSIFIED:
                unclassified.append(f"{' '.join(path)} {_param_key(p)}")
    assert not unclassified, f"classify these options in CLASSIFIED (output or input): {unclassified}"


def test_the_walk_finds_every_known_output():
    found = set(output_options())
    assert {(("score",), "--out"), (("analyze", "run"), "--out"), (("analyze", "compare"), "--out"), (("demo",), "--out"), (("passk",), "--out"),
            (("passk", "compare"), "--out"), (("train",), "--out"), (("train",), "--resume"),
            (("train", "report"), "--out")} <= found


def _inputs(tmp: Path) -> dict[str, Path]:
    """Small, valid inputs so that the only thing wrong in each command line is the output."""
    tmp.mkdir(parents=True, exist_ok=True)
    records = tmp / "records.jsonl"
    records.write_text(json.dumps({"prompt": "What is 1+1?", "response": "It is 2."}) + "\n")
    samples = tmp / "samples.jsonl"
    samples.write_text(json.dumps({"problem_id": "p1", "response": "\\boxed{2}", "answer": "2"}) + "\n")
    runs = [tmp / "run_a", tmp / "run_b"]
    for r in runs:
        r.mkdir(exist_ok=True)
    return {"records": records, "samples": samples, "run_a": runs[0], "run_b": runs[1]}


def base_args(path: tuple[str, ...], option: str, tmp: Path) -> list[list[str]]:
    """Command lines (without the output option) that are valid apart from the output: one or
    more variants per command. A new command with an output option needs an entry here."""
    i = _inputs(tmp)
    if (path, option) == (("train",), "--resume"):
        return [["train", "--steps", "2"]]
    table = {
        ("score",): [["score", str(i["records"])]],
        ("analyze", "run"): [["analyze", str(i["records"])]],
        ("analyze", "compare"): [["analyze", "compare", str(i["run_a"]), str(i["run_b"])]],
        ("demo",): [["demo"]],
        ("passk",): [["passk", "--model", "smollm2-135m", "--benchmark", "easy", "--limit", "1", "--n", "1",
                      "--max-tokens", "4"],
                     ["passk", "--from-samples", str(i["samples"])]],
        ("passk", "compare"): [["passk", "compare", str(i["run_a"]), str(i["run_b"])]],
        ("train",): [["train", "--data", "easy", "--steps", "1", "--prompts-per-step", "2", "--n-samples", "2",
                      "--mini-batch-size", "4", "--max-tokens", "8"]],
        ("train", "report"): [["train", "report", str(i["run_a"])]],
        ("reproduce", "run"): [["reproduce", "--preset", "smoke"]],
        ("train", "export"): [["train", "export", str(i["run_a"])]],
    }
    assert path in table, f"add valid base arguments for `entropykit {' '.join(path)}` to base_args()"
    return table[path]


def unwritable_paths(tmp: Path) -> dict[str, tuple[str, str]]:
    """name -> (path, the part of it the error line must name)."""
    afile = tmp / "afile"
    afile.write_text("a regular file\n")
    return {
        "cannot-create": ("/proc/entropykit-test/sub/out", "/proc/entropykit-test"),
        "exists-unwritable": ("/proc/self", "/proc/self"),  # an existing folder no one (root included) can write in
        "under-a-file": (str(afile / "sub" / "out"), str(afile)),
    }


CASES = [(path, opt) for path, opt in output_options()]


@pytest.mark.parametrize("path,option", CASES, ids=[f"{' '.join(p)} {o}" for p, o in CASES])
def test_unwritable_output_is_one_line_exit_2_before_any_work(tmp_path, path, option):
    bad_paths = unwritable_paths(tmp_path)
    for argv in base_args(path, option, tmp_path / "inputs"):
        for kind, (bad, named) in bad_paths.items():
            cmd = [*argv, option, bad]
            r = subprocess.run([sys.executable, "-c", GUARDED_MAIN, *cmd], capture_output=True, text=True,
                               timeout=120, cwd=tmp_path)
            where = f"entropykit {' '.join(cmd)} ({kind})"
            assert r.returncode != 99, f"{where}: {r.stderr.strip()}"  # it started heavy work first
            assert r.returncode == 2, f"{where}: rc={r.returncode} {r.stderr}"
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("entropykit: error:"), f"{where}: {r.stderr}"
            assert named in lines[0], f"{where}: the error does not name the output: {lines[0]}"
            assert "Traceback" not in r.stderr and r.stdout == "", where
    assert (tmp_path / "afile").read_text() == "a regular file\n"


# ---- the last-resort net in `main`: an OSError while writing becomes one line + exit 2


def _main_exit(argv, capsys) -> tuple[int, list[str]]:
    with pytest.raises(SystemExit) as e:
        main(argv)
    return e.value.code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS, errno.ENOENT])
def test_oserror_while_writing_is_one_line_exit_2(tmp_path, monkeypatch, capsys, code):
    import os

    import entropykit.cli.score as score_cli

    def disk_trouble(cfg):
        raise OSError(code, os.strerror(code), str(cfg.out))

    monkeypatch.setattr(score_cli, "score_file", disk_trouble)
    inp = _inputs(tmp_path)["records"]
    rc, lines = _main_exit(["score", str(inp), "--out", str(tmp_path / "o.jsonl")], capsys)
    assert rc == 2 and len(lines) == 1, lines
    assert lines[0].startswith("entropykit: error:") and str(tmp_path / "o.jsonl") in lines[0]
    assert os.strerror(code) in lines[0]
    if code == errno.ENOSPC:
        assert "disk full" in lines[0]


def test_other_oserrors_keep_their_traceback(tmp_path, monkeypatch):
    import entropykit.cli.score as score_cli

    def bug(cfg):
        raise OSError(errno.EBADF, "Bad file descriptor")  # a programming error, not the user's

    monkeypatch.setattr(score_cli, "score_file", bug)
    inp = _inputs(tmp_path)["records"]
    with pytest.raises(OSError):
        main(["score", str(inp), "--out", str(tmp_path / "o.jsonl")])
