"""evalkit end to end with the transformers backend on a tiny random Llama: records, seeds,
resume after kill -9 and after Ctrl-C, each sample saved as soon as it is verified, raising
--n, refusing other settings, --from-samples with uneven n."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from entropykit.sampling import backend_info

ENTROPYKIT = [sys.executable, "-m", "entropykit.cli.app"]
COMMON = ["--benchmark", "easy", "--limit", "4", "--n", "4", "--max-tokens", "6", "--backend", "hf",
          "--batch-size", "2", "--temperature", "1.0", "--top-p", "0.95", "--no-html", "--verify-workers", "1"]
FIELDS = {"id", "benchmark", "problem_id", "sample_idx", "prompt", "response", "answer", "correct", "model", "seed",
          "finish_reason", "num_tokens"}


def _records(d: Path, name: str = "samples.jsonl") -> list[dict]:
    return [json.loads(line) for line in (d / name).read_text().splitlines() if line.strip()]


def _by_key(recs):
    return {(r["benchmark"], r["problem_id"], r["sample_idx"]): r for r in recs}


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from entropykit.models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("evalkit-tiny") / "tiny")


@pytest.fixture(scope="module")
def reference(tiny, tmp_path_factory):
    """An uninterrupted run of COMMON."""
    ref = tmp_path_factory.mktemp("evalkit-ref") / "ref"
    r = subprocess.run(ENTROPYKIT + ["passk", "--model", tiny, *COMMON, "--quiet", "--out", str(ref)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return ref


def _start_and_stop_after_first_sample(args: list[str], run: Path, sig: int) -> subprocess.Popen:
    p = subprocess.Popen(ENTROPYKIT + args + ["--out", str(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    samples = run / "samples.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and p.poll() is None:
        if _lines(samples) > 0:
            os.killpg(p.pid, sig)  # the run and its verifier processes, as a crash or a terminal's Ctrl-C
            break
        time.sleep(0.02)
    return p


def _assert_same_run(ref: Path, run: Path) -> None:
    a, b = _records(ref), _records(run)
    assert len(b) == 16 and len(_by_key(b)) == 16  # nothing lost, nothing duplicated
    assert a == b  # same records in the same order
    assert json.loads((ref / "summary.json").read_text()) == json.loads((run / "summary.json").read_text())
    assert (ref / "problems.jsonl").read_text() == (run / "problems.jsonl").read_text()


def test_kill_9_then_rerun_equals_uninterrupted(tiny, reference, tmp_path):
    args = ["passk", "--model", tiny, *COMMON, "--quiet"]
    run = tmp_path / "run"
    p = _start_and_stop_after_first_sample(args, run, signal.SIGKILL)
    p.communicate(timeout=60)
    killed_at = _lines(run / "samples.jsonl")
    assert 0 < killed_at < 16, "the run finished or never wrote a sample"
    assert not (run / "summary.json").exists()
    # rerun with the same arguments: only the missing samples are generated
    r = subprocess.run(ENTROPYKIT + args + ["--out", str(run)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    _assert_same_run(reference, run)


def test_ctrl_c_says_what_is_saved_exits_130_and_resumes(tiny, reference, tmp_path):
    args = ["passk", "--model", tiny, *COMMON]
    run = tmp_path / "run"
    p = _start_and_stop_after_first_sample(args, run, signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    saved = _lines(run / "samples.jsonl")
    assert 0 < saved < 16
    last = err.strip().splitlines()[-1]
    assert last == f"entropykit: interrupted: {saved} of 16 samples saved; rerun the same command to resume", err
    assert "Traceback" not in err
    r = subprocess.run(ENTROPYKIT + args + ["--out", str(run)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert f"sampling {16 - saved} of 16 samples ({saved} reused)" in r.stderr
    _assert_same_run(reference, run)
    r = subprocess.run(ENTROPYKIT + args + ["--out", str(run)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and "all 16 samples reused" in r.stderr, r.stderr
    assert "loading" not in r.stderr  # a finished run loads no model


class _WaitsForEachSave:
    """The real transformers generator, except that after handing over a sample it waits until
    that sample is on disk. It stays suspended inside its batch meanwhile, so a runner that saved
    whole batches (or waited for the next sample) would never get there."""

    info = backend_info("hf")  # the Generator protocol: what callers ask of a backend
    batch_size = 16

    def check_fits(self, prompts, max_tokens, name):
        pass

    def __init__(self, gen, path: Path):
        self.gen, self.path, self.handed = gen, path, 0

    @property
    def tokenizer(self):
        return self.gen.tokenizer

    def stream_chunks(self, chunks, sampling):
        for item in self.gen.stream_chunks(chunks, sampling):
            yield item
            self.handed += 1
            deadline = time.monotonic() + 60
            while _lines(self.path) < self.handed:
                assert time.monotonic() < deadline, f"sample {self.handed} was not saved while its batch ran"
                time.sleep(0.01)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("chunk_workers", [1, 2])
def test_each_sample_is_saved_as_soon_as_it_is_verified(tiny, tmp_path, chunk_workers):
    """One chunk at a time, or two side by side (passk's default on a CPU): each sample is saved
    before the next is handed over, while its batch is still running."""
    from entropykit.evalkit.runner import PasskConfig, run_passk
    from entropykit.generation import make_generator

    gen = make_generator(tiny, backend="hf", batch_size=3, chunk_workers=chunk_workers)
    gen.eos_ids = set(range(0, len(gen.tokenizer), 4))  # rows finish at different steps
    out = tmp_path / "d"
    cfg = PasskConfig(model=tiny, benchmarks=["easy"], out=str(out), limit=2, n=3, max_tokens=20, backend="hf",
                      batch_size=3, temperature=1.0, top_p=1.0, quiet=True, html=False, workers=1)
    wrapped = _WaitsForEachSave(gen, out / "samples.jsonl")
    s = run_passk(cfg, generator=wrapped)
    assert wrapped.handed == 6 and s["_stats"]["generated"] == 6
    recs = _records(out)
    assert len({r["num_tokens"] for r in recs}) > 1  # rows did finish at different steps
    # records are in the order the samples finished: within a batch, by length
    for batch in (recs[:3], recs[3:]):
        assert [r["num_tokens"] for r in batch] == sorted(r["num_tokens"] for r in batch)


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
        assert "entropies" not in r  # per-token arrays only with --token-entropies
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
    # --k alone is enough: n is the largest k, and the run is complete already
    s = run_passk(PasskConfig(ks="4", **base))
    assert s["_stats"]["generated"] == 0 and s["benchmarks"]["easy"]["n"] == 4
    assert set(s["benchmarks"]["easy"]["pass_at_k"]) == {"1", "2", "4"}
    # other sampling settings in the same folder are refused
    with pytest.raises(UserError, match="other settings: temperature=1.0 \\(now 0.7\\)"):
        run_passk(PasskConfig(n=4, **{**base, "temperature": 0.7}))
    with pytest.raises(UserError, match="max_tokens"):
        run_passk(PasskConfig(n=4, **{**base, "max_tokens": 7}))
    with pytest.raises(UserError, match="token_entropies=False \\(now True\\)"):
        run_passk(PasskConfig(n=4, **{**base, "token_entropies": True}))


def test_from_samples_with_uneven_n(tmp_path):
    """Problems with different numbers of samples: the n distribution is reported and kept, k is
    refused above the smallest n with the distribution in the message, and a file without a
    model field names the run after the file."""
    from entropykit.errors import UserError
    from entropykit.evalkit.runner import score_samples

    src = tmp_path / "mixed.jsonl"
    recs = []
    for pid, n, c in (("a", 2, 1), ("b", 4, 0), ("c", 4, 4)):
        recs += [{"problem_id": pid, "response": f"\\boxed{{{7 if i < c else 3}}}", "answer": "7"} for i in range(n)]
    src.write_text("".join(json.dumps(r) + "\n" for r in recs))
    logs: list[str] = []
    with pytest.raises(UserError, match=r"k=4 is larger than the number of samples n=2 .*n=2 \(1 problem\), n=4 \(2 problems\)\): use k up to 2"):
        score_samples(str(src), "1,2,4", str(tmp_path / "o1"), workers=0, html=False)
    s = score_samples(str(src), None, str(tmp_path / "o2"), workers=0, html=False, log=logs.append)
    b = s["benchmarks"]["mixed"]
    assert b["n"] == 2 and b["n_per_problem"] == {"2": 1, "4": 2}
    assert set(b["pass_at_k"]) == {"1", "2"}
    assert b["pass_at_k"]["1"] == pytest.approx((1 / 2 + 0 + 1) / 3)
    assert any("uneven n" in line and "k goes up to the smallest n=2" in line for line in logs)
    assert s["model"] == "mixed.jsonl (no model field)"
    saved = json.loads((tmp_path / "o2" / "summary.json").read_text())
    assert saved["benchmarks"]["mixed"]["n_per_problem"] == {"2": 1, "4": 2}
