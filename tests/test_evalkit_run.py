"""evalkit end to end with the transformers backend on a tiny random Llama: records, seeds,
resume after kill -9, raising --n, refusing other settings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ENTROPYKIT = [sys.executable, "-m", "entropykit.cli.app"]
COMMON = ["--benchmark", "easy", "--limit", "4", "--n", "4", "--max-tokens", "6", "--backend", "hf",
          "--batch-size", "2", "--temperature", "1.0", "--top-p", "0.95", "--quiet", "--no-html", "--verify-workers", "1"]
FIELDS = {"id", "benchmark", "problem_id", "sample_idx", "prompt", "response", "answer", "correct", "model", "seed",
          "finish_reason", "num_tokens"}


def _records(d: Path) -> list[dict]:
    return [json.loads(line) for line in (d / "samples.jsonl").read_text().splitlines() if line.strip()]


def _by_key(recs):
    return {(r["benchmark"], r["problem_id"], r["sample_idx"]): r for r in recs}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from entropykit.models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("evalkit-tiny") / "tiny")


def test_kill_9_then_rerun_equals_uninterrupted(tiny, tmp_path):
    args = ["passk", "--model", tiny, *COMMON]
    # uninterrupted reference
    ref = tmp_path / "ref"
    r = subprocess.run(ENTROPYKIT + args + ["--out", str(ref)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    # interrupted: kill -9 as soon as some (not all) samples are on disk
    run = tmp_path / "run"
    p = subprocess.Popen(ENTROPYKIT + args + ["--out", str(run)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         start_new_session=True)
    samples = run / "samples.jsonl"
    deadline = time.monotonic() + 300
    killed_at = None
    while time.monotonic() < deadline and p.poll() is None:
        if samples.exists() and samples.stat().st_size > 0:
            os.killpg(p.pid, signal.SIGKILL)  # the run and its verifier processes, like a crash
            p.wait()
            killed_at = len(samples.read_text().splitlines())
            break
        time.sleep(0.02)
    assert killed_at is not None, "the run finished or never wrote a sample"
    assert 0 < killed_at < 16
    assert not (run / "summary.json").exists()
    # rerun with the same arguments: only the missing samples are generated
    r = subprocess.run(ENTROPYKIT + args + ["--out", str(run)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    a, b = _records(ref), _records(run)
    assert len(b) == 16 and len(_by_key(b)) == 16  # nothing lost, nothing duplicated
    assert _by_key(a) == _by_key(b)
    assert a == b  # same order too
    sa = json.loads((ref / "summary.json").read_text())
    sb = json.loads((run / "summary.json").read_text())
    assert sa == sb
    assert (ref / "problems.jsonl").read_text() == (run / "problems.jsonl").read_text()


def test_records_seeds_raise_n_and_settings(tiny, tmp_path):
    from entropykit.errors import UserError
    from entropykit.evalkit.runner import PasskConfig, run_passk
    from entropykit.generation import SamplingConfig, derive_seed, make_generator

    out = tmp_path / "d"
    base = dict(model=tiny, benchmarks=["easy"], out=str(out), limit=3, max_tokens=6, backend="hf", batch_size=4,
                temperature=1.0, top_p=0.95, quiet=True, html=False, workers=1)
    # a run that failed before sampling anything (bad model) does not lock the folder's settings
    with pytest.raises(UserError, match="nonexistent"):
        run_passk(PasskConfig(n=2, **{**base, "model": str(tmp_path / "nonexistent")}))
    s2 = run_passk(PasskConfig(n=2, **base))
    recs2 = _records(out)
    assert len(recs2) == 6 and s2["_stats"]["generated"] == 6
    for r in recs2:
        assert FIELDS <= set(r)
        assert r["seed"] == derive_seed(0, "easy", r["problem_id"], r["sample_idx"])
        assert r["id"] == f"easy/{r['problem_id']}/{r['sample_idx']}"
        assert r["finish_reason"] in ("stop", "length") and 0 <= r["num_tokens"] <= 6
        assert r["prompt"].endswith("within \\boxed{}.")
    assert s2["benchmarks"]["easy"]["n"] == 2 and set(s2["benchmarks"]["easy"]["pass_at_k"]) == {"1", "2"}
    # same seed => same text, regenerated alone
    gen = make_generator(tiny, backend="hf", batch_size=1)
    r0 = recs2[3]
    again = gen.generate([r0["prompt"]], SamplingConfig(n=1, temperature=1.0, top_p=0.95, max_tokens=6), seeds=[[r0["seed"]]])
    assert again[0][0].text == r0["response"]
    # raising --n reuses the first samples and generates only the new ones
    s4 = run_passk(PasskConfig(n=4, **base))
    recs4 = _records(out)
    assert s4["_stats"]["generated"] == 6 and s4["_stats"]["reused"] == 6
    assert recs4[:6] == recs2 and len(_by_key(recs4)) == 12
    assert s4["benchmarks"]["easy"]["n"] == 4
    # a complete run is not regenerated
    assert run_passk(PasskConfig(n=4, **base))["_stats"]["generated"] == 0
    # other sampling settings in the same folder are refused
    with pytest.raises(UserError, match="other settings: temperature=1.0 \\(now 0.7\\)"):
        run_passk(PasskConfig(n=4, **{**base, "temperature": 0.7}))
    with pytest.raises(UserError, match="max_tokens"):
        run_passk(PasskConfig(n=4, **{**base, "max_tokens": 7}))
