"""Statistics for "group vs other" entropy comparisons (paper Figure 2, right).

Every comparison in the report (pivotal words vs other tokens, reflective vs other sentences,
rare vs other sentences) goes through `compare_groups`, so the numbers mean the same thing
everywhere.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np

# Above this many values, a group's bootstrap distribution of the mean is drawn from its normal
# limit N(mean, var/n) instead of resampling (exact resampling of 2M tokens x 2000 draws would
# take minutes; at n >= 50k the two agree to well under 1% of the CI width).
BOOTSTRAP_EXACT_MAX_N = 50_000


@dataclass
class Comparison:
    """Group (e.g. pivotal words) vs other, all entropies in nats.

    - ``diff = mean_entropy - other_mean_entropy``
    - ``p_value``: Welch's unequal-variance t-test, two-sided (scipy.stats.ttest_ind, equal_var=False)
    - ``p_value_mannwhitney``: Mann-Whitney U, two-sided (scipy.stats.mannwhitneyu)
    - ``effect_size``: Cohen's d with the pooled standard deviation,
      ``d = diff / sqrt(((n1-1) s1^2 + (n2-1) s2^2) / (n1+n2-2))``
    - ``ci95``: percentile bootstrap 95% CI of ``diff`` (groups resampled independently, fixed seed)
    - ``mean_ci95`` / ``other_mean_ci95``: the same bootstrap's CI for each group's mean.
    Undefined quantities (a group with < 2 values, zero variance) are None.
    """

    count: int
    other_count: int
    mean_entropy: float | None
    other_mean_entropy: float | None
    diff: float | None
    p_value: float | None
    p_value_mannwhitney: float | None
    effect_size: float | None
    effect_size_kind: str
    ci95: list[float] | None
    mean_ci95: list[float] | None
    other_mean_ci95: list[float] | None
    n_boot: int

    def to_dict(self) -> dict:
        return asdict(self)


def _finite(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def cohens_d(a: np.ndarray, b: np.ndarray) -> float | None:
    """Cohen's d with pooled SD: ``(mean(a) - mean(b)) / sqrt(((na-1)va + (nb-1)vb) / (na+nb-2))``.

    ``va``, ``vb`` are unbiased variances (ddof=1). None when either group has < 2 values or the
    pooled SD is 0.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na, nb = a.size, b.size
    if na < 2 or nb < 2:
        return None
    pooled = ((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2)
    if pooled <= 0:
        return None
    return float((a.mean() - b.mean()) / math.sqrt(pooled))


def bootstrap_means(x: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` bootstrap replicates of ``mean(x)`` (resampling with replacement).

    Exact resampling in memory-bounded chunks up to BOOTSTRAP_EXACT_MAX_N values; above that the
    replicates are drawn from the CLT limit ``N(mean(x), var(x, ddof=0) / n)``.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    if n == 0:
        return np.full(n_boot, np.nan)
    if n > BOOTSTRAP_EXACT_MAX_N:
        return rng.normal(x.mean(), math.sqrt(x.var() / n), size=n_boot)
    out = np.empty(n_boot)
    rows = max(1, 4_000_000 // n)
    for i in range(0, n_boot, rows):
        m = min(rows, n_boot - i)
        out[i : i + m] = x[rng.integers(0, n, size=(m, n))].mean(axis=1)
    return out


def compare_groups(group, other, *, n_boot: int = 2000, seed: int = 0, mannwhitney: bool = True) -> Comparison:
    """Compare the entropies of ``group`` with ``other`` (see `Comparison` for the formulas).

    ``n_boot=0`` skips the bootstrap (CIs None); ``mannwhitney=False`` skips the rank test
    (it sorts both groups; the per-word table of a 2M-token run turns it off).
    """
    from scipy import stats

    a = np.asarray(group, dtype=np.float64).ravel()
    b = np.asarray(other, dtype=np.float64).ravel()
    a = a[np.isfinite(a)]
    b = b[np.isfinite(b)]
    na, nb = int(a.size), int(b.size)
    ma = float(a.mean()) if na else None
    mb = float(b.mean()) if nb else None
    diff = ma - mb if na and nb else None
    p_t = p_u = None
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # scipy's precision-loss warnings on near-constant data
        if na >= 2 and nb >= 2 and (a.var() > 0 or b.var() > 0):  # undefined when both are constant
            p_t = _finite(stats.ttest_ind(a, b, equal_var=False).pvalue)
        if mannwhitney and na >= 1 and nb >= 1:
            try:
                p_u = _finite(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
            except ValueError:
                p_u = None
    ci = mci = oci = None
    if na and nb and n_boot > 0:
        rng = np.random.default_rng(seed)
        ba = bootstrap_means(a, n_boot, rng)
        bb = bootstrap_means(b, n_boot, rng)
        ci = [float(v) for v in np.percentile(ba - bb, [2.5, 97.5])]
        mci = [float(v) for v in np.percentile(ba, [2.5, 97.5])]
        oci = [float(v) for v in np.percentile(bb, [2.5, 97.5])]
    p_t = None if p_t is None else min(1.0, max(0.0, p_t))
    p_u = None if p_u is None else min(1.0, max(0.0, p_u))
    return Comparison(
        count=na,
        other_count=nb,
        mean_entropy=ma,
        other_mean_entropy=mb,
        diff=diff,
        p_value=p_t,
        p_value_mannwhitney=p_u,
        effect_size=cohens_d(a, b),
        effect_size_kind="cohens_d_pooled",
        ci95=ci,
        mean_ci95=mci,
        other_mean_ci95=oci,
        n_boot=int(n_boot),
    )


def describe(values, quantiles=(0.1, 0.25, 0.5, 0.75, 0.9, 0.99)) -> dict:
    """Mean, std (ddof=0), min, max and quantiles (linear interpolation) of ``values``."""
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"count": 0, "mean": None, "std": None, "min": None, "max": None, "quantiles": {}}
    qs = np.quantile(x, quantiles)
    return {
        "count": int(x.size),
        "mean": float(x.mean()),
        "std": float(x.std()),
        "min": float(x.min()),
        "max": float(x.max()),
        "quantiles": {f"{q:g}": float(v) for q, v in zip(quantiles, qs)},
    }
