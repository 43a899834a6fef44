"""pass@k for `entropykit passk`: k lists, per-problem tallies, bootstrap confidence intervals,
crossover k.

The formulas and their benchmark means (`pass_at_k`, `pass_at_k_table`, `mean_pass_at_k`,
`mean_accuracy`, `maj_at_k`, `maj_at_k_table`) live in the core, `entropykit.pass_at_k`, because the trainer's periodic
evaluation uses them too; they are re-exported here as part of the eval engine's API.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np

from entropykit.pass_at_k import (  # noqa: F401
    maj_at_k, maj_at_k_table, mean_accuracy, mean_pass_at_k, pass_at_k, pass_at_k_table,
)


def default_ks(n: int) -> list[int]:
    """1, 2, 4, ... up to n, with n itself added when it is not a power of two."""
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    if ks[-1] != n:
        ks.append(n)
    return ks


def parse_ks(spec: str | Sequence[int] | None) -> list[int] | None:
    """'1,2,4,8' or '256' (meaning 1, 2, 4, ..., 256) or a list -> sorted unique ks."""
    if spec is None:
        return None
    if isinstance(spec, str):
        parts = [p.strip() for p in spec.split(",") if p.strip()]
        try:
            vals = [int(p) for p in parts]
        except ValueError:
            raise ValueError(f"--k must be integers separated by commas, got {spec!r}") from None
        if len(vals) == 1:
            vals = default_ks(vals[0]) if vals[0] >= 1 else vals
    else:
        vals = [int(v) for v in spec]
    if not vals or any(v < 1 for v in vals):
        raise ValueError(f"k values must be positive integers, got {spec!r}")
    return sorted(set(vals))


def bootstrap_ci(
    table: np.ndarray, *, num_resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap CI over problems of the column means of `table` [problems, ks].

    Returns (low[ks], high[ks]). Deterministic for a given seed.
    """
    m = table.shape[0]
    if m == 0:
        nan = np.full(table.shape[1], np.nan)
        return nan, nan
    rng = np.random.default_rng(seed)
    means = np.empty((num_resamples, table.shape[1]))
    step = max(1, 2_000_000 // max(1, m * table.shape[1]))
    for s in range(0, num_resamples, step):
        e = min(num_resamples, s + step)
        idx = rng.integers(0, m, size=(e - s, m))
        means[s:e] = table[idx].mean(axis=1)
    alpha = (1.0 - level) / 2
    lo = np.quantile(means, alpha, axis=0)
    hi = np.quantile(means, 1 - alpha, axis=0)
    return lo, hi


def crossover_k(ks: Sequence[int], a: Sequence[float], b: Sequence[float]) -> dict:
    """Where curve `a` and curve `b` (pass@k at the same ks) swap order.

    Returns {"leader_at_min_k": "a"|"b"|"tie", "first_k": k or None, "k_interp": float or None,
    "leader_at_max_k": ...}: `first_k` is the first k of the list at which the curve behind at
    the smallest k is ahead (strictly), and `k_interp` the crossing point interpolated linearly
    on the log2 k axis between the two ks around it.
    """
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)

    def lead(x: float) -> str:
        return "a" if x > 1e-12 else ("b" if x < -1e-12 else "tie")

    res = {"leader_at_min_k": lead(d[0]), "leader_at_max_k": lead(d[-1]), "first_k": None, "k_interp": None}
    start = next((i for i, x in enumerate(d) if abs(x) > 1e-12), None)
    if start is None:
        return res
    sign = np.sign(d[start])
    for i in range(start + 1, len(d)):
        if np.sign(d[i]) == -sign and abs(d[i]) > 1e-12:
            res["first_k"] = int(ks[i])
            # interpolate on log2 k between the last point on the old side and this one
            j = i - 1
            while j > start and abs(d[j]) <= 1e-12:
                j -= 1
            x0, x1 = math.log2(ks[j]), math.log2(ks[i])
            t = d[j] / (d[j] - d[i])
            res["k_interp"] = float(2 ** (x0 + t * (x1 - x0)))
            break
    return res


def problem_tallies(records: Iterable[dict]) -> dict[str, dict[str, dict]]:
    """Per-problem tallies of graded samples: ``{benchmark: {problem_id: {"n", "c", "timeouts"}}}``.

    `records` need ``benchmark``, ``problem_id`` and ``correct`` (``timed_out`` optional).
    Benchmarks and problems keep their order of first appearance. The unit of every statistic
    is the problem: pass@k and its CI come from these (n, c) pairs, never from pooled samples.
    """
    out: dict[str, dict[str, dict]] = {}
    for r in records:
        t = out.setdefault(str(r["benchmark"]), {}).setdefault(str(r["problem_id"]), {"n": 0, "c": 0, "timeouts": 0})
        t["n"] += 1
        t["c"] += bool(r.get("correct"))
        t["timeouts"] += bool(r.get("timed_out"))
    return out


def paired_difference(a: Sequence[float], b: Sequence[float], *, num_resamples: int = 2000, level: float = 0.95,
                      seed: int = 0) -> dict:
    """B - A for per-problem values of two runs on the same problems (row i of both is problem i).

    The problem is the unit: ``d_i = b_i - a_i``; the estimate is ``mean(d)``, its CI the
    percentile bootstrap over problems (resampling the d_i), and ``p_value`` the two-sided
    Wilcoxon signed-rank test of the d_i (None when every d_i is 0: nothing to test).
    ``significant``: the CI excludes 0. Deterministic for a given seed.
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values need the same problems: {a.shape} vs {b.shape}")
    d = b - a
    out = {"problems": int(d.size), "diff": float(d.mean()) if d.size else float("nan"), "ci95": None, "p_value": None,
           "significant": False, "unit": "problem"}
    if d.size >= 2:
        lo, hi = bootstrap_ci(d[:, None], num_resamples=num_resamples, level=level, seed=seed)
        out["ci95"] = [float(lo[0]), float(hi[0])]
        out["significant"] = bool(lo[0] > 0 or hi[0] < 0)
    if np.any(d != 0):
        out["p_value"] = float(stats.wilcoxon(d).pvalue)
    return out
