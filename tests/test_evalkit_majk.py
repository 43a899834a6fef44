"""maj@k: the unbiased estimator (against exact enumeration of k-subsets, simulation and cases
computed by hand), the clustering of answers by equivalence, and `passk --from-samples` end to
end on a hand-made samples folder."""

from __future__ import annotations

import itertools
import json
import math
import random
import subprocess
import sys
from collections import Counter
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from entropykit.pass_at_k import maj_at_k, maj_at_k_curve, pass_at_k

ENTROPYKIT = [sys.executable, "-m", "entropykit.cli.app"]


def _labels(c: int, wrong: list[int], u: int) -> list:
    """One label per sample: "R" (the right class), j (wrong class j) or None (no answer)."""
    return ["R"] * c + [j for j, w in enumerate(wrong) for _ in range(w)] + [None] * u


def _vote(labels) -> Fraction:
    """The right answer's chance to win the vote of these samples, a tie broken uniformly."""
    votes = Counter(x for x in labels if x is not None)
    if not votes:
        return Fraction(0)  # nobody answered
    top = max(votes.values())
    tied = [x for x, v in votes.items() if v == top]
    return Fraction(1, len(tied)) if "R" in tied else Fraction(0)


def _enumerate(c: int, wrong: list[int], u: int, k: int) -> Fraction:
    """maj@k by its definition: the mean over every k-subset of the n samples."""
    labels = _labels(c, wrong, u)
    subsets = list(itertools.combinations(range(len(labels)), k))
    return sum((_vote([labels[i] for i in s]) for s in subsets), Fraction(0)) / len(subsets)


SMALL = [  # (c, wrong class sizes, unanswered)
    (1, [1], 0), (2, [2], 0), (2, [1, 1], 1), (3, [2, 2], 1), (1, [3], 2), (3, [3, 1, 1], 0),
    (4, [2, 2, 1], 2), (2, [], 3), (0, [3, 2], 1), (5, [4], 0), (2, [2, 2, 2], 0), (3, [1, 1, 1, 1, 1], 1),
    (6, [5, 1], 0), (1, [1, 1, 1, 1], 4), (4, [4, 3], 1),
]


@pytest.mark.parametrize("c,wrong,u", SMALL)
def test_maj_at_k_equals_enumeration_of_every_k_subset(c, wrong, u):
    n = c + sum(wrong) + u
    ks = list(range(1, n + 1))
    exact = maj_at_k_curve(n, c, wrong, ks, exact=True)
    floats = maj_at_k_curve(n, c, wrong, ks)
    for k, e, f in zip(ks, exact, floats):
        want = _enumerate(c, wrong, u, k)
        assert e == want, (k, e, want)
        assert f == pytest.approx(float(want), rel=1e-12, abs=1e-15)


def test_random_class_sizes_against_enumeration():
    rng = random.Random(7)
    for _ in range(25):
        n = rng.randint(1, 11)
        parts = [0]
        while sum(parts) < n:
            parts.append(rng.randint(1, n - sum(parts)))
        parts = parts[1:]
        rng.shuffle(parts)
        u = parts.pop() if len(parts) > 1 and rng.random() < 0.5 else 0
        c = parts.pop() if parts and rng.random() < 0.8 else 0
        for k in {1, rng.randint(1, n), n}:
            assert maj_at_k_curve(n, c, parts, [k], exact=True)[0] == _enumerate(c, parts, u, k)


def test_hand_computed_cases():
    # 1 right, 1 wrong: k=2 is a tie of two classes, broken at random
    assert maj_at_k(2, 1, [1], 2) == pytest.approx(0.5)
    # R R W1 W2 U, k=2: of 10 pairs, RR (1) and RU (2) win, RW (4) tie at 1/2, the rest lose: 5/10
    assert maj_at_k(5, 2, [1, 1], 2) == pytest.approx(0.5)
    # unanswered samples do not vote: R U U, k=2 -> every pair with the R wins (2 of 3)
    assert maj_at_k(3, 1, [], 2) == pytest.approx(2 / 3)
    # ... and nobody answering is wrong: U U R, k=1 -> 1/3
    assert maj_at_k(3, 1, [], 1) == pytest.approx(1 / 3)
    # a wrong majority beats the right answer: R W W, k=3
    assert maj_at_k(3, 1, [2], 3) == 0.0
    # the same wrong answers split into two classes: R W1 W2, k=3 is a three-way tie
    assert maj_at_k(3, 1, [1, 1], 3) == pytest.approx(1 / 3)
    assert maj_at_k(4, 0, [2, 2], 2) == 0.0


@pytest.mark.parametrize("c,wrong,u", [(3, [5, 1], 2), (7, [2, 2, 2], 5), (0, [4], 4), (10, [], 2)])
def test_k1_is_the_fraction_of_samples_that_are_right(c, wrong, u):
    n = c + sum(wrong) + u
    assert maj_at_k(n, c, wrong, 1) == pytest.approx(c / n, rel=1e-12)


def test_without_wrong_answers_it_is_pass_at_k():
    for k in (1, 3, 8, 16):
        assert maj_at_k(16, 5, [], k) == pytest.approx(pass_at_k(16, 5, k), rel=1e-12)


def test_simulation_n256():
    """Monte Carlo over random k-subsets (ties broken by a coin, not by their expected value)
    agrees with the exact estimator within 4 standard errors."""
    c, wrong = 60, [50, 40, 30, 20, 10, 5, 5, 5, 3, 3, 2, 2, 1, 1, 1]
    n = 256
    u = n - c - sum(wrong)
    labels = np.array([0] * c + [j + 1 for j, w in enumerate(wrong) for _ in range(w)] + [-1] * u)
    rng = np.random.default_rng(0)
    draws, classes = 20_000, len(wrong) + 1
    for k in (2, 8, 32, 128):
        exact = maj_at_k(n, c, wrong, k)
        idx = np.argpartition(rng.random((draws, n)), k, axis=1)[:, :k]  # uniform k-subsets
        pick = labels[idx]
        rows = np.repeat(np.arange(draws), k)
        flat = pick.ravel()
        votes = np.zeros((draws, classes))
        np.add.at(votes, (rows[flat >= 0], flat[flat >= 0]), 1)
        # a tie broken by a coin: noise below one vote separates only the tied classes
        winner = np.argmax(votes + 0.5 * rng.random(votes.shape), axis=1)
        wins = (winner == 0) & (votes.max(axis=1) > 0)
        est = wins.mean()
        se = math.sqrt(max(exact * (1 - exact), 1e-4) / draws)
        assert abs(est - exact) < 4 * se, (k, est, exact)
        print(f"k={k}: exact {exact:.5f}, simulated {est:.5f} (se {se:.5f})")


def test_large_n_is_fast_and_matches_exact_integers():
    import time

    ks = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    cases = [(60, [50, 40, 30, 20, 10, 5, 5, 5, 3, 3, 2, 2, 1, 1, 1]), (20, [1] * 200), (10, [10] * 24),
             (128, [100, 10, 10]), (40, [2] * 100)]
    t = time.perf_counter()
    floats = [maj_at_k_curve(256, c, w, ks) for c, w in cases]
    assert time.perf_counter() - t < 5.0  # about 0.1 s in all on one core
    for (c, w), got in zip(cases[:2], floats[:2]):  # the float path against integers and fractions
        want = maj_at_k_curve(256, c, w, ks, exact=True)
        for g, e in zip(got, want):
            assert g == pytest.approx(float(e), rel=1e-11, abs=1e-15)
    # beyond n = 1000 float64 cannot hold the partial sums: computed with integers
    assert maj_at_k(1200, 1, [], 1) == pytest.approx(1 / 1200)
    assert maj_at_k(1200, 5, [5], 1200) == pytest.approx(0.5)
    assert maj_at_k(1200, 600, [300, 100], 1) == pytest.approx(0.5)


def test_errors():
    with pytest.raises(ValueError):
        maj_at_k(4, 2, [1], 5)
    with pytest.raises(ValueError):
        maj_at_k(4, 3, [2], 1)
    with pytest.raises(ValueError):
        maj_at_k(4, 1, [1], 0)


# ---------------------------------------------------------------------------------------------
# passk --from-samples end to end

# gold, responses: p1 has two right forms and two wrong forms of one value (3 and 3.0: one class);
# p2 a wrong pair 1 = 2/2 and an unanswered sample; p3 an inequality and the interval it states
# (one class) against a single right answer; p4 one right answer and three without an answer.
HAND = {
    "p1": ("1/2", [r"\boxed{0.5}", r"\boxed{\frac{2}{4}}", r"\boxed{3}", r"\boxed{3.0}"]),
    "p2": ("2", [r"\boxed{1}", r"\boxed{\frac{2}{2}}", "no idea", r"\boxed{2}"]),
    "p3": ("7", [r"\boxed{x > 2}", r"\boxed{(2, \infty)}", r"\boxed{7}", r"\boxed{5}"]),
    "p4": ("10", ["The answer is 10.", "hmm", "hmm", "hmm"]),
}
# maj@k per problem, by hand (k = 1, 2, 4): k=1 is c/n; k=2 counts the 6 pairs (a right/wrong
# pair is a tie: 1/2); k=4 is the vote of all four samples
HAND_MAJ = {
    "p1": (Fraction(1, 2), Fraction(1, 2), Fraction(1, 2)),  # 2 right vs the class {3, 3.0}: a tie
    "p2": (Fraction(1, 4), Fraction(2, 6), Fraction(0)),  # pairs R-W (2 ties) + R-U (1 win); k=4: W 2 > R 1
    "p3": (Fraction(1, 4), Fraction(3, 2) / 6, Fraction(0)),  # R-W pairs: 3 ties
    "p4": (Fraction(1, 4), Fraction(3, 6), Fraction(1)),  # the unanswered do not vote
}
HAND_VOTES = {"p1": (2, [2], 0), "p2": (1, [2], 1), "p3": (1, [2, 1], 0), "p4": (1, [], 3)}


def _write_run(folder: Path, fields=None) -> None:
    folder.mkdir(parents=True)
    lines = []
    for pid, (gold, responses) in HAND.items():
        for i, text in enumerate(responses):
            rec = {"benchmark": "hand", "problem_id": pid, "sample_idx": i, "prompt": "q", "response": text,
                   "answer": gold, "finish_reason": "stop", **(fields or {})}
            lines.append(json.dumps(rec) + "\n")
    (folder / "samples.jsonl").write_text("".join(lines))


def _cli(args):
    return subprocess.run(ENTROPYKIT + args, capture_output=True, text=True, timeout=300)


def test_hand_values_are_the_estimator_and_enumeration():
    for pid, (c, wrong, u) in HAND_VOTES.items():
        for k, want in zip((1, 2, 4), HAND_MAJ[pid]):
            assert _enumerate(c, wrong, u, k) == want
            assert maj_at_k(4, c, wrong, k) == pytest.approx(float(want))


def test_from_samples_summary_has_maj_at_k(tmp_path):
    run, out = tmp_path / "run", tmp_path / "out"
    _write_run(run)
    r = _cli(["passk", "--from-samples", str(run), "--k", "1,2,4", "--out", str(out), "--verify-workers", "1"])
    assert r.returncode == 0, r.stderr
    b = json.loads((out / "summary.json").read_text())["benchmarks"]["hand"]
    for i, k in enumerate(("1", "2", "4")):
        want = sum(HAND_MAJ[p][i] for p in HAND) / len(HAND)
        assert b["maj_at_k"][k] == pytest.approx(float(want), abs=1e-12)
        lo, hi = b["maj_at_k_ci95"][k]
        assert lo <= b["maj_at_k"][k] <= hi
    assert b["maj_at_k"]["1"] == b["mean_accuracy"] == 0.3125  # maj@1 is the fraction of right samples
    # string equality would have split {3, 3.0}, {1, 2/2} and {x > 2, (2, \infty)}: maj@4 0.625, not 0.375
    assert b["maj_at_k"]["4"] == pytest.approx(0.375)
    rows = {p["problem_id"]: p for p in map(json.loads, (out / "problems.jsonl").read_text().splitlines())}
    for pid, (c, wrong, u) in HAND_VOTES.items():
        assert rows[pid]["votes"] == {"correct": c, "wrong": wrong, "unanswered": u}
        assert rows[pid]["maj_at_k"]["2"] == pytest.approx(float(HAND_MAJ[pid][1]))
    html = (out / "passk.html").read_text()
    assert "maj@k (%)" in html and "answer classes" in html
    assert "maj@k" in r.stdout  # the terminal table
    # the pair checks are cached: scoring again checks nothing and gives the same numbers
    assert (out / "answer_pairs.jsonl").read_text().count("\n") == 4
    r2 = _cli(["passk", "--from-samples", str(run), "--k", "1,2,4", "--out", str(out), "--no-html",
               "--verify-workers", "1"])
    assert r2.returncode == 0, r2.stderr
    assert "pairs of distinct wrong answers checked" not in r2.stderr
    assert json.loads((out / "summary.json").read_text())["benchmarks"]["hand"]["maj_at_k"] == b["maj_at_k"]

    # passk compare: maj@k curves and paired differences beside pass@k
    run2, out2 = tmp_path / "run2", tmp_path / "out2"
    _write_run(run2)
    text = (run2 / "samples.jsonl").read_text().replace(r"\\boxed{3.0}", r"\\boxed{1/2}")
    (run2 / "samples.jsonl").write_text(text)
    r = _cli(["passk", "--from-samples", str(run2), "--k", "1,2,4", "--out", str(out2), "--no-html",
              "--verify-workers", "1"])
    assert r.returncode == 0, r.stderr
    r = _cli(["passk", "compare", str(out), str(out2), "--labels", "a,b", "--out", str(tmp_path / "cmp.html")])
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / "cmp.json").read_text())["benchmarks"]["hand"]
    assert rep["maj_curves"]["a"] == b["maj_at_k"]
    # p1 becomes 3 right vs 1 wrong: maj@4 goes from 1/2 to 1, so the benchmark gains 1/8
    assert rep["paired"][0]["maj_at_k"]["4"]["diff"] == pytest.approx(0.125)
    assert "maj@4" in (tmp_path / "cmp.html").read_text()


def test_old_samples_without_pred_still_load(tmp_path):
    """A run folder's samples written before the graded answer (pred) was recorded: the summary
    is written (pass@k as before) and maj@k is left out with a note, not guessed."""
    from entropykit.evalkit.report import score_records, write_outputs
    from entropykit.evalkit.run_folder import load_samples

    run = tmp_path / "old"
    _write_run(run, {"correct": False})
    recs = list(load_samples(run).values())
    summary, problems = score_records(recs, [1, 2])
    b = summary["benchmarks"]["hand"]
    assert "maj_at_k" not in b and "pred" in b["maj_at_k_note"] and b["pass_at_k"]["1"] == 0.0
    write_outputs(tmp_path / "o", summary, problems, html=True, records=recs)
    assert "maj@k not computed" in (tmp_path / "o" / "passk.html").read_text()
    # re-grading the same folder fills it in
    r = _cli(["passk", "--from-samples", str(run), "--k", "1,2", "--out", str(tmp_path / "new"), "--no-html",
              "--verify-workers", "1"])
    assert r.returncode == 0, r.stderr
    assert "maj_at_k" in json.loads((tmp_path / "new" / "summary.json").read_text())["benchmarks"]["hand"]


def test_vote_classes_group_by_equivalence_not_text(tmp_path):
    from entropykit.evalkit.majority import vote_classes

    def rec(pid, pred, correct=False, **kw):
        return {"benchmark": "b", "problem_id": pid, "pred": pred, "correct": correct, **kw}

    recs = [rec("a", "3"), rec("a", "3"), rec("a", "4"), rec("a", "0.5"), rec("a", r"\frac{1}{2}"), rec("a", "1/2"),
            rec("a", "7", True), rec("a", "x = 7", True), rec("a", None),
            rec("a", r"9^{9^{9^{9}}}", timed_out=True), rec("a", r"9^{9^{9^{9}}}", timed_out=True),
            rec("c", "12"), rec("c", "012"), rec("c", "13")]
    cache = tmp_path / "pairs.jsonl"
    v = vote_classes(recs, cache_path=cache, workers=0)
    # {0.5, 1/2, \frac12}: 3; {3, 3}: 2; the timed-out answer: its own class of 2, never compared; {4}: 1
    assert v[("b", "a")] == {"correct": 2, "wrong": [3, 2, 2, 1], "unanswered": 1}
    assert v[("b", "c")] == {"correct": 0, "wrong": [2, 1], "unanswered": 0}  # integers by value, no check
    checked = cache.read_text().count("\n")
    assert 0 < checked <= 3  # only 0.5 against \frac{1}{2} and 1/2 (and nothing for the integers)
    assert vote_classes(recs, cache_path=cache, workers=0) == v and cache.read_text().count("\n") == checked
    # records without pred (old run folders): no classes for that problem
    assert vote_classes([{"benchmark": "b", "problem_id": "z", "correct": False}])[("b", "z")] is None
