"""Unbiased pass@k (shared core: `entropykit passk` reports it, the trainer's evaluation logs it).

pass@k for one problem with n samples of which c are correct is ``1 - C(n-c, k) / C(n, k)``
(Chen et al., 2021), the probability that a random k-subset of the n samples holds at least one
correct answer. It is computed in the stable product form
``1 - prod_{i=n-c+1..n} (1 - k/i)`` with the logarithms of the factors summed exactly
(`math.fsum`), so the result is within a few ulps of the exact value for any n, and exactly 1.0
when ``n - c < k`` (every k-subset holds a correct sample). A benchmark's pass@k is the mean
over its problems; k > n is an error, never silently dropped.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Sequence

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimate for n samples with c correct. Raises ValueError if k > n."""
    n, c, k = int(n), int(c), int(k)
    if n < 1:
        raise ValueError(f"pass@k needs at least one sample (n={n})")
    if not 0 <= c <= n:
        raise ValueError(f"number correct c={c} must be between 0 and n={n}")
    if not 1 <= k:
        raise ValueError(f"k={k} must be at least 1")
    if k > n:
        raise ValueError(f"k={k} is larger than the number of samples n={n}")
    if c == 0:
        return 0.0
    if n - c < k:
        return 1.0
    # log prod_{i=n-c+1..n} (i-k)/i ; each factor in (0, 1)
    terms = []
    for i in range(n - c + 1, n + 1):
        x = k / i
        # log1p is accurate for small x; for x close to 1 use exact integer logs
        terms.append(math.log1p(-x) if x < 0.5 else math.log(i - k) - math.log(i))
    log_p = math.fsum(terms)
    return -math.expm1(log_p)


def pass_at_k_table(counts: Sequence[tuple[int, int]], ks: Sequence[int]) -> np.ndarray:
    """Matrix [problems, ks] of per-problem pass@k for (n, c) counts. k > n raises ValueError."""
    out = np.empty((len(counts), len(ks)), dtype=np.float64)
    for i, (n, c) in enumerate(counts):
        for j, k in enumerate(ks):
            out[i, j] = pass_at_k(n, c, k)
    return out


def mean_pass_at_k(counts: Sequence[tuple[int, int]], ks: Sequence[int]) -> dict[int, float]:
    """Benchmark pass@k: ``mean over problems of pass_at_k(n_i, c_i, k)`` for each k.

    `counts` holds one (n, c) pair per problem. k > n raises ValueError (never dropped).
    """
    if not counts:
        return {int(k): float("nan") for k in ks}
    table = pass_at_k_table(counts, ks)
    return {int(k): float(m) for k, m in zip(ks, table.mean(axis=0))}


def mean_accuracy(counts: Sequence[tuple[int, int]]) -> float:
    """Mean accuracy over all samples, ``sum c_i / sum n_i`` (the paper's "Avg")."""
    total = sum(n for n, _ in counts)
    return float(sum(c for _, c in counts) / total) if total else float("nan")


# ---------------------------------------------------------------------------------------------
# maj@k: majority voting, estimated without bias from n samples

# float64 holds C(n, k) * s^k and every partial sum of the dynamic program below up to about
# n = 1000 samples; beyond that maj@k is computed with exact integers (slower, same result).
_FLOAT_MAX_N = 1000


def _log_comb(a: int, b: int) -> float:
    return math.lgamma(a + 1) - math.lgamma(b + 1) - math.lgamma(a - b + 1)


def _maj_sums(n: int, c: int, wrong: list[int], ks: list[int], exact: bool) -> list:
    """For each k: the sum over k-subsets of the vote being right (weight 1/(1+t) for a tie with t
    wrong classes), and C(n, k); both times s^k (float mode) or exact integers/fractions."""
    kmax = max(ks)
    if exact:
        zeros = lambda shape: np.full(shape, 0, dtype=object)  # noqa: E731 - Python ints: exact
        def binoms(w: int, upto: int):  # noqa: E306
            return [math.comb(w, x) for x in range(min(w, upto) + 1)]
        weight = lambda t: Fraction(1, t + 1)  # noqa: E731
    else:
        # z -> s*z: every term of the coefficient of z^k (k samples drawn), and C(n, k) itself, get
        # the same factor s^k, so ratios are unchanged; s = C(n, kmax)^(-1/kmax) keeps them in range
        log_s = -_log_comb(n, kmax) / kmax
        zeros = np.zeros
        lfact = np.array([math.lgamma(i + 1) for i in range(n + 1)])  # log i!
        def binoms(w: int, upto: int):  # noqa: E306
            x = np.arange(min(w, upto) + 1)
            return np.exp(lfact[w] - lfact[x] - lfact[w - x] + x * log_s)
        weight = lambda t: 1.0 / (t + 1)  # noqa: E731
    acc = [0] * len(ks)
    for m in range(1, min(c, kmax) + 1):  # m = votes for the right answer among the k drawn
        deg = kmax - m  # samples drawn from the other classes and the unanswered
        big = [w for w in wrong if w >= m]  # wrong classes that can reach m votes: tie or win
        rest = n - c - sum(big)  # unanswered samples and classes too small to reach m votes
        tmax = min(len(big), deg // m)  # wrong classes tied with the right one (m votes each)
        # dp[t, j]: over the ways to draw j samples from the big classes, none with more than m
        # votes and t with exactly m, the sum of prod_j C(w_j, x_j)
        if m == 1:  # each class has 0 or 1 vote, and 1 vote is a tie: dp[t, j] = 0 unless t = j
            e = zeros(tmax + 1)  # elementary symmetric polynomials of the class sizes (times s^t)
            e[0] = 1
            for w in big:
                e[1:] = e[1:] + binoms(w, 1)[1] * e[:-1]
            tied = zeros(deg + 1)
            tied[: tmax + 1] = [weight(t) * e[t] for t in range(tmax + 1)]
            big = []
        dp = zeros((tmax + 1, deg + 1))
        dp[0, 0] = 1
        for w in big:
            coef = binoms(w, min(m, deg))  # x = 0..m votes for this class
            new = zeros((tmax + 1, deg + 1))
            for x in range(min(m, len(coef))):  # fewer than m votes
                new[:, x:] += coef[x] * dp[:, : deg + 1 - x]
            if len(coef) > m and tmax >= 1:  # exactly m votes: one more tie
                new[1:, m:] += coef[m] * dp[:-1, : deg + 1 - m]
            dp = new
        if m > 1:  # a tie of 1+t classes is broken at random: the right one wins 1/(1+t) of them
            tied = sum(weight(t) * dp[t] for t in range(tmax + 1))
        rest_coef = binoms(rest, deg)
        head = binoms(c, m)[m]  # C(c, m): which m of the right samples
        for i, k in enumerate(ks):
            r = k - m  # drawn from the big classes (j) and from the rest (r - j)
            if r < 0:
                continue
            js = np.arange(max(0, r - rest), r + 1)
            if exact:
                acc[i] += head * sum(tied[j] * rest_coef[r - j] for j in js)
            else:
                acc[i] += head * float(np.dot(tied[js], rest_coef[r - js]))
    totals = [math.comb(n, k) if exact else math.exp(_log_comb(n, k) + k * log_s) for k in ks]
    return list(zip(acc, totals))


def maj_at_k_curve(n: int, correct: int, wrong: Sequence[int], ks: Sequence[int], *, exact: bool = False) -> list:
    """Unbiased maj@k of one problem for each k of `ks` (see `maj_at_k`), in one pass.

    Floats; with `exact`, `fractions.Fraction`s computed with integers only.
    """
    n, c = int(n), int(correct)
    wrong = [int(w) for w in wrong]
    ks = [int(k) for k in ks]
    if n < 1:
        raise ValueError(f"maj@k needs at least one sample (n={n})")
    if c < 0 or any(w < 0 for w in wrong) or c + sum(wrong) > n:
        raise ValueError(f"class sizes (correct {c}, wrong {wrong}) do not fit in n={n} samples")
    for k in ks:
        if k < 1:
            raise ValueError(f"k={k} must be at least 1")
        if k > n:
            raise ValueError(f"k={k} is larger than the number of samples n={n}")
    wrong = [w for w in wrong if w > 0]
    if c == 0 or not ks:
        return [Fraction(0) if exact else 0.0 for _ in ks]
    if not wrong and not exact:  # only the right answer gets votes: right unless none of the k answered
        return [pass_at_k(n, c, k) for k in ks]
    sums = _maj_sums(n, c, wrong, ks, exact or n > _FLOAT_MAX_N)
    if exact:
        return [Fraction(a) / t for a, t in sums]
    return [min(1.0, max(0.0, float(a / t))) for a, t in sums]


def maj_at_k(n: int, correct: int, wrong: Sequence[int], k: int) -> float:
    """Unbiased maj@k (the majority vote of k samples is right) of one problem from its n samples.

    The n samples fall into answer classes (answers grouped by mathematical equivalence): the
    class of the right answer with ``correct`` samples (c, 0 when no sample is right), wrong
    classes of sizes ``wrong`` (w_1..w_J), and ``u = n - c - sum(w)`` unanswered samples, which
    do not vote. maj@k is the mean, over all C(n, k) k-subsets of the n samples, of the vote
    being right: the right class has the most votes, and at least one (no answer among the k
    counts as wrong); a tie for the most votes between the right class and t wrong classes
    counts 1/(1+t), the chance that a tie broken uniformly at random picks the right answer.
    With x_0 = m votes for the right class and x_j for wrong class j:

        maj@k = 1/C(n,k) * sum_{m=1..min(c,k)} C(c, m)
                * sum_{x_1..x_J <= m, r = k - m - sum_j x_j >= 0} C(u, r) * prod_j C(w_j, x_j)
                  / (1 + #{j : x_j = m})

    computed exactly (no sampling) by a dynamic program over the wrong classes, with
    nonnegative terms only: float64 (relative error of a few ulps per term) up to n = 1000,
    integers beyond. k = 1 gives c/n, the fraction of samples that are right. Raises ValueError
    if k > n.
    """
    return maj_at_k_curve(n, correct, wrong, [k])[0]


def maj_at_k_table(rows: Sequence[tuple[int, int, Sequence[int]]], ks: Sequence[int]) -> np.ndarray:
    """Matrix [problems, ks] of per-problem maj@k for (n, correct, wrong class sizes) rows."""
    out = np.empty((len(rows), len(ks)), dtype=np.float64)
    for i, (n, c, wrong) in enumerate(rows):
        out[i] = maj_at_k_curve(n, c, wrong, ks)
    return out
