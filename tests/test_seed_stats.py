"""entropykit.seed_stats: hand-computed cases and simulation checks (coverage, power).

Simulations use the module's model on the probability scale: per-cell success probability
pi = mu_m + u_p (problem) + v_mp (method x problem) + a_ms (seed) + g_msp (seed x problem),
clipped to [0, 1], then n Bernoulli samples. They are sized to run in a few seconds on one core.
"""

import itertools
import math

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import norm

from entropykit import seed_stats as ss

SD = {"u": 0.15, "v": 0.05, "a": 0.04, "g": 0.05}


def simulate(rng, s_a, s_b, p, n, mu_a, mu_b, sd=SD, n_exp=1):
    """n_exp experiments: accuracies a [n_exp, s_a, P], b [n_exp, s_b, P] (s_a = 0: a is the base,
    one untrained model with no seed effects)."""
    u = rng.normal(0, sd["u"], (n_exp, 1, p))

    def method(mu, s):
        base = s == 0
        s = max(s, 1)
        v = rng.normal(0, sd["v"], (n_exp, 1, p))
        a = 0 if base else rng.normal(0, sd["a"], (n_exp, s, 1))
        g = 0 if base else rng.normal(0, sd["g"], (n_exp, s, p))
        pi = np.clip(mu + u + v + a + g + np.zeros((n_exp, s, p)), 0, 1)
        return rng.binomial(n, pi) / n

    return method(mu_a, s_a), method(mu_b, s_b)


def clipped_mean(mu, sd):
    """E[clip(X, 0, 1)] for X ~ N(mu, sd^2) = integral_0^1 P(X > t) dt."""
    return integrate.quad(lambda t: norm.sf((t - mu) / sd), 0, 1)[0]


TOTAL_SD = math.sqrt(sum(x * x for x in SD.values()))


def naive_problem_bootstrap(a, b, rng, n_resamples=1000, level=0.95):
    """The one-level bootstrap a one-seed tool does: resample problems of the seed-averaged d_p."""
    d = b.mean(axis=0) - a.mean(axis=0)
    v = rng.multinomial(d.size, np.full(d.size, 1 / d.size), size=n_resamples)
    return np.quantile(v @ d / d.size, [(1 - level) / 2, (1 + level) / 2])


# ---------------------------------------------------------------------------------------------
# two-level bootstrap: hand-computed


def test_two_level_bootstrap_hand_enumerated():
    # base a (one row), method b with 2 seeds, 2 problems. Seed counts of b: (2,0) 1/4, (1,1) 1/2,
    # (0,2) 1/4; problem counts likewise, shared by a and b. The 9 cells of D* = b* - a*:
    #   b seeds (2,0) -> [1, .5]:   problems (2,0): 1,    (1,1): .5,   (0,2): 0
    #   b seeds (1,1) -> [.75, .5]: problems (2,0): .75,  (1,1): .375, (0,2): 0
    #   b seeds (0,2) -> [.5, .5]:  problems (2,0): .5,   (1,1): .25,  (0,2): 0
    a, b = [[0.0, 0.5]], [[1.0, 0.5], [0.5, 0.5]]
    exact = {0.0: 4 / 16, 0.25: 2 / 16, 0.375: 4 / 16, 0.5: 3 / 16, 0.75: 2 / 16, 1.0: 1 / 16}
    draws = ss.two_level_bootstrap_draws(a, b, 40_000, rng=1)
    values, counts = np.unique(draws, return_counts=True)
    assert list(values) == pytest.approx(sorted(exact))
    for v, c in zip(values, counts):
        assert c / draws.size == pytest.approx(exact[float(v)], abs=0.008)
    ci = ss.two_level_bootstrap_diff(a, b, 40_000, rng=1)
    assert ci.estimate == pytest.approx(0.375)  # 0.625 - 0.25
    assert (ci.low, ci.high) == (0.0, 1.0)  # CDF: 0.25 at 0, 0.9375 at 0.75, 1 at 1
    assert (ci.seeds_a, ci.seeds_b, ci.problems) == (1, 2, 2)
    assert ci.as_dict()["n_resamples"] == 40_000
    # the base as a 1-D row is the same thing
    assert ss.bootstrap_diff_vs_base([0.0, 0.5], b, 40_000, rng=1) == ci


def test_two_level_bootstrap_resamples_problems_jointly_and_seeds_per_method():
    # exact bootstrap mean and variance by enumerating every resample (2^2 x 2^2 x 3^3 = 432),
    # against the sampler; a scheme resampling problems separately per method is far off
    a = np.array([[0.0, 0.9, 0.3], [0.2, 1.0, 0.4]])
    b = np.array([[0.1, 1.0, 0.5], [0.3, 0.8, 0.6]])
    right, wrong = [], []
    for ia in itertools.product(range(2), repeat=2):
        for ib in itertools.product(range(2), repeat=2):
            for jp in itertools.product(range(3), repeat=3):
                right.append(b[np.ix_(ib, jp)].mean() - a[np.ix_(ia, jp)].mean())
    for ia, ib in itertools.product(itertools.product(range(2), repeat=2), repeat=2):
        for ja, jb in itertools.product(itertools.product(range(3), repeat=3), repeat=2):
            wrong.append(b[np.ix_(ib, jb)].mean() - a[np.ix_(ia, ja)].mean())
    draws = ss.two_level_bootstrap_draws(a, b, 100_000, rng=3)
    assert draws.mean() == pytest.approx(np.mean(right), abs=2e-3)
    assert draws.var() == pytest.approx(np.var(right), rel=0.03)
    assert np.var(wrong) > 5 * np.var(right)  # shared problems keep the pairing (problem effects cancel)
    assert draws.mean() == pytest.approx(b.mean() - a.mean(), abs=2e-3)


def test_two_level_bootstrap_input_checks_and_determinism():
    a, b = np.zeros((2, 3)), np.ones((3, 3))
    ci = ss.two_level_bootstrap_diff(a, b, 500, rng=7)
    assert ci == ss.two_level_bootstrap_diff(a, b, 500, rng=7)
    assert (ci.estimate, ci.low, ci.high) == (1.0, 1.0, 1.0) and ci.excludes(0.0)
    with pytest.raises(ValueError, match="same problems"):
        ss.two_level_bootstrap_diff(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="one row"):
        ss.bootstrap_diff_vs_base(np.zeros((2, 3)), b)
    with pytest.raises(ValueError, match="non-finite"):
        ss.two_level_bootstrap_diff([[np.nan, 1.0]], [[0.0, 1.0]])


# ---------------------------------------------------------------------------------------------
# probability of improvement


def test_probability_of_improvement_hand_computed():
    # pairs (i, j) x problems: i=0: p0 1 > 0 -> 1, p1 .5 < 1 -> 0; i=1: p0 1 > .5 -> 1, p1 tie -> .5
    a, b = [[0.0, 1.0], [0.5, 0.5]], [[1.0, 0.5]]
    poi = ss.probability_of_improvement(a, b, 2000, rng=0)
    assert poi.estimate == pytest.approx(0.625)
    assert poi.low <= 0.625 <= poi.high
    assert ss.probability_of_improvement(b, a).estimate == pytest.approx(1 - 0.625)
    # base vs 2 seeds: (1 + .5 + 1 + .5) / 4
    assert ss.probability_of_improvement([[0.0, 0.5]], [[1.0, 0.5], [0.5, 0.5]]).estimate == pytest.approx(0.75)
    dominated = ss.probability_of_improvement(np.zeros((3, 4)), np.ones((2, 4)))
    assert (dominated.estimate, dominated.low, dominated.high) == (1.0, 1.0, 1.0)


def test_probability_of_improvement_exchangeable_null_is_half():
    rng = np.random.default_rng(11)
    a, b = simulate(rng, 3, 3, 32, 4, 0.5, 0.5, n_exp=300)
    est = [ss.probability_of_improvement(a[e], b[e], n_resamples=10).estimate for e in range(300)]
    assert np.mean(est) == pytest.approx(0.5, abs=0.01)
    flipped = [ss.probability_of_improvement(b[e], a[e], n_resamples=10).estimate for e in range(5)]
    assert np.array(flipped) == pytest.approx(1 - np.array(est[:5]))


# ---------------------------------------------------------------------------------------------
# coverage by simulation


def _coverage(rng, s, p, n, mu_a, mu_b, truth, n_exp, poi_truth=None):
    a, b = simulate(rng, s, s, p, n, mu_a, mu_b, n_exp=n_exp)
    two = naive = poi = 0
    for e in range(n_exp):
        ci = ss.two_level_bootstrap_diff(a[e], b[e], 1000, rng=rng)
        two += ci.low <= truth <= ci.high
        lo, hi = naive_problem_bootstrap(a[e], b[e], rng)
        naive += lo <= truth <= hi
        if poi_truth is not None:
            c = ss.probability_of_improvement(a[e], b[e], 500, rng=rng)
            poi += c.low <= poi_truth <= c.high
    return two / n_exp, naive / n_exp, poi / n_exp


def test_coverage_null_with_seed_effect_and_naive_bootstrap_undercovers():
    # 3 seeds per method, 64 problems, 4 samples; seed SD 4 points. Two methods with the same
    # distribution: the true difference is 0 and the true P(improvement) 0.5.
    two, naive, poi = _coverage(np.random.default_rng(2026), 3, 64, 4, 0.5, 0.5, 0.0, 300, poi_truth=0.5)
    print(f"null: two-level {two:.3f}, problems-only {naive:.3f}, P(improvement) {poi:.3f}")
    assert 0.90 <= two <= 0.99
    assert naive <= 0.85 and two - naive >= 0.1  # ignoring the seeds is the failure this module fixes
    assert 0.88 <= poi <= 0.995


def test_coverage_planted_difference():
    # B is 10 points better; the truth accounts for the clipping of pi to [0, 1]
    truth = clipped_mean(0.55, TOTAL_SD) - clipped_mean(0.45, TOTAL_SD)
    assert truth == pytest.approx(0.1, abs=2e-3)
    two, naive, _ = _coverage(np.random.default_rng(7), 3, 64, 4, 0.45, 0.55, truth, 300)
    print(f"planted 0.1: two-level {two:.3f}, problems-only {naive:.3f}")
    assert 0.90 <= two <= 0.99
    assert naive < two


# ---------------------------------------------------------------------------------------------
# variance components


def test_variance_components_hand_computed():
    y = [[0.5, 1.0, 0.25], [0.0, 0.75, 0.25]]  # n = 4
    c = ss.variance_components(y, 4)
    # rows .5833/.3333, columns .25/.875/.25, grand .4583; MS_seed = 3 * 2 * .125^2 = .09375;
    # residuals +-.125 (4 cells) and 0 -> MS_res = .0625 / 2; MS_prob = 2 * (.2083^2 * 2 + .4167^2) / 2
    assert c.residual == pytest.approx(0.03125)
    assert c.seed == pytest.approx((0.09375 - 0.03125) / 3)
    assert c.problem == pytest.approx((0.2604167 - 0.03125) / 2, abs=1e-6)
    assert c.bernoulli == pytest.approx((0.25 + 0.1875 * 3) / 6 * 4 / 3)
    assert c.seed_problem == 0.0 and c.clipped == ("seed_problem",)  # .03125 - .1806 / 4 < 0
    assert (c.seeds, c.problems, c.samples, c.trained) == (2, 3, 4, True)
    anti = ss.variance_components([[1.0, 0.0], [0.0, 1.0]], 2)
    assert anti.seed == 0.0 and "seed" in anti.clipped
    base = ss.variance_components([0.0, 0.5, 1.0], 4, trained=False)
    assert (base.seed, base.seed_problem) == (0.0, 0.0)
    assert base.residual == pytest.approx(base.bernoulli / 4)
    once = ss.variance_components([0.0, 0.5, 1.0], 4)
    assert math.isnan(once.seed) and math.isnan(once.seed_problem)
    with pytest.raises(ValueError, match="2 samples"):
        ss.variance_components(y, 1)


def test_variance_components_unbiased_in_simulation():
    # no clipping in practice at these SDs (pi stays within 0.5 +- 4 SD); truth of each component:
    rng = np.random.default_rng(5)
    s, p, n, n_exp = 4, 100, 8, 200
    a, b = simulate(rng, s, s, p, n, 0.5, 0.5, n_exp=n_exp)
    var_pi = TOTAL_SD**2
    est = [ss.pair_components(a[e], b[e], n) for e in range(n_exp)]
    raw_mean = lambda f: np.mean([f(c) for c in est])  # noqa: E731
    assert raw_mean(lambda c: c.b.bernoulli) == pytest.approx(0.25 - var_pi, rel=0.02)
    assert raw_mean(lambda c: c.b.seed_problem) == pytest.approx(SD["g"] ** 2, rel=0.1)
    assert raw_mean(lambda c: c.a.problem) == pytest.approx(SD["u"] ** 2 + SD["v"] ** 2, rel=0.1)
    assert raw_mean(lambda c: c.b.seed) == pytest.approx(SD["a"] ** 2, rel=0.25)  # 3 df per experiment
    assert raw_mean(lambda c: c.interaction) == pytest.approx(2 * SD["v"] ** 2, rel=0.15)


# ---------------------------------------------------------------------------------------------
# power


def true_components(s=3, p=64, n=4, base=False):
    bern = 0.25 - TOTAL_SD**2
    side = ss.VarianceComponents(SD["a"] ** 2, SD["u"] ** 2 + SD["v"] ** 2, SD["g"] ** 2, bern, 0.0, s, p, n)
    a = side
    if base:
        bern_base = 0.25 - (SD["u"] ** 2 + SD["v"] ** 2)
        a = ss.VarianceComponents(0.0, SD["u"] ** 2 + SD["v"] ** 2, 0.0, bern_base, 0.0, 1, p, n, trained=False)
    return ss.PairComponents(a, side, 2 * SD["v"] ** 2)


def test_difference_se_formula():
    pc = true_components()
    se2 = 2 * 0.04**2 / 3 + 2 * 0.05**2 / 64 + 2 * (0.05**2 + pc.b.bernoulli / 4) / (3 * 64)
    assert ss.difference_se(pc, 3, 64, 4) == pytest.approx(math.sqrt(se2))
    z = norm.ppf(0.975) + norm.ppf(0.8)
    assert z == pytest.approx(2.8016, abs=1e-4)
    assert ss.minimum_detectable_difference(pc, 3, 64, 4) == pytest.approx(z * math.sqrt(se2))
    vs_base = true_components(base=True)
    se2_base = 0.04**2 / 3 + 2 * 0.05**2 / 64 + (0.05**2 + pc.b.bernoulli / 4) / (3 * 64) \
        + vs_base.a.bernoulli / (4 * 64)
    assert ss.difference_se(vs_base, 3, 64, 4) == pytest.approx(math.sqrt(se2_base))


def test_power_with_unequal_seeds_per_side_hand_computed():
    # A trained 4 times, B twice (a partly finished experiment): each side's seed terms over its own count
    a = ss.VarianceComponents(0.01, 0.05, 0.02, 0.2, 0.0, 4, 10, 5)
    b = ss.VarianceComponents(0.004, 0.05, 0.01, 0.16, 0.0, 2, 10, 5)
    pc = ss.PairComponents(a, b, 0.003)
    # SE^2 = .01/4 + .004/2 + .003/10 + (.02 + .2/5)/(4*10) + (.01 + .16/5)/(2*10)
    #      = .0025 + .002 + .0003 + .0015 + .0021 = .0084
    assert ss.difference_se(pc, (4, 2), 10, 5) == pytest.approx(math.sqrt(0.0084))
    z = norm.ppf(0.975) + norm.ppf(0.8)
    assert ss.minimum_detectable_difference(pc, (4, 2), 10, 5) == pytest.approx(z * math.sqrt(0.0084))
    assert ss.difference_se(pc, 4, 10, 5) == ss.difference_se(pc, (4, 4), 10, 5)  # one count: both sides
    assert ss.difference_se(pc, (4, 2), 10, 5) > ss.difference_se(pc, 4, 10, 5)
    # problems for delta .25: SE^2 = .0045 + .039/P <= (.25/z)^2 = .0079629  ->  P = ceil(11.26) = 12
    assert ss.required_size(pc, 0.25, "problems", (4, 2), 10, 5) == 12
    # seeds per method (both sides x): SE^2 = .0003 + .0242/x  ->  x = ceil(3.158) = 4
    assert ss.required_size(pc, 0.25, "seeds", (4, 2), 10, 5) == 4
    # cost: 6 trained models; one more seed per method: 2 trainings + 2 evaluations
    t = ss.compute_tradeoff(pc, (4, 2), 10, 5, seconds_per_seed=600, seconds_per_sample=0.1)
    assert t["current"]["seconds"] == pytest.approx(6 * 600 + 6 * 10 * 5 * 0.1)
    assert t["levers"]["seeds"]["unit_seconds"] == pytest.approx(2 * (600 + 10 * 5 * 0.1))
    assert t["levers"]["problems"]["unit_seconds"] == pytest.approx(6 * 5 * 0.1)
    u = t["levers"]["seeds"]["units_for_budget"]
    assert t["levers"]["seeds"]["se_after"] == pytest.approx(ss.difference_se(pc, (4 + u, 2 + u), 10, 5))
    assert t["levers"]["samples"]["se_after"] == pytest.approx(
        ss.difference_se(pc, (4, 2), 10, 5 + t["levers"]["samples"]["units_for_budget"]))
    with pytest.raises(ValueError):
        ss.difference_se(pc, (4, 2, 1), 10, 5)


@pytest.mark.parametrize("base", [False, True])
def test_power_rejection_rate_at_mde_is_80_percent(base):
    rng = np.random.default_rng(9 + base)
    s, p, n, n_exp = 3, 64, 4, 4000
    pc = true_components(s, p, n, base=base)
    mde = ss.minimum_detectable_difference(pc, s, p, n)
    se = ss.difference_se(pc, s, p, n)
    a, b = simulate(rng, 0 if base else s, s, p, n, 0.5 - mde / 2, 0.5 + mde / 2, n_exp=n_exp)
    d = b.mean(axis=(1, 2)) - a.mean(axis=(1, 2))
    assert d.std() == pytest.approx(se, rel=0.05)  # the SE formula, paired by problem
    rate = np.mean(np.abs(d) / se > norm.ppf(0.975))
    print(f"power at MDE {mde:.4f} (base={base}): {rate:.3f}")
    assert 0.77 <= rate <= 0.83


def test_power_from_estimated_components():
    # a pilot's estimated components predict the SE of a new, larger design
    rng = np.random.default_rng(21)
    a, b = simulate(rng, 6, 6, 200, 8, 0.5, 0.5)
    pc = ss.pair_components(a[0], b[0], 8)
    truth = true_components()
    assert ss.difference_se(pc, 5, 128, 8) == pytest.approx(ss.difference_se(truth, 5, 128, 8), rel=0.3)


def test_required_size():
    pc = true_components()
    z = norm.ppf(0.975) + norm.ppf(0.8)
    for lever in ss.LEVERS:
        x = ss.required_size(pc, 0.06, lever, 3, 64, 4)
        design = {"seeds": 3, "problems": 64, "samples": 4}
        if x is None:
            # unreachable: the SE with an infinite lever already exceeds delta / z
            assert z * ss.difference_se(pc, **{**design, lever: math.inf}) > 0.06
            continue
        assert ss.minimum_detectable_difference(pc, **{**design, lever: x}) <= 0.06
        if x > 1:
            assert ss.minimum_detectable_difference(pc, **{**design, lever: x - 1}) > 0.06
    # seed variance 2 * .0016 / 3: more problems or samples cannot reach 3 points with 3 seeds
    assert ss.required_size(pc, 0.03, "problems", 3, 64, 4) is None
    assert ss.required_size(pc, 0.03, "samples", 3, 64, 4) is None
    seeds = ss.required_size(pc, 0.03, "seeds", 3, 64, 4)
    assert seeds is not None and seeds > 3
    assert ss.required_size(pc, 1.0, "seeds", 3, 64, 4) == 1
    with pytest.raises(ValueError):
        ss.required_size(pc, 0.05, "steps", 3, 64, 4)  # type: ignore[arg-type]
    once = ss.PairComponents(ss.variance_components([0.5, 0.25], 4), pc.b, 0.0)
    assert ss.required_size(once, 0.05, "seeds", 3, 64, 4) is None  # seed variance unknown


def test_compute_tradeoff():
    pc = true_components()
    # training a seed costs 10 min, a sample 0.1 s: two trained methods, 6 models, 64 x 4 samples each
    t = ss.compute_tradeoff(pc, 3, 64, 4, seconds_per_seed=600, seconds_per_sample=0.1)
    assert t["levers"]["seeds"]["unit_seconds"] == pytest.approx(2 * (600 + 64 * 4 * 0.1))
    assert t["levers"]["problems"]["unit_seconds"] == pytest.approx(6 * 4 * 0.1)
    assert t["levers"]["samples"]["unit_seconds"] == pytest.approx(6 * 64 * 0.1)
    assert t["current"]["seconds"] == pytest.approx(2 * 3 * 600 + 6 * 64 * 4 * 0.1)
    for lever, v in t["levers"].items():
        assert v["se_after"] < t["current"]["se"] and v["se_reduction_per_hour_at_margin"] > 0
        design = {"seeds": 3, "problems": 64, "samples": 4}
        design[lever] += 3600 / v["unit_seconds"]
        assert v["se_after"] == pytest.approx(ss.difference_se(pc, **design))
    assert t["best"] == "seeds"  # the seed variance dominates this design
    # when sampling noise dominates and training is dear, more samples per problem win
    noisy = ss.PairComponents(*(ss.VarianceComponents(1e-6, 0.02, 0.0, 0.25, 0.0, 3, 64, 1),) * 2, 0.0)
    t2 = ss.compute_tradeoff(noisy, 3, 64, 1, seconds_per_seed=36_000, seconds_per_sample=0.01)
    assert t2["best"] in ("samples", "problems")
    assert t2["levers"]["seeds"]["se_reduction"] < t2["levers"]["samples"]["se_reduction"]
    # against the base one method is trained, and the base samples too
    tb = ss.compute_tradeoff(true_components(base=True), 3, 64, 4, seconds_per_seed=600, seconds_per_sample=0.1)
    assert tb["levers"]["seeds"]["unit_seconds"] == pytest.approx(600 + 64 * 4 * 0.1)
    assert tb["levers"]["problems"]["unit_seconds"] == pytest.approx(4 * 4 * 0.1)


# ---------------------------------------------------------------------------------------------
# the t interval: calibrated where the percentile bootstrap is not (few seeds, seed effect dominant)


def test_t_interval_hand_computed():
    a = np.array([[0.25, 0.5, 0.75], [0.5, 0.5, 1.0]])
    b = np.array([[0.5, 1.0, 0.75], [0.75, 0.75, 1.0], [0.25, 0.75, 1.0]])
    ti = ss.t_interval_diff(a, b, 4)
    pc = ss.pair_components(a, b, 4)
    c1, c2, c3 = np.var(a.mean(1), ddof=1) / 2, np.var(b.mean(1), ddof=1) / 3, pc.interaction / 3
    df = (c1 + c2 + c3) ** 2 / (c1**2 / 1 + c2**2 / 2 + c3**2 / 2)
    assert ti.se == pytest.approx(math.sqrt(c1 + c2 + c3)) and ti.df == pytest.approx(df)
    from scipy.stats import t as tdist

    assert ti.high - ti.estimate == pytest.approx(tdist.ppf(0.975, df) * ti.se)
    assert ti.estimate == pytest.approx(b.mean() - a.mean())
    vs_base = ss.t_interval_diff(a[0], b, 4, a_is_base=True)
    assert vs_base.seeds_a == 1 and math.isfinite(vs_base.low)
    assert math.isnan(ss.t_interval_diff(a[:1], b, 4).low)  # a trained once: seed variance unknown


def test_coverage_few_seeds_seed_dominated():
    # seed SD 8 points, 3 seeds, 16 samples: the seed effect dominates the difference's variance
    rng = np.random.default_rng(3)
    sd = {**SD, "a": 0.08}
    a, b = simulate(rng, 3, 3, 64, 16, 0.5, 0.5, sd=sd, n_exp=300)
    boot = t = naive = 0
    for e in range(300):
        ci = ss.two_level_bootstrap_diff(a[e], b[e], 1000, rng=rng)
        boot += ci.low <= 0 <= ci.high
        ti = ss.t_interval_diff(a[e], b[e], 16)
        t += ti.low <= 0 <= ti.high
        lo, hi = naive_problem_bootstrap(a[e], b[e], rng)
        naive += lo <= 0 <= hi
    boot, t, naive = boot / 300, t / 300, naive / 300
    print(f"seed-dominated, 3 seeds: two-level bootstrap {boot:.3f}, t interval {t:.3f}, problems-only {naive:.3f}")
    assert 0.92 <= t <= 0.99
    assert boot < t and naive < 0.5
