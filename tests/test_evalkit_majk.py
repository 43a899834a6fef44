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
