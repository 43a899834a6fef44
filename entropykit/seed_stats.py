"""Statistics of method comparisons across training seeds and problems (shared core).

A method (an RL variant) is trained with S seeds; every trained model is evaluated on the same P
problems with the same sample seeds, n samples per problem. Its scores form a matrix
``y[s, p]``: the fraction of the n samples of problem p that model s got right (or a per-problem
pass@k estimate). Two methods A and B are compared **paired by problem** (column p of both is
problem p) and **unpaired by seed** (independent training runs). The base model is not trained:
it is a method with one "seed" (S = 1) and no seed effect.

Model behind every function here (random effects, all independent, means zero)::

    y[m, s, p] = mu_m + alpha[m, s] + beta[p] + gamma[m, p] + delta[m, s, p] + eps[m, s, p]

    alpha   seed effect of method m            var sigma2_seed   (0 for the base)
    beta    problem difficulty, shared          var sigma2_problem (cancels in a paired difference)
    gamma   method x problem interaction        only gamma[B,p] - gamma[A,p] matters: var sigma2_int
    delta   seed x problem interaction          var sigma2_seed_problem (0 for the base)
    eps     sampling: the mean of n Bernoulli draws with success probability pi[m, s, p]:
            var pi (1 - pi) / n; ``bernoulli`` = the mean over cells of pi (1 - pi)

The difference of means ``D = mean(y_B) - mean(y_A)`` over S_A, S_B seeds and P problems then has

    Var(D) = sA2/S_A + sB2/S_B + sigma2_int/P + eA2/(S_A P) + eB2/(S_B P),
    e2 = sigma2_seed_problem + bernoulli / n       (the residual variance of one cell)

The target is the population difference: new seeds and new problems from the same distributions.
Functions: the two-level bootstrap CI of D (`two_level_bootstrap_diff`) and its analytic
companion (`t_interval_diff`: calibrated with few seeds), the probability of improvement
(`probability_of_improvement`), variance components from a finished experiment
(`variance_components`, `pair_components`), and power (`difference_se`,
`minimum_detectable_difference`, `required_size`, `compute_tradeoff`: a design's seeds are one
count per method, or (S_A, S_B) where the methods have different counts). Pure numpy/scipy;
this module imports nothing from the tools.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Literal

import numpy as np

RngLike = np.random.Generator | int | None
_CHUNK = 2000  # bootstrap resamples per vectorized block


# ---------------------------------------------------------------------------------------------
# helpers


def _matrix(x, name: str) -> np.ndarray:
    """Scores as float64 [seeds, problems]; a 1-D array is one seed (the base model)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"{name} must be a [seeds, problems] matrix with at least one of each, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} has non-finite scores")
    return a


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = _matrix(a, "a"), _matrix(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"paired comparison needs the same problems: a has {a.shape[1]}, b has {b.shape[1]}")
    return a, b


def _counts(rng: np.random.Generator, size: int, n_resamples: int) -> np.ndarray:
    """[R, size] multinomial counts: how often each of `size` units is drawn in a resample of size `size`."""
    return rng.multinomial(size, np.full(size, 1.0 / size), size=n_resamples)


def _percentile_ci(draws: np.ndarray, level: float) -> tuple[float, float]:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    lo, hi = np.quantile(draws, [(1.0 - level) / 2.0, 1.0 - (1.0 - level) / 2.0])
    return float(lo), float(hi)


@dataclass(frozen=True)
class BootstrapCI:
    """A statistic of B vs A with its percentile two-level bootstrap CI.

    `estimate` is the statistic on the data; (`low`, `high`) the CI at `level`; `seeds_a`,
    `seeds_b`, `problems` the counts it rests on (a base model counts as one seed).
    """

    estimate: float
    low: float
    high: float
    level: float
    seeds_a: int
    seeds_b: int
    problems: int
    n_resamples: int

    def excludes(self, value: float) -> bool:
        """Whether `value` lies outside the CI (0 for a difference, 0.5 for P(improvement))."""
        return bool(self.low > value or self.high < value)

    def as_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# 1. two-level bootstrap of the difference of means


def two_level_bootstrap_draws(a, b, n_resamples: int = 2000, rng: RngLike = 0) -> np.ndarray:
    """Bootstrap distribution [n_resamples] of ``mean(b) - mean(a)`` under two-level resampling.

    Each resample draws, independently: S_A seed rows of `a` with replacement (counts w_A), S_B
    seed rows of `b` with replacement (counts w_B) -- each method its own seeds (stratified by
    method) -- and ONE set of P problem columns with replacement (counts v), shared by both
    methods so that the pairing by problem is kept. The resampled difference is

        D* = w_B' b v / (S_B P) - w_A' a v / (S_A P).

    Whole seed rows are resampled (the seed is the unit of training), unlike rliable's
    per-task run resampling, which would average a seed's effect away across problems. A side
    with one seed (the base model) is fixed: its row is drawn every time.
    """
    a, b = _pair(a, b)
    rng = np.random.default_rng(rng)
    (sa, p), sb = a.shape, b.shape[0]
    out = np.empty(int(n_resamples))
    for start in range(0, out.size, _CHUNK):
        r = min(_CHUNK, out.size - start)
        wa, wb, v = _counts(rng, sa, r), _counts(rng, sb, r), _counts(rng, p, r)
        mb = np.einsum("rs,sp,rp->r", wb, b, v) / (sb * p)
        ma = np.einsum("rs,sp,rp->r", wa, a, v) / (sa * p)
        out[start : start + r] = mb - ma
    return out


def two_level_bootstrap_diff(a, b, n_resamples: int = 2000, level: float = 0.95, rng: RngLike = 0) -> BootstrapCI:
    """B - A: ``mean(b) - mean(a)`` (means over all seeds and problems) with a percentile CI from
    `two_level_bootstrap_draws` (seeds resampled per method, problems resampled jointly).

    a: [S_A, P], b: [S_B, P], row s = training seed s, column p = problem p in both. A 1-D `a`
    is the base model (S_A = 1; see `bootstrap_diff_vs_base`). Deterministic for an int `rng`.
    Coverage (tests/test_seed_stats.py, 300 simulated experiments each): 0.97 under a null with
    a seed effect and 0.96 with a planted difference (3 seeds, 64 problems, 4 samples), where a
    problems-only bootstrap covers 0.80; but with 3 seeds and a dominant seed effect only 0.81:
    the seed level has the (S-1)/S bias of every bootstrap and normal tails, while the residual
    is counted at both levels (conservative when seeds matter little). Report
    `t_interval_diff` beside it when seeds are few (0.96 in that case).
    """
    a, b = _pair(a, b)
    draws = two_level_bootstrap_draws(a, b, n_resamples, rng)
    lo, hi = _percentile_ci(draws, level)
    return BootstrapCI(float(b.mean() - a.mean()), lo, hi, float(level), a.shape[0], b.shape[0], a.shape[1],
                       int(n_resamples))


def bootstrap_diff_vs_base(base, b, n_resamples: int = 2000, level: float = 0.95, rng: RngLike = 0) -> BootstrapCI:
    """Method B (seeds x problems) minus the base model (one row of P per-problem scores): the base
    is not trained, so only B's seeds and the shared problems are resampled."""
    base = np.asarray(base, dtype=np.float64)
    if base.ndim == 2 and base.shape[0] != 1:
        raise ValueError(f"the base model has one row of scores, got shape {base.shape}")
    return two_level_bootstrap_diff(base.reshape(1, -1), b, n_resamples, level, rng)


# ---------------------------------------------------------------------------------------------
# 2. probability of improvement


def _win_tensor(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """K[i, j, p] = 1{b[j,p] > a[i,p]} + 0.5 * 1{b[j,p] == a[i,p]}."""
    x, y = a[:, None, :], b[None, :, :]
    return (y > x).astype(np.float64) + 0.5 * (y == x)


def probability_of_improvement(a, b, n_resamples: int = 2000, level: float = 0.95, rng: RngLike = 0) -> BootstrapCI:
    """P(B beats A on a random problem and a random pair of seeds), ties counting half:

        PoI = 1/(S_A S_B P) * sum_{i, j, p} [ 1{b[j,p] > a[i,p]} + 0.5 * 1{b[j,p] == a[i,p]} ]

    (rliable's probability of improvement, a per-problem Mann-Whitney U / (S_A S_B) averaged over
    problems). PoI(a, b) + PoI(b, a) = 1; 0.5 means neither method is ahead. The CI resamples as
    `two_level_bootstrap_draws` does: seed rows per method, one shared set of problems.
    """
    a, b = _pair(a, b)
    k = _win_tensor(a, b)
    rng = np.random.default_rng(rng)
    (sa, p), sb = a.shape, b.shape[0]
    draws = np.empty(int(n_resamples))
    for start in range(0, draws.size, _CHUNK):
        r = min(_CHUNK, draws.size - start)
        wa, wb, v = _counts(rng, sa, r), _counts(rng, sb, r), _counts(rng, p, r)
        per_pair = np.einsum("ijp,rp->rij", k, v)  # [R, S_A, S_B]
        draws[start : start + r] = np.einsum("rij,ri,rj->r", per_pair, wa, wb) / (sa * sb * p)
    lo, hi = _percentile_ci(draws, level)
    return BootstrapCI(float(k.mean()), lo, hi, float(level), sa, sb, p, int(n_resamples))


# ---------------------------------------------------------------------------------------------
# 3. variance components


@dataclass(frozen=True)
class VarianceComponents:
    """Variance components of one method's [S, P] accuracy matrix (fractions, not points).

    seed: sigma2_seed; problem: sigma2_problem (+ this method's problem interaction: not separable
    within one method); seed_problem: sigma2_seed_problem; bernoulli: mean over cells of
    pi (1 - pi) (a cell's sampling variance is bernoulli / n); residual: the estimated variance of
    one cell around its row and column effects (seed_problem + bernoulli / n, before clipping).
    `trained` is False for the base model (seed and seed_problem are 0 by definition).
    `clipped` names the components whose moment estimate was negative and was set to 0.
    A trained method with one seed has seed = seed_problem = nan (not identifiable).
    """

    seed: float
    problem: float
    seed_problem: float
    bernoulli: float
    residual: float
    seeds: int
    problems: int
    samples: int
    trained: bool = True
    clipped: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        d = asdict(self)
        d["clipped"] = list(self.clipped)
        return d


def bernoulli_variance(y, samples: int) -> float:
    """Unbiased estimate of the mean over cells of pi (1 - pi), from per-cell accuracies y = c/n:
    ``mean(n/(n-1) * y (1 - y))`` (E[y (1 - y)] = pi (1 - pi) (n-1)/n). The sampling variance of a
    cell's accuracy is then this / n, estimated without bias by ``mean(y (1 - y) / (n - 1))``.
    Needs n >= 2 (with one sample the sampling variance cannot be told from the rest)."""
    n = int(samples)
    if n < 2:
        raise ValueError(f"the sampling variance needs at least 2 samples per problem, got n={n}")
    y = np.asarray(y, dtype=np.float64)
    return float(np.mean(y * (1.0 - y)) * n / (n - 1))


def variance_components(acc, samples: int, *, trained: bool = True) -> VarianceComponents:
    """Method-of-moments (two-way ANOVA, one observation per cell) components of one method's
    accuracy matrix ``acc[s, p]`` (fraction of the `samples` samples of problem p right for seed s).

    With row means r_s, column means c_p and grand mean g of an S x P matrix:

        MS_seed = P * sum_s (r_s - g)^2 / (S - 1)            E = P sigma2_seed + e2
        MS_prob = S * sum_p (c_p - g)^2 / (P - 1)            E = S sigma2_problem + e2
        MS_res  = sum (y - r_s - c_p + g)^2 / ((S-1)(P-1))   E = e2 = sigma2_seed_problem + bernoulli/n
        bernoulli = mean(n/(n-1) * y (1 - y))                (`bernoulli_variance`)

        sigma2_seed = (MS_seed - MS_res) / P,  sigma2_problem = (MS_prob - MS_res) / S,
        sigma2_seed_problem = MS_res - bernoulli / n

    (E[MS_res] is the mean cell variance even when cells differ, as binomial cells do.) A
    negative estimate is set to 0 and named in `clipped`. With S = 1 (the base model, or a method
    trained once) there is no residual: e2 is taken as bernoulli / n, sigma2_problem =
    var(c_p) - bernoulli / n; for the base (``trained=False``) seed and seed_problem are 0, for a
    trained method with one seed they are nan. Accuracy only: pass@k for k > 1 has no binomial
    sampling variance.
    """
    y = _matrix(acc, "acc")
    s, p = y.shape
    n = int(samples)
    if p < 2:
        raise ValueError("variance components need at least 2 problems")
    if not trained and s != 1:
        raise ValueError(f"the base model (trained=False) has one row of scores, got {s}")
    bern = bernoulli_variance(y, n)
    clipped: list[str] = []

    def clip(name: str, value: float) -> float:
        if value < 0:
            clipped.append(name)
            return 0.0
        return float(value)

    g = y.mean()
    r, c = y.mean(axis=1), y.mean(axis=0)
    if s >= 2:
        ms_seed = p * float(np.sum((r - g) ** 2)) / (s - 1)
        ms_prob = s * float(np.sum((c - g) ** 2)) / (p - 1)
        ms_res = float(np.sum((y - r[:, None] - c[None, :] + g) ** 2)) / ((s - 1) * (p - 1))
        seed = clip("seed", (ms_seed - ms_res) / p)
        prob = clip("problem", (ms_prob - ms_res) / s)
        sp = clip("seed_problem", ms_res - bern / n)
        return VarianceComponents(seed, prob, sp, bern, ms_res, s, p, n, True, tuple(clipped))
    e2 = bern / n
    prob = clip("problem", float(np.var(c, ddof=1)) - e2)
    nan = float("nan")
    return VarianceComponents(0.0 if not trained else nan, prob, 0.0 if not trained else nan, bern, e2, 1, p, n,
                              bool(trained), tuple(clipped))


@dataclass(frozen=True)
class PairComponents:
    """What the variance of ``mean(B) - mean(A)`` is made of: each side's components and
    `interaction` = sigma2_int = Var(gamma[B,p] - gamma[A,p]), the spread over problems of the
    true per-problem difference (problem difficulty itself cancels in the paired difference).
    `interaction_clipped`: its moment estimate was negative and set to 0. `assumptions` lists
    what had to be assumed rather than measured."""

    a: VarianceComponents
    b: VarianceComponents
    interaction: float
    interaction_clipped: bool = False
    assumptions: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"a": self.a.as_dict(), "b": self.b.as_dict(), "interaction": self.interaction,
                "interaction_clipped": self.interaction_clipped, "assumptions": list(self.assumptions)}


def pair_components(a, b, samples: int, *, a_is_base: bool = False) -> PairComponents:
    """Components of B - A from both methods' accuracy matrices (paired by problem).

    Each side via `variance_components`; the interaction from the per-problem difference of
    seed-mean accuracies d_p = mean_s b[s,p] - mean_s a[s,p], whose spread over problems is

        E[var_p(d_p)] = sigma2_int + e2_A / S_A + e2_B / S_B

    (seed effects are constant across problems and drop out), so
    ``sigma2_int = var_p(d_p, ddof=1) - e2_A/S_A - e2_B/S_B``, clipped at 0, with e2 each side's
    `residual`. For a side with one seed, e2 = bernoulli / n: exact for the base; for a method
    trained once it assumes no seed x problem interaction (which then inflates sigma2_int by
    sigma2_seed_problem, the conservative direction). With one seed on a trained side the seed
    variance is not identifiable: power needs at least two seeds of a trained method.
    """
    a, b = _pair(a, b)
    ca = variance_components(a, samples, trained=not a_is_base)
    cb = variance_components(b, samples)
    d = b.mean(axis=0) - a.mean(axis=0)
    raw = float(np.var(d, ddof=1)) - ca.residual / ca.seeds - cb.residual / cb.seeds
    assumptions = []
    for side, c in (("a", ca), ("b", cb)):
        if c.trained and c.seeds == 1:
            assumptions.append(f"{side} has one training seed: its seed variance is unknown and its "
                               "seed x problem interaction is assumed 0 (it is counted in the interaction)")
    return PairComponents(ca, cb, max(raw, 0.0), raw < 0, tuple(assumptions))


@dataclass(frozen=True)
class TInterval:
    """B - A with a t interval from the variance components: `se` its estimated standard error,
    `df` the Satterthwaite degrees of freedom."""

    estimate: float
    low: float
    high: float
    level: float
    se: float
    df: float
    seeds_a: int
    seeds_b: int
    problems: int

    def excludes(self, value: float) -> bool:
        return bool(self.low > value or self.high < value)

    def as_dict(self) -> dict:
        return asdict(self)


def t_interval_diff(a, b, samples: int, level: float = 0.95, *, a_is_base: bool = False) -> TInterval:
    """B - A with a t interval whose width comes from the moment estimates (the analytic companion
    of `two_level_bootstrap_diff`, calibrated with few seeds, where the percentile bootstrap is not).

        Var(D) = sA2/S_A + sB2/S_B + sigma2_int/P + eA2/(S_A P) + eB2/(S_B P)
               ~= var_s(r^A)/S_A + var_s(r^B)/S_B + sigma2_int/P

    since the variance (ddof 1) of a method's seed means r_s estimates sigma2_seed + e2/P, and
    sigma2_int is `pair_components`' estimate (clipped at 0). The base contributes no seed term.
    Degrees of freedom (Satterthwaite): df = (sum c_k)^2 / sum c_k^2 / df_k with c_1 = var(r^A)/S_A
    (df S_A - 1), c_2 = var(r^B)/S_B (df S_B - 1), c_3 = sigma2_int/P (df P - 1); the interval is
    D +- t_{df, (1+level)/2} sqrt(sum c_k). nan bounds when a trained side has one seed.
    """
    from scipy.stats import t as tdist

    a, b = _pair(a, b)
    pc = pair_components(a, b, samples, a_is_base=a_is_base)
    p = a.shape[1]
    terms: list[tuple[float, float]] = []
    for m, c in ((a, pc.a), (b, pc.b)):
        if not c.trained:
            continue
        if m.shape[0] < 2:
            terms.append((float("nan"), 1.0))
        else:
            terms.append((float(np.var(m.mean(axis=1), ddof=1)) / m.shape[0], m.shape[0] - 1.0))
    terms.append((pc.interaction / p, p - 1.0))
    var = sum(c for c, _ in terms)
    denom = sum(c * c / d for c, d in terms)
    df = var * var / denom if denom > 0 else float("inf")
    est = float(b.mean() - a.mean())
    if not math.isfinite(var):
        return TInterval(est, float("nan"), float("nan"), float(level), float("nan"), float("nan"), a.shape[0],
                         b.shape[0], p)
    half = float(tdist.ppf(0.5 + level / 2, df)) * math.sqrt(var) if var > 0 else 0.0
    return TInterval(est, est - half, est + half, float(level), math.sqrt(var), float(df), a.shape[0], b.shape[0], p)


# ---------------------------------------------------------------------------------------------
# 4. power


Lever = Literal["seeds", "problems", "samples"]
LEVERS: tuple[Lever, ...] = ("seeds", "problems", "samples")
Seeds = float | tuple[float, float]  # seeds per trained method, or (seeds_a, seeds_b) per side


def per_side(seeds: Seeds) -> tuple[float, float]:
    """(seeds_a, seeds_b) of a design's `seeds`: one number is both sides' count; a pair is
    (seeds_a, seeds_b), for methods with different numbers of finished seeds. The base model's
    side is one model whatever its count says."""
    if isinstance(seeds, (tuple, list)):
        if len(seeds) != 2:
            raise ValueError(f"seeds is one count or (seeds_a, seeds_b), got {seeds!r}")
        return float(seeds[0]), float(seeds[1])
    return float(seeds), float(seeds)


def _side_var(c: VarianceComponents, seeds: float, problems: float, samples: float) -> float:
    """Variance of one side's mean: seed/S + (seed_problem + bernoulli/n)/(S P); the base: bernoulli/(n P)."""
    s = seeds if c.trained else 1.0
    seed = c.seed if c.trained else 0.0
    sp = c.seed_problem if c.trained else 0.0
    return seed / s + (sp + c.bernoulli / samples) / (s * problems)


def difference_se(pc: PairComponents, seeds: Seeds, problems: float, samples: float) -> float:
    """Standard error of ``mean(B) - mean(A)`` for a design of `seeds` training seeds per trained
    method (or ``(seeds_a, seeds_b)``, S_A and S_B: sides with different counts; the base keeps
    its one model), `problems` problems and `samples` samples per problem:

        SE^2 = sA2/S_A + sB2/S_B + sigma2_int/P + (spA + vA/n)/(S_A P) + (spB + vB/n)/(S_B P)

    (for the base side: vA/(n P) only). The problem main effect is absent: it cancels in the
    difference paired by problem. nan where a trained side's seed variance is unknown (one seed).
    Floats are accepted (math.inf drops every term that the lever controls).
    """
    sa, sb = per_side(seeds)
    return math.sqrt(_side_var(pc.a, sa, problems, samples) + _side_var(pc.b, sb, problems, samples)
                     + pc.interaction / problems)


def _z(alpha: float, power: float) -> float:
    from scipy.stats import norm

    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must be in (0, 1), got {alpha}, {power}")
    return float(norm.ppf(1 - alpha / 2) + norm.ppf(power))


def minimum_detectable_difference(pc: PairComponents, seeds: Seeds, problems: float, samples: float, *,
                                  alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true difference detected with probability `power` by a two-sided level-`alpha`
    test: ``MDE = (z_{1-alpha/2} + z_{power}) * SE`` (= 2.80 SE at 80% power and alpha 0.05;
    normal approximation, which flatters designs with very few seeds). `seeds`: as in
    `difference_se` (one count, or per side)."""
    return _z(alpha, power) * difference_se(pc, seeds, problems, samples)


def required_size(pc: PairComponents, delta: float, lever: Lever, seeds: Seeds, problems: int, samples: int, *,
                  alpha: float = 0.05, power: float = 0.8, limit: int = 10**9) -> int | None:
    """Smallest value of `lever` ("seeds", "problems" or "samples"), the other two fixed at the
    given values, whose MDE is at most `delta` (same units as the scores: 0.05 = 5 points).
    `seeds` is one count or (seeds_a, seeds_b); the "seeds" lever answers in seeds per method,
    every trained method trained that many times.

    SE^2 is ``c0 + c1 / x`` in each lever x, so x = ceil(c1 / ((delta / z)^2 - c0)); None when
    even an infinite x cannot reach delta (c0 >= (delta / z)^2: e.g. more problems never remove
    the seed variance) or the answer exceeds `limit`.
    """
    if lever not in LEVERS:
        raise ValueError(f"lever must be one of {LEVERS}, got {lever!r}")
    if delta <= 0:
        raise ValueError(f"delta must be positive, got {delta}")
    design = {"seeds": seeds, "problems": problems, "samples": samples}

    def se2(x: float) -> float:
        return difference_se(pc, **{**design, lever: x}) ** 2

    target = (delta / _z(alpha, power)) ** 2
    c0 = se2(math.inf)
    c1 = se2(1.0) - c0
    if not math.isfinite(c0) or not math.isfinite(c1):
        return None
    if c1 <= 0:
        return 1 if c0 <= target else None
    if c0 >= target:
        return None
    x = max(1, math.ceil(c1 / (target - c0) - 1e-9))
    while x > 1 and se2(x - 1) <= target:  # guard against rounding
        x -= 1
    while se2(x) > target:
        x += 1
    return x if x <= limit else None


def _trained_seeds(pc: PairComponents, seeds: Seeds) -> tuple[int, float]:
    """(trained methods T, trained models: the seeds of the trained sides summed) of a design."""
    sa, sb = per_side(seeds)
    return int(pc.a.trained) + int(pc.b.trained), sa * pc.a.trained + sb * pc.b.trained


def design_seconds(pc: PairComponents, seeds: Seeds, problems: float, samples: float, *, seconds_per_seed: float,
                   seconds_per_sample: float) -> float:
    """Compute cost of a design: T trained methods (2, or 1 against the base) with S_A, S_B seeds
    of training (`seeds`: one count or per side), and every model (those, plus the base)
    sampling P problems x n samples: ``(S_A + S_B) c_seed + (S_A + S_B + base) P n c_sample``
    (a side's count only where it is trained)."""
    t, trained = _trained_seeds(pc, seeds)
    models = trained + (2 - t)
    return trained * seconds_per_seed + models * problems * samples * seconds_per_sample


def compute_tradeoff(pc: PairComponents, seeds: Seeds, problems: int, samples: int, *, seconds_per_seed: float,
                     seconds_per_sample: float, budget_seconds: float = 3600.0, alpha: float = 0.05,
                     power: float = 0.8) -> dict:
    """Where the next `budget_seconds` (an hour) of compute buys the most precision. `seeds`: one
    count, or (seeds_a, seeds_b) per side.

    For each lever x in (seeds, problems, samples) the cost of one more unit is
    ``d cost / d x`` of `design_seconds` (a new seed of every trained method is trained and
    evaluated: T (c_seed + P n c_sample); a new problem: (S_A + S_B + base) n c_sample; one more
    sample per problem: (S_A + S_B + base) P c_sample). Spending the whole budget on x moves it to
    x + budget / unit cost (seeds: every trained side's count; fractional: a rate, not a
    schedule), and the lever's value is the SE (and MDE) reduction that buys. Also
    ``se_reduction_per_hour_at_margin`` = -dSE/dx / (d cost / d x) * 3600.

    Returns {"current": {"se", "mde", "seconds"}, "levers": {lever: {"unit_seconds",
    "units_for_budget", "se_after", "mde_after", "se_reduction", "se_reduction_per_hour_at_margin"}},
    "best": the lever with the largest se_reduction}.
    """
    z = _z(alpha, power)
    sa, sb = per_side(seeds)
    t, trained = _trained_seeds(pc, (sa, sb))
    models = trained + (2 - t)
    unit = {"seeds": t * (seconds_per_seed + problems * samples * seconds_per_sample),
            "problems": models * samples * seconds_per_sample,
            "samples": models * problems * seconds_per_sample}

    rest = {"problems": problems, "samples": samples}

    def se(lever: str, by: float) -> float:  # the SE with `lever` moved by `by` (seeds: every side's count)
        if lever == "seeds":
            return difference_se(pc, (sa + by, sb + by), problems, samples)
        return difference_se(pc, (sa, sb), **{**rest, lever: rest[lever] + by})

    # the step of the numerical derivative: 1e-4 of the lever (seeds: of the fewest seeds of a trained side)
    seeds_now = min([x for x, c in ((sa, pc.a), (sb, pc.b)) if c.trained] or [min(sa, sb)])
    now = {"seeds": seeds_now, "problems": problems, "samples": samples}
    se0 = difference_se(pc, (sa, sb), problems, samples)
    out: dict = {"current": {"se": se0, "mde": z * se0,
                             "seconds": design_seconds(pc, (sa, sb), problems, samples, seconds_per_seed=seconds_per_seed,
                                                       seconds_per_sample=seconds_per_sample)},
                 "budget_seconds": float(budget_seconds), "levers": {}}
    for lever in LEVERS:
        cost = unit[lever]
        units = budget_seconds / cost if cost > 0 else math.inf
        after = se(lever, units)
        h = 1e-4 * now[lever]
        slope = (se(lever, -h) - se(lever, h)) / (2 * h)
        out["levers"][lever] = {"unit_seconds": cost, "units_for_budget": units, "se_after": after,
                                "mde_after": z * after, "se_reduction": se0 - after,
                                "se_reduction_per_hour_at_margin": slope / cost * 3600.0 if cost > 0 else math.inf}
    out["best"] = max(LEVERS, key=lambda k: out["levers"][k]["se_reduction"])
    return out


def with_interaction(pc: PairComponents, interaction: float, note: str) -> PairComponents:
    """`pc` with sigma2_int replaced (e.g. a method-vs-method power from a method-vs-base
    experiment), the reason recorded in `assumptions`."""
    return replace(pc, interaction=float(interaction), interaction_clipped=False,
                   assumptions=(*pc.assumptions, note))
