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
