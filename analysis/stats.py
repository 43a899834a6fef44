"""Statistics for "group vs other" entropy comparisons (paper Figure 2, right).

Two views of every comparison (pivotal vs control words, reflective vs other sentences, rare
vs other sentences):

- **Per response (the headline, for inference).** Tokens and sentences of one response are
  not independent (a response has its own entropy level; neighbouring tokens are correlated),
  so the unit is the response: ``d_r = mean(group in r) - mean(other in r)`` for every response
  r that has both; a Wilcoxon signed-rank test and a paired t-test on the d_r; a cluster
  bootstrap CI that resamples prompts, then responses within them (`per_response_comparison`).
  When several responses answer one prompt (passk samples), their d_r are correlated: the tests
  then run on the per-prompt means of d_r, the independent unit (a response-level Wilcoxon
  rejected a true null in 12% of simulated datasets with 4 responses per prompt).
- **Pooled (descriptive).** All group values against all other values as if independent
  (`compare_groups`): means, Welch / Mann-Whitney, Cohen's d, bootstrap CI. Kept because it
  describes the data, but its p-values overstate the evidence (pseudo-replication).

Families of tests (per category, per word) are corrected with Holm's method (`holm`).
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
    Undefined quantities (a group with < 2 values, zero variance) are None; a group with fewer
    than ``min_count`` values gets no p-value and no CI (``note`` says why).
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
    unit: str = "pooled"
    note: str | None = None

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


def compare_groups(
    group, other, *, n_boot: int = 2000, seed: int = 0, mannwhitney: bool = True, min_count: int = 1, unit: str = "pooled"
) -> Comparison:
    """Compare the entropies of ``group`` with ``other`` (see `Comparison` for the formulas),
    pooling all values as if independent (descriptive; see the module docstring).

    ``n_boot=0`` skips the bootstrap (CIs None); ``mannwhitney=False`` skips the rank test
    (it sorts both groups; the per-word table of a 2M-token run turns it off). Groups with
    fewer than ``min_count`` values get no p-values and no CIs.
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
    testable = min(na, nb) >= min_count
    note = None if testable else f"n = {min(na, nb)} < {min_count}: no p-value or CI"
    if not testable:
        n_boot, mannwhitney = 0, False
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # scipy's precision-loss warnings on near-constant data
        if testable and na >= 2 and nb >= 2 and (a.var() > 0 or b.var() > 0):  # undefined when both are constant
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
        unit=unit,
        note=note,
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


# ---- per-response inference (the headline) ----------------------------------------------------

MIN_RESPONSES = 10  # fewer responses with both groups: no p-value, a visible note instead


def per_response_means(values, response, num_responses: int) -> np.ndarray:
    """Mean of ``values`` within each response: ``m_r = sum_{i: response_i = r} v_i / n_r``.

    ``response`` holds each value's response index in ``[0, num_responses)``; NaN where
    ``n_r = 0``. Shapes: values [N], response [N] -> [num_responses].
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    r = np.asarray(response, dtype=np.int64).ravel()
    ok = np.isfinite(v)
    sums = np.bincount(r[ok], weights=v[ok], minlength=num_responses)
    cnts = np.bincount(r[ok], minlength=num_responses)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnts > 0, sums / np.maximum(cnts, 1), np.nan)


def paired_differences(group_values, group_response, other_values, other_response, num_responses: int):
    """``d_r = mean(group in r) - mean(other in r)`` for every response r that has both.

    Returns ``(d, responses, group_means, other_means)``: arrays over the contributing
    responses (``responses`` are their indices, ascending).
    """
    g = per_response_means(group_values, group_response, num_responses)
    o = per_response_means(other_values, other_response, num_responses)
    both = np.nonzero(np.isfinite(g) & np.isfinite(o))[0]
    return g[both] - o[both], both, g[both], o[both]


def hierarchical_bootstrap_means(x, clusters, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` replicates of ``mean(x)`` under a two-stage cluster bootstrap.

    Stage 1 draws C clusters (prompts) with replacement from the C observed; stage 2 draws,
    inside each drawn cluster c, ``n_c`` of its units (responses) with replacement; a replicate
    is the mean over all drawn units. With one unit per cluster this is the ordinary bootstrap.
    Replicates are then widened about ``mean(x)`` by ``sqrt(C / (C - 1))``, the factor that
    makes the bootstrap variance of a mean of C i.i.d. values equal ``s^2 / C`` (the plain
    bootstrap gives ``s^2 (C-1) / C^2`` and under-covers for small C).
    Memory: chunks of replicates with at most ~4M drawn units each.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    _, cl = np.unique(np.asarray(clusters), return_inverse=True)
    order = np.argsort(cl, kind="stable")
    xs = x[order]
    sizes = np.bincount(cl)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    C = sizes.size
    out = np.empty(n_boot)
    per_rep = max(1, 4_000_000 // max(1, x.size))
    for b0 in range(0, n_boot, per_rep):
        B = min(per_rep, n_boot - b0)
        pick = rng.integers(0, C, size=(B, C)).ravel()
        sz = sizes[pick]
        units = np.repeat(sz, sz)  # each drawn unit knows its cluster's size ...
        first = np.repeat(starts[pick], sz)  # ... and where the cluster starts
        idx = first + (rng.random(units.size) * units).astype(np.int64)
        rep = np.repeat(np.arange(B), sz.reshape(B, C).sum(axis=1))
        tot = np.bincount(rep, minlength=B)
        out[b0 : b0 + B] = np.bincount(rep, weights=xs[idx], minlength=B) / tot
    if C > 1:
        m = x.mean()
        out = m + (out - m) * math.sqrt(C / (C - 1))
    return out


@dataclass
class PerResponse:
    """Group vs other with the response as the unit (see the module docstring).

    - ``responses``: responses with both a group and an other value; ``prompts``: their prompts
    - ``mean_diff = mean_r d_r``; ``mean_group`` / ``mean_other``: means over those responses
      of the per-response group / other means
    - ``unit``: "response", or "prompt" when some prompt has several responses
    - ``p_value``: two-sided Wilcoxon signed-rank test (scipy.stats.wilcoxon, zeros dropped) of
      the d_r, or of the per-prompt means of d_r when ``unit == "prompt"`` (responses of one
      prompt are not independent); ``p_value_t``: the paired t-test (one-sample t against 0) of
      the same values
    - ``p_value_responses``: the Wilcoxon test of the d_r themselves (equal to ``p_value`` when
      every prompt has one response; descriptive only otherwise)
    - ``ci95``: percentile 95% CI of the mean difference, two-stage cluster bootstrap (prompts,
      then responses; `hierarchical_bootstrap_means`)
    Fewer than ``min_responses`` responses: no p-values and no CI (``note`` says why).
    """

    responses: int
    prompts: int
    mean_diff: float | None
    ci95: list[float] | None
    p_value: float | None
    p_value_t: float | None
    p_value_responses: float | None
    mean_group: float | None
    mean_other: float | None
    positive_fraction: float | None  # share of responses with d_r > 0
    min_responses: int
    n_boot: int
    unit: str = "response"
    note: str | None = None
    test: str = "Wilcoxon signed-rank over per-response differences; CI: cluster bootstrap (prompts, then responses)"

    def to_dict(self) -> dict:
        return asdict(self)


def _wilcoxon(d: np.ndarray) -> float | None:
    from scipy import stats

    if d.size == 0 or not np.any(d != 0):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _finite(stats.wilcoxon(d).pvalue)
        except ValueError:
            return None


def _paired_t(d: np.ndarray) -> float | None:
    from scipy import stats

    if d.size < 2 or d.var() == 0:
        return None
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return _finite(stats.ttest_1samp(d, 0.0).pvalue)


def per_response_comparison(
    diffs, prompts=None, *, group_means=None, other_means=None, n_boot: int = 2000, seed: int = 0,
    min_responses: int = MIN_RESPONSES,
) -> PerResponse:
    """Inference on per-response differences ``diffs`` (one per response; see `PerResponse`).

    ``prompts``: each response's prompt (any hashable; None: every response its own prompt).
    """
    d = np.asarray(diffs, dtype=np.float64).ravel()
    prompts = np.arange(d.size) if prompts is None else np.asarray(prompts)
    ok = np.isfinite(d)
    d, prompts = d[ok], prompts[ok]
    n = int(d.size)
    _, pid = np.unique(prompts, return_inverse=True) if n else (None, np.zeros(0, np.int64))
    n_prompts = int(pid.max() + 1) if n else 0
    gm = None if group_means is None or n == 0 else float(np.mean(np.asarray(group_means, dtype=np.float64)[ok]))
    om = None if other_means is None or n == 0 else float(np.mean(np.asarray(other_means, dtype=np.float64)[ok]))
    res = PerResponse(
        responses=n, prompts=n_prompts, mean_diff=float(d.mean()) if n else None, ci95=None, p_value=None,
        p_value_t=None, p_value_responses=None, mean_group=gm, mean_other=om,
        positive_fraction=float((d > 0).mean()) if n else None, min_responses=int(min_responses), n_boot=int(n_boot),
    )
    units = d
    if n_prompts < n:  # several responses per prompt: test the per-prompt means (independent)
        units = np.bincount(pid, weights=d) / np.bincount(pid)
        res.unit = "prompt"
        res.test = ("Wilcoxon signed-rank over per-prompt means of the per-response differences; "
                    "CI: cluster bootstrap (prompts, then responses)")
    if n < min_responses or units.size < min_responses:
        res.note = (f"only {n} response(s) contain both groups (< {min_responses}): no p-value or CI" if n < min_responses
                    else f"only {units.size} prompts (< {min_responses}): no p-value or CI") if n else "no response contains both groups"
        res.n_boot = 0
        return res
    res.p_value = _wilcoxon(units)
    res.p_value_t = _paired_t(units)
    res.p_value_responses = _wilcoxon(d)
    if n_boot > 0:
        reps = hierarchical_bootstrap_means(d, pid, n_boot, np.random.default_rng(seed))
        res.ci95 = [float(v) for v in np.percentile(reps, [2.5, 97.5])]
    return res


def holm(p_values) -> list[float | None]:
    """Holm-adjusted p-values (family-wise error control; statsmodels ``multipletests``), None
    entries kept as None and left out of the family."""
    from statsmodels.stats.multitest import multipletests

    idx = [i for i, p in enumerate(p_values) if p is not None]
    out: list[float | None] = [None] * len(p_values)
    if idx:
        adj = multipletests([float(p_values[i]) for i in idx], method="holm")[1]
        for i, a in zip(idx, adj):
            out[i] = float(min(1.0, a))
    return out


def mixed_model(values, is_group, prompt, response) -> dict | None:
    """``H ~ group + (1 | prompt) + (1 | prompt:response)``, REML (statsmodels MixedLM).

    One row per value (a word's or sentence's entropy); returns the group coefficient (the
    group-minus-other difference with response and prompt levels removed), its standard error,
    Wald p-value and 95% CI. When every prompt has one response the two random effects are one:
    ``(1 | response)``. None when the model cannot be fitted.
    """
    import pandas as pd
    import statsmodels.formula.api as smf

    df = pd.DataFrame({"y": np.asarray(values, dtype=np.float64), "g": np.asarray(is_group, dtype=np.float64),
                       "prompt": np.asarray(prompt).astype(str), "response": np.asarray(response).astype(str)})
    df = df[np.isfinite(df["y"])]
    if df["g"].nunique() < 2 or df["response"].nunique() < 2:
        return None
    nested = df.groupby("prompt")["response"].nunique().max() > 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if nested:
                model = smf.mixedlm("y ~ g", df, groups="prompt", re_formula="1", vc_formula={"response": "0 + C(response)"})
            else:
                model = smf.mixedlm("y ~ g", df, groups="response")
            fit = model.fit(reml=True)
        except Exception:  # singular fits, convergence failures: report nothing rather than noise
            return None
    ci = fit.conf_int().loc["g"].tolist()
    return {
        "coef": _finite(fit.params["g"]), "se": _finite(fit.bse["g"]), "p_value": _finite(fit.pvalues["g"]),
        "ci95": [_finite(ci[0]), _finite(ci[1])], "rows": int(len(df)), "converged": bool(fit.converged),
        "formula": "H ~ group + (1 | prompt) + (1 | prompt:response)" if nested else "H ~ group + (1 | response)",
    }
