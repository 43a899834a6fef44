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

def cli(capsys, *args) -> tuple[int, str, str]:
    """Run `entropykit ARGS` in this process: (exit code, stdout, stderr). An exception (a
    traceback for a user) fails the test by propagating."""
    from entropykit.cli.app import main

    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    got = capsys.readouterr()
    return code, got.out, got.err


def refused(capsys, *args, contains: tuple[str, ...]) -> str:
    """`cli`, which must refuse: exit 2, one line on stderr, no traceback; that line, holding each of `contains`."""
    code, _, err = cli(capsys, *args)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    line = lines[0]
    assert line.startswith("entropykit: error: ")
    for c in contains:
        assert c in line, line
    return line


# ---- finished `entropykit passk` run folders, made by hand (grouped compare, reproduce power)

PASSK_SAMPLING = {"seed": 0, "temperature": 0.6, "top_p": 0.95, "max_tokens": 128, "grader": "entropykit", "chat": None,
                  "prompt_template": "math"}


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k of c right out of n samples."""
    import math

    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def passk_run(d: Path, acc: list[float], *, n: int = 4, bench: str = "easy", sampling: dict | None = None,
              ids: list[str] | None = None, model: str | None = None, ks: tuple[int, ...] = (1, 2, 4)) -> Path:
    """A finished `entropykit passk` run folder `d` (summary.json, then problems.jsonl, as passk
    writes them) with per-problem accuracies `acc` (c = round(acc * n) right of n samples each)
    on benchmark `bench`, problems `ids` (default p0, p1, ...), pass@k at each k <= n of `ks`."""
    d.mkdir(parents=True, exist_ok=True)
    ids = ids or [f"p{i}" for i in range(len(acc))]
    ks = [k for k in ks if k <= n]
    counts = [round(a * n) for a in acc]
    rows = [{"benchmark": bench, "problem_id": pid, "n": n, "c": c, "accuracy": c / n,
             "pass_at_k": {str(k): pass_at_k(n, c, k) for k in ks}, "timeouts": 0} for pid, c in zip(ids, counts)]
    curve = {str(k): sum(r["pass_at_k"][str(k)] for r in rows) / len(rows) for k in ks}
    summary = {"model": model or d.name, "sampling": {**PASSK_SAMPLING, **(sampling or {}), "n": n},
               "benchmarks": {bench: {"num_problems": len(rows), "n": n, "num_samples": n * len(rows),
                                      "mean_accuracy": sum(counts) / (n * len(counts)), "pass_at_k": curve,
                                      "pass_at_k_ci95": {k: [v, v] for k, v in curve.items()}, "timeouts": 0}}}
    (d / "summary.json").write_text(json.dumps(summary))
    (d / "problems.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return d
