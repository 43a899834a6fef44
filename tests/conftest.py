"""Shared fixtures and helpers: the embedded model (loaded once per session), tiny random Llamas,
the toy training task, and a stand-in for the veRL interpreter (imported by the tests that use them)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch a model hub


@pytest.fixture(scope="session")
def smollm():
    from entropykit.models import load_model

    return load_model("smollm2-135m", device="cpu", dtype="float32")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from entropykit.models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture(scope="session")
def chromium_exe():
    """Path of a headless-capable Chromium (Debian: apt-get install -y chromium), or skip."""
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium not installed (apt-get install -y chromium)")


# ---- the toy training task (tests/test_train_*.py)


def write_toy_data(path) -> str:
    """The toy task's problems as a JSONL file at `path`."""
    from entropykit.train.data import toy_problems

    Path(path).write_text("".join(json.dumps(r) + "\n" for r in toy_problems()))
    return str(path)


def toy_config(model, data, out, **kw):
    """A CPU run of the toy task: raw prompts, no chat template, the toy reward, no checkpoints
    and no TensorBoard unless `kw` says otherwise."""
    from entropykit.train.config import TrainConfig

    base = dict(model=str(model), data=str(data), out=str(out), prompt_template="raw", chat=False, reward="toy",
                save_every=0, tensorboard=False, device="cpu")
    return TrainConfig(**{**base, **kw})


def run_cli(*args) -> int:
    """`entropykit ARGS` in this process; returns its exit code."""
    from entropykit.cli.app import main

    try:
        main([str(a) for a in args])
    except SystemExit as e:
        return int(e.code or 0)
    return 0


# ---- `entropykit train --engine verl` without veRL here


@pytest.fixture(scope="session")
def toy_dir(tmp_path_factory) -> str:
    """A tiny random Llama whose tokenizer has a chat template (veRL always applies one) and whose
    context window takes the launcher's 1,024 prompt tokens plus short responses."""
    from entropykit.train.data import build_toy_model

    return build_toy_model(tmp_path_factory.mktemp("toy") / "toy", chat_template=True, max_positions=2048)


def fake_verl_python(folder: Path, *, flash_attn: bool = True, verl: str | None = "0.9.1") -> str:
    """An interpreter stand-in that answers the launcher's environment probe (this machine's main
    environment has no veRL; the real one is exercised in tests/verl_env)."""
    path = folder / f"python-verl-{verl}-{'fa' if flash_attn else 'nofa'}"
    info = {"verl": verl, "flash_attn": flash_attn}
    path.write_text(f"#!/bin/sh\necho '{json.dumps(info)}'\n")
    path.chmod(0o755)
    return str(path)


# ---- commands run in this process, stderr captured (the one-line refusals)

def cli(capsys, *args) -> tuple[int, str]:
    """Run `entropykit ARGS` in this process: (exit code, stderr). An exception (a traceback for a
    user) fails the test by propagating."""
    from entropykit.cli.app import main

    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    return code, capsys.readouterr().err


def refused(capsys, *args, contains: tuple[str, ...]) -> str:
    """`cli`, which must refuse: exit 2, one line on stderr, no traceback; that line, holding each of `contains`."""
    code, err = cli(capsys, *args)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    line = lines[0]
    assert line.startswith("entropykit: error: ")
    for c in contains:
        assert c in line, line
    return line
