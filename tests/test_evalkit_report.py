"""pass@k tallies, `passk compare` wording, and passk.html: size bound and a real browser."""

from __future__ import annotations

import json
import math
import random
import re
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from entropykit.evalkit.metrics import mean_accuracy, mean_pass_at_k, problem_tallies


def _exact_mean(counts, k):
    return float(sum(1 - Fraction(math.comb(n - c, k), math.comb(n, k)) for n, c in counts) / len(counts))


def test_tallies_and_benchmark_pass_at_k_against_fractions():
    rng = random.Random(3)
    records, truth = [], {}
    for b in ("a", "b"):
        for p in range(7):
            n = rng.choice([4, 8])
            flags = [rng.random() < 0.3 for _ in range(n)]
            truth[(b, str(p))] = (n, sum(flags))
            for j, f in enumerate(flags):
                records.append({"benchmark": b, "problem_id": p, "sample_idx": j, "correct": f, "timed_out": j == 1 and not f})
    rng.shuffle(records)
    t = problem_tallies(records)
    assert {(b, pid): (x["n"], x["c"]) for b, probs in t.items() for pid, x in probs.items()} == truth
    counts = [truth[("a", str(p))] for p in range(7)]
    got = mean_pass_at_k(counts, [1, 2, 4])
    for k in (1, 2, 4):
        assert abs(got[k] - _exact_mean(counts, k)) < 1e-12
    assert mean_accuracy(counts) == pytest.approx(sum(c for _, c in counts) / sum(n for n, _ in counts), abs=0)
    with pytest.raises(ValueError, match="larger than the number of samples"):
        mean_pass_at_k([(4, 1)], [8])


def _run(d: Path, model: str, benches: dict) -> None:
    d.mkdir(parents=True)
    summary = {"benchmarks": {b: {"num_problems": 3, "n": 4, "mean_accuracy": c["1"], "pass_at_k": c,
                                  "pass_at_k_ci95": {k: [v, v] for k, v in c.items()}} for b, c in benches.items()},
               "model": model, "sampling": {}}
    (d / "summary.json").write_text(json.dumps(summary))


def test_compare_without_shared_benchmark_and_ties(tmp_path, capsys):
    from rich.console import Console

    from entropykit.evalkit.report import compare_runs, print_compare

    _run(tmp_path / "a", "model-a", {"math500": {"1": 0.2, "2": 0.3}})
    _run(tmp_path / "b", "model-b", {"aime24": {"1": 0.1, "2": 0.2}})
    rep = compare_runs([str(tmp_path / "a"), str(tmp_path / "b")], str(tmp_path / "c.html"))
    assert "share no benchmark" in rep["message"] and "model-a: math500" in rep["message"]
    assert all(not e["crossovers"] for e in rep["benchmarks"].values())
    html = (tmp_path / "c.html").read_text()
    assert "share no benchmark" in html and "crossover</h3>" not in html
    print_compare(rep, Console(width=200))
    out = capsys.readouterr().out
    assert "share no benchmark" in out and "nothing to compare" in out

    same = {"1": 0.2, "2": 0.3, "4": 0.5}
    _run(tmp_path / "t1", "m1", {"easy": same})
    _run(tmp_path / "t2", "m2", {"easy": same})
    _run(tmp_path / "t3", "m3", {"easy": {"1": 0.2, "2": 0.35, "4": 0.6}})
    rep = compare_runs([str(tmp_path / f"t{i}") for i in (1, 2, 3)], str(tmp_path / "t.html"))
    s12, s13 = [c["summary"] for c in rep["benchmarks"]["easy"]["crossovers"]]
    assert s12 == "m1 and m2 tie at every k"
    assert s13 == "m3 ahead or tied at every k, no crossover"
    print_compare(rep, Console(width=200))
    out = capsys.readouterr().out
    assert "tie ahead" not in out and "tie at every k" in out


def test_compare_dynamics_read_every_shard_file(tmp_path):
    """A sharded run has no samples.jsonl: its dynamics come from every shard file, complete
    lines only (a shard may still be writing), and a run without samples has none."""
    from entropykit.evalkit.report import compare_runs

    _run(tmp_path / "a", "model-a", {"easy": {"1": 0.2}})
    _run(tmp_path / "b", "model-b", {"easy": {"1": 0.3}})

    def rec(i: int) -> str:
        return json.dumps({"benchmark": "easy", "problem_id": str(i), "sample_idx": 0, "response": "So x = 3.",
                           "num_tokens": 5, "entropies": [0.5] * 5})

    (tmp_path / "a" / "samples.shard-0-of-2.jsonl").write_text(rec(0) + "\n" + rec(2) + "\n")
    (tmp_path / "a" / "samples.shard-1-of-2.jsonl").write_text(rec(1) + "\n" + rec(3)[:30])
    rep = compare_runs([str(tmp_path / "a"), str(tmp_path / "b")], str(tmp_path / "c.html"))
    assert rep["dynamics"]["model-a"]["num_responses"] == 3 and rep["dynamics"]["model-a"]["mean_num_tokens"] == 5
    assert rep["dynamics"]["model-b"] is None


def test_terminal_table_labels_ci_as_percent(capsys):
    from rich.console import Console

    from entropykit.evalkit.report import print_table

    print_table({"model": "m", "benchmarks": {"x": {"num_problems": 1, "n": 2, "mean_accuracy": 0.5,
                                                    "pass_at_k": {"1": 0.5}, "pass_at_k_ci95": {"1": [0.25, 0.75]}}}},
                Console(width=120))
    out = capsys.readouterr().out
    assert "95% CI (%)" in out and "[25.0, 75.0]" in out


# ------------------------------------------------------------------ passk.html

_WORDS = ("we substitute the value into the equation and simplify both sides then check the constraint "
          "since the product is positive the root must be the larger one wait let me recompute").split()


def _synthetic_run(num_problems: int, n: int, seed: int = 0):
    from entropykit.evalkit.report import score_records

    rng = random.Random(seed)
    recs = []
    for i in range(num_problems):
        gold = str(rng.randint(0, 999))
        for j in range(n):
            ok = rng.random() < 0.4
            pred = gold if ok else str(rng.randint(0, 999))
            body = " ".join(rng.choice(_WORDS) if rng.random() < 0.8 else str(rng.randint(0, 10**5))
                            for _ in range(rng.randint(150, 1400)))
            recs.append({"benchmark": "math500", "problem_id": f"test/p{i}", "sample_idx": j, "answer": gold,
                         "response": body + f"\n\nThe answer is $\\boxed{{{pred}}}$.", "pred": pred, "correct": ok,
                         "timed_out": False, "num_tokens": rng.randint(100, 2000), "finish_reason": "stop"})
    # a hostile response must stay inert text in the page
    recs[0]["response"] = "</script><script>document.title='owned'</script><b>x</b> \\boxed{1}"
    summary, problems = score_records(recs, [1, 2, 4, 8, 16][: n.bit_length()])
    summary.update({"model": "synthetic <model>", "sampling": {"temperature": 0.6, "top_p": 0.95, "grader": "entropykit"}})
    return summary, problems, recs


@pytest.fixture(scope="module")
def big_page(tmp_path_factory):
    from entropykit.evalkit.report import passk_html

    summary, problems, recs = _synthetic_run(500, 16)
    path = tmp_path_factory.mktemp("passk-html") / "passk.html"
    path.write_text(passk_html(summary, problems, recs), encoding="utf-8")
    return path


def test_passk_html_500x16_stays_under_6mb(big_page):
    html = big_page.read_text(encoding="utf-8")
    assert len(html.encode("utf-8")) < 6_000_000
    assert not re.search(r"<script[^>]*\ssrc=", html) and not re.search(r"<link[^>]*href=.http", html)  # offline
    rows = json.loads(re.search(r"id='ek-problems-data'>([^<]*)<", html).group(1))
    assert len(rows) == 500 and all(r["n"] == 16 for r in rows)
    assert all(sum(cnt for _, cnt, _ in r["ans"]) == 16 for r in rows)  # every sample's answer is counted
    assert "</script><script>document.title" not in html  # hostile text only inside the compressed blob
    assert "temperature" in html and "synthetic &lt;model&gt;" in html


def _browser_status(exe: str, page: Path, tmp_path: Path) -> tuple[str, str]:
    flags = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             "--enable-logging=stderr", "--v=0", "--virtual-time-budget=30000", "--window-size=1200,900"]
    dom = subprocess.run(flags + ["--dump-dom", page.as_uri() + "#selftest"], capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    status = dom.stdout.split('id="ek-status">', 1)[1].split("<", 1)[0]
    return status, dom.stdout


@pytest.mark.browser
def test_passk_html_in_headless_chromium(chromium_exe, big_page, tmp_path):
    """Plots drawn, samples unpacked, and search, sort and open work through the page's own handlers."""
    status, dom = _browser_status(chromium_exe, big_page, tmp_path)
    assert status.startswith("ok plots=3/3 problems=500 selftest=pass"), status
    assert "<title>owned</title>" not in dom and "answer graded" in dom


@pytest.mark.browser
def test_from_samples_page_in_headless_chromium(chromium_exe, tmp_path):
    """The page `passk --from-samples` writes, with a timeout, no-answer and cut-off samples."""
    from entropykit.evalkit.runner import score_samples

    recs = [{"benchmark": "hand", "problem_id": "p1", "answer": "7", "response": r, "finish_reason": f}
            for r, f in [("3 + 4 = 7.", "stop"), ("3 + 4 = 7.", "length"), ("so 3 + 4 =", "stop"),
                         ("\\boxed{9^{9^{9^{9}}}}", "stop")]]
    src = tmp_path / "s.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in recs))
    s = score_samples(str(src), "1,2,4", str(tmp_path / "out"), timeout_s=1.0, workers=1)
    assert s["benchmarks"]["hand"]["timeouts"] == 1 and s["benchmarks"]["hand"]["mean_accuracy"] == 0.25
    status, dom = _browser_status(chromium_exe, tmp_path / "out" / "passk.html", tmp_path)
    assert status.startswith("ok plots=3/3 problems=1 selftest=pass samples=4"), status
    assert "timeout" in dom and "(no answer)" in dom
