"""evalkit without a model: pass@k math, verifier, benchmarks, --from-samples, compare."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest

from entropykit.errors import UserError
from entropykit.evalkit import bootstrap_ci, crossover_k, default_ks, parse_ks, pass_at_k

ENTROPYKIT = [sys.executable, "-m", "entropykit.cli.app"]


def _exact(n, c, k):
    return float(1 - Fraction(math.comb(n - c, k), math.comb(n, k)))


# ------------------------------------------------------------------ pass@k


def test_pass_at_k_exact_against_fractions():
    rng = random.Random(0)
    cases = [(10000, 1, 1), (10000, 1, 9999), (10000, 5000, 2), (10000, 9990, 5), (10000, 3, 5000),
             (10000, 100, 100), (10000, 10, 1000), (10000, 9000, 999), (10000, 2, 9998), (10000, 1, 10000),
             (256, 1, 255), (256, 128, 64), (16, 3, 4), (1, 1, 1), (1, 0, 1)]
    for _ in range(300):
        n = rng.choice([1, 2, 5, 16, 100, 256, 1000, 4096, 10000])
        cases.append((n, rng.randint(0, n), rng.randint(1, n)))
    for n, c, k in cases:
        assert abs(pass_at_k(n, c, k) - _exact(n, c, k)) < 1e-12, (n, c, k)


def test_pass_at_k_edges():
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(10, 6, 5) == 1.0  # n - c = 4 < k: exactly 1
    assert pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25, abs=1e-15)
    with pytest.raises(ValueError, match="larger than the number of samples"):
        pass_at_k(4, 1, 5)
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 0)


def test_ks_parsing_and_defaults():
    assert default_ks(16) == [1, 2, 4, 8, 16]
    assert default_ks(12) == [1, 2, 4, 8, 12]
    assert parse_ks("1,2,4") == [1, 2, 4]
    assert parse_ks("8") == [1, 2, 4, 8]
    assert parse_ks("4,1,4") == [1, 4]
    with pytest.raises(ValueError):
        parse_ks("1,x")


def test_bootstrap_and_crossover():
    import numpy as np

    table = np.array([[0.0, 0.5], [1.0, 1.0], [0.0, 0.0], [1.0, 1.0]])
    lo, hi = bootstrap_ci(table, num_resamples=500, seed=1)
    assert (lo <= table.mean(0)).all() and (hi >= table.mean(0)).all()
    assert lo[0] >= 0 and hi[1] <= 1
    lo2, hi2 = bootstrap_ci(table, num_resamples=500, seed=1)
    assert (lo == lo2).all() and (hi == hi2).all()
    # RL ahead at small k, base overtakes between k=4 and k=8
    ks = [1, 2, 4, 8, 16]
    rl = [0.5, 0.6, 0.65, 0.7, 0.72]
    base = [0.3, 0.45, 0.6, 0.75, 0.85]
    cx = crossover_k(ks, rl, base)
    assert cx["leader_at_min_k"] == "a" and cx["leader_at_max_k"] == "b"
    assert cx["first_k"] == 8 and 4 < cx["k_interp"] < 8
    assert crossover_k(ks, base, base)["first_k"] is None


# ------------------------------------------------------------------ verifier


def test_extract_answer():
    from entropykit.verify import extract_answer

    assert extract_answer(r"a \boxed{1} then \boxed{\frac{1}{2}}.") == r"\frac{1}{2}"
    assert extract_answer(r"\boxed{x^{2}+1}") == "x^{2}+1"
    assert extract_answer(r"so \boxed 5.") == "5"
    assert extract_answer(r"\fbox{7}") == "7"
    assert extract_answer(r"\boxed{3} and \boxed{4") == "3"  # unclosed last box
    assert extract_answer(r"\boxed{3} and \boxed{}") == "3"  # empty last box
    assert extract_answer(r"\boxed{\{1, 2\}}") == r"\{1, 2\}"  # escaped braces do not close the box
    assert extract_answer("no box") is None
    assert extract_answer("") is None


def test_verify_equivalent_forms_and_raw_latex_gold():
    from entropykit.verify import verify_batch

    golds = ["1/2", "1/2", "1/2", "0.5", r"\frac{1}{2}", r"\left( 3, \frac{\pi}{2} \right)", "12", "12", r"\text{Evelyn}", "7"]
    preds = [r"so \boxed{0.5}", r"\boxed{\frac{2}{4}}", "1/2", r"\boxed{1/2}", r"\boxed{0.50}", r"\boxed{(3, \pi/2)}",
             r"first \boxed{13}, wait, \boxed{12}", r"\boxed{12} no \boxed{13}", r"\boxed{Evelyn}", "The answer is 7."]
    expect = [True, True, True, True, True, True, True, False, True, True]
    verdicts = verify_batch(golds, preds, timeout_s=10, workers=2)
    assert [v.correct for v in verdicts] == expect
    assert not any(v.timed_out for v in verdicts)


def test_every_math500_gold_answer_verifies_against_itself():
    """Raw LaTeX golds (\\frac, \\text{}, intervals, \\$18.90, 32,\\!348, ...) all parse."""
    from entropykit.benchmarks import load_benchmark
    from entropykit.verify import verify_batch

    golds = [p.answer for p in load_benchmark("math500").problems]
    verdicts = verify_batch(golds, ["The answer is \\boxed{" + g + "}." for g in golds], timeout_s=10)
    bad = [(g, v) for g, v in zip(golds, verdicts) if not v.correct]
    assert not bad, bad[:5]


def test_hostile_answer_costs_at_most_the_limit():
    from entropykit.verify import Verifier

    with Verifier(timeout_s=1.0, workers=2) as v:
        v.verify(["1"], [r"\boxed{1}"])  # workers up
        t = time.monotonic()
        verdicts = v.verify(["2", "3", "4"], [r"\boxed{9^{9^{9^{9}}}}", r"\boxed{3}", r"\boxed{4}"])
        elapsed = time.monotonic() - t
        assert verdicts[0].timed_out and not verdicts[0].correct
        assert verdicts[1].correct and verdicts[2].correct
        assert elapsed < 1.0 + 3.0, elapsed  # the limit, plus slack for a loaded machine
        assert v.stats["timeouts"] == 1 and v.stats["restarts"] == 1
        # the replacement worker keeps serving
        assert v.verify(["5"], [r"\boxed{5}"])[0].correct


def test_verifier_in_process_matches_pool():
    from entropykit.verify import Verifier

    golds = [str(i % 7) for i in range(60)]
    preds = [rf"\boxed{{{i % 5}}}" for i in range(60)]
    with Verifier(workers=0) as a, Verifier(workers=2) as b:
        assert a.verify(golds, preds) == b.verify(golds, preds)


# ------------------------------------------------------------------ benchmarks


def test_bundled_benchmarks():
    from entropykit.benchmarks import load_benchmark

    m = load_benchmark("math500")
    assert len(m) == 500 and len({p.id for p in m.problems}) == 500
    assert m.problems[0].answer == r"\left( 3, \frac{\pi}{2} \right)"
    e = load_benchmark("easy", limit=5)
    assert len(e) == 5 and all(p.answer.isdigit() for p in e.problems)


def test_local_benchmark_files_and_columns(tmp_path):
    from entropykit.benchmarks import load_benchmark

    rows = [{"q": "1+1?", "final": 2, "idx": "a"}, {"q": "2+2?", "final": "$4$", "idx": "b"}]
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    b = load_benchmark(str(tmp_path / "b.jsonl"), "problem=q,answer=final,id=idx")
    assert [(p.id, p.problem, p.answer) for p in b.problems] == [("a", "1+1?", "2"), ("b", "2+2?", "4")]
    assert b.name == "b"
    (tmp_path / "c.csv").write_text("question,answer\nwhat?,3\n")
    assert load_benchmark(str(tmp_path / "c.csv")).problems[0].answer == "3"
    (tmp_path / "d.json").write_text(json.dumps({"data": [{"problem": "x", "answer": "1"}]}))
    assert load_benchmark(str(tmp_path / "d.json")).problems[0].id == "0"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([{"problem": "p", "answer": "9"}]), tmp_path / "e.parquet")
    assert load_benchmark(str(tmp_path / "e.parquet")).problems[0].answer == "9"
    with pytest.raises(UserError, match="no column 'nope'"):
        load_benchmark(str(tmp_path / "b.jsonl"), "problem=nope")
    with pytest.raises(UserError, match="cannot find the problem column"):
        load_benchmark(str(tmp_path / "b.jsonl"))
    with pytest.raises(UserError, match="unknown benchmark"):
        load_benchmark("no-such-bench")


def test_hub_unreachable_is_a_user_error(monkeypatch):
    from entropykit.benchmarks import load_benchmark

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="cannot load benchmark 'aime24'.*pass the file"):
        load_benchmark("aime24")


# ------------------------------------------------------------------ --from-samples via the CLI


def _run_cli(args, **kw):
    return subprocess.run(ENTROPYKIT + args, capture_output=True, text=True, timeout=300, **kw)


def _write_samples(path: Path):
    recs = []
    # p1: 4 samples, 3 correct in different forms; p2: 4 samples, 1 correct; hostile answer in p2
    for r in [r"so \boxed{0.5}", r"\boxed{\frac{2}{4}}", r"\boxed{3}", "I think it is 1/2"]:
        recs.append({"benchmark": "hand", "problem_id": "p1", "response": r, "answer": "1/2"})
    for r in [r"\boxed{9^{9^{9^{9}}}}", r"\boxed{1}", "no idea", r"\boxed{2}"]:
        recs.append({"benchmark": "hand", "problem_id": "p2", "response": r, "answer": "2"})
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))


def test_from_samples_exact_pass_at_k_and_cache(tmp_path):
    samples = tmp_path / "s.jsonl"
    _write_samples(samples)
    out = tmp_path / "out"
    r = _run_cli(["passk", "--from-samples", str(samples), "--k", "1,2,4", "--out", str(out), "--verify-timeout", "1"])
    assert r.returncode == 0, r.stderr
    s = json.loads((out / "summary.json").read_text())
    b = s["benchmarks"]["hand"]
    assert b["num_problems"] == 2 and b["n"] == 4 and b["timeouts"] == 1
    assert b["mean_accuracy"] == pytest.approx(4 / 8)
    for k in (1, 2, 4):
        want = (_exact(4, 3, k) + _exact(4, 1, k)) / 2
        assert b["pass_at_k"][str(k)] == pytest.approx(want, abs=1e-12)
    probs = [json.loads(line) for line in (out / "problems.jsonl").read_text().splitlines()]
    assert [(p["problem_id"], p["n"], p["c"]) for p in probs] == [("p1", 4, 3), ("p2", 4, 1)]
    html = (out / "passk.html").read_text()
    assert "<script src" not in html and "Plotly" in html and len(html) > 1_000_000  # inlined
    # re-scoring hits the verdict cache, except for the timeout, which is never cached (a rerun
    # with a longer --verify-timeout must try it again)
    cached = [json.loads(line) for line in (out / "verdicts.jsonl").read_text().splitlines()]
    assert len(cached) == 7 and not any(c["timed_out"] for c in cached)  # 8 distinct gradings, 1 timeout
    r2 = _run_cli(["passk", "--from-samples", str(samples), "--k", "1,2,4", "--out", str(out), "--no-html",
                   "--verify-timeout", "1"])
    assert r2.returncode == 0, r2.stderr
    assert "verifying 1 distinct answers" in r2.stderr
    assert (out / "verdicts.jsonl").read_text().count("\n") == 7
    assert json.loads((out / "summary.json").read_text())["benchmarks"] == s["benchmarks"]
    recs = {(p["problem_id"], p["n"]) for p in probs}
    assert recs == {("p1", 4), ("p2", 4)}


def test_cli_errors_are_one_line_exit_2(tmp_path):
    samples = tmp_path / "s.jsonl"
    _write_samples(samples)
    r = _run_cli(["passk", "--from-samples", str(samples), "--k", "1,8", "--out", str(tmp_path / "o")])
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "k=8 is larger than the number of samples n=4" in r.stderr
    r = _run_cli(["passk", "--from-samples", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")])
    assert r.returncode == 2 and "no such file" in r.stderr and r.stderr.strip().count("\n") == 0
    (tmp_path / "bad.jsonl").write_text('{"problem_id": 1}\n')
    r = _run_cli(["passk", "--from-samples", str(tmp_path / "bad.jsonl"), "--out", str(tmp_path / "o")])
    assert r.returncode == 2 and "missing field" in r.stderr
    r = _run_cli(["passk", "--model", "x", "--benchmark", "easy", "--n", "2", "--k", "4", "--out", str(tmp_path / "o")])
    assert r.returncode == 2 and "k=4 is larger than the number of samples n=2" in r.stderr
    r = _run_cli(["passk", "--model", "x", "--benchmark", "nope", "--out", str(tmp_path / "o")])
    assert r.returncode == 2 and "unknown benchmark" in r.stderr


# ------------------------------------------------------------------ compare


def _fake_run(d: Path, model: str, curve: dict, responses: list[str]):
    d.mkdir(parents=True)
    summary = {"benchmarks": {"easy": {"num_problems": 3, "n": 16, "mean_accuracy": curve["1"],
                                       "pass_at_k": curve, "pass_at_k_ci95": {k: [v, v] for k, v in curve.items()}}},
               "model": model, "sampling": {}}
    (d / "summary.json").write_text(json.dumps(summary))
    (d / "samples.jsonl").write_text("".join(json.dumps({"benchmark": "easy", "problem_id": str(i), "sample_idx": 0,
                                                         "prompt": "q", "response": r, "num_tokens": 10}) + "\n"
                                             for i, r in enumerate(responses)))


def test_compare_reports_crossover_and_dynamics(tmp_path):

    _fake_run(tmp_path / "rl", "rl-model", {"1": 0.5, "2": 0.6, "4": 0.65, "8": 0.7, "16": 0.72},
              ["Therefore the answer is 4. Wait, let me verify: 2+2=4.", "So x = 3."])
    _fake_run(tmp_path / "base", "base-model", {"1": 0.3, "2": 0.45, "4": 0.6, "8": 0.75, "16": 0.85},
              ["The answer is 4.", "x is 3 3 3 3 3 3 3 3."])
    out = tmp_path / "report.html"
    r = _run_cli(["passk", "compare", str(tmp_path / "rl"), str(tmp_path / "base"), "--out", str(out)])
    assert r.returncode == 0, r.stderr
    rep = json.loads(out.with_suffix(".json").read_text())
    cx = rep["benchmarks"]["easy"]["crossovers"][0]
    assert cx["crossover_k"] == 8 and cx["leader_at_min_k"] == "rl-model" and cx["leader_at_max_k"] == "base-model"
    dyn = rep["dynamics"]
    assert dyn["rl-model"]["num_responses"] == 2 and dyn["rl-model"]["mean_reflective_count"] > 0
    assert dyn["base-model"]["mean_repetition_rate"] > dyn["rl-model"]["mean_repetition_rate"]
    assert dyn["rl-model"]["mean_num_tokens"] == 10
    html = out.read_text()
    assert "<script src" not in html and "overtakes" in html
    r = _run_cli(["passk", "compare", str(tmp_path / "rl"), "--out", str(out)])
    assert r.returncode == 2 and "at least two" in r.stderr
    assert "rl-model overtakes" not in r.stdout and "base-model overtakes rl-model at k=8" in html
