"""Statistics of entropykit.analysis against hand-computed cases."""

import math

import numpy as np
import pytest

from entropykit.analysis import bootstrap_means, cohens_d, compare_groups, describe, knn_rarity, top_fraction_mask


def test_welch_cohen_hand_computed():
    a = [1.0, 2.0, 3.0, 4.0]  # mean 2.5, var 5/3
    b = [2.0, 4.0, 6.0, 8.0, 10.0]  # mean 6, var 10
    c = compare_groups(a, b, n_boot=500, seed=1)
    assert c.count == 4 and c.other_count == 5
    assert c.mean_entropy == pytest.approx(2.5)
    assert c.other_mean_entropy == pytest.approx(6.0)
    assert c.diff == pytest.approx(-3.5)
    # Welch: se^2 = (5/3)/4 + 10/5 = 29/12; t = -3.5 / sqrt(29/12)
    se2 = (5 / 3) / 4 + 10 / 5
    t = -3.5 / math.sqrt(se2)
    df = se2**2 / (((5 / 3) / 4) ** 2 / 3 + (10 / 5) ** 2 / 4)
    assert t == pytest.approx(-2.25146, abs=1e-4) and df == pytest.approx(5.5208, abs=1e-3)
    from scipy.stats import t as tdist

    assert c.p_value == pytest.approx(2 * tdist.sf(abs(t), df), rel=1e-9)
    assert 0.06 < c.p_value < 0.08  # ~0.0693 for t=-2.25, df=5.52
    # Cohen's d: pooled var = (3 * 5/3 + 4 * 10) / 7 = 45/7
    assert c.effect_size == pytest.approx(-3.5 / math.sqrt(45 / 7))
    assert cohens_d(a, b) == pytest.approx(-1.380419, abs=1e-6)
    assert c.effect_size_kind == "cohens_d_pooled"
    lo, hi = c.ci95
    assert lo < -3.5 < hi and hi < 0


def test_mann_whitney_exact_small():
    # U = 0 for complete separation; exact two-sided p = 2 / C(6, 3) = 0.1
    c = compare_groups([1, 2, 3], [4, 5, 6], n_boot=0)
    assert c.p_value_mannwhitney == pytest.approx(0.1)
    assert c.ci95 is None  # n_boot = 0 -> no bootstrap


def test_bootstrap_degenerate_and_deterministic():
    c = compare_groups([1, 1, 1], [0, 0], n_boot=200)
    assert c.ci95 == [1.0, 1.0]
    assert c.effect_size is None  # pooled SD 0
    assert c.p_value is None  # t-test undefined with zero variance in both groups
    a = np.arange(20.0)
    b = np.arange(10.0) * 0.5
    assert compare_groups(a, b, seed=3).ci95 == compare_groups(a, b, seed=3).ci95


def test_bootstrap_large_n_normal_limit():
    rng = np.random.default_rng(0)
    a = rng.normal(1.0, 2.0, size=60_000)  # above the exact-resampling limit -> CLT path
    b = rng.normal(0.0, 1.0, size=1_000)  # exact resampling
    c = compare_groups(a, b, n_boot=4000, seed=0)
    width = c.ci95[1] - c.ci95[0]
    expected = 2 * 1.96 * math.sqrt(a.var() / a.size + b.var() / b.size)
    assert width == pytest.approx(expected, rel=0.08)
    reps = bootstrap_means(np.array([2.0, 4.0]), 4000, np.random.default_rng(0))
    assert set(np.unique(reps)) <= {2.0, 3.0, 4.0}
    assert reps.mean() == pytest.approx(3.0, abs=0.05)


def test_empty_and_tiny_groups_are_none_not_nan():
    c = compare_groups([], [1.0, 2.0])
    assert c.count == 0 and c.mean_entropy is None and c.diff is None and c.p_value is None and c.ci95 is None
    c = compare_groups([1.0], [1.0, 2.0, 3.0])
    assert c.p_value is None and c.effect_size is None and c.mean_entropy == 1.0


def test_describe():
    d = describe([0.0, 1.0, 2.0, 3.0, 4.0])
    assert d["mean"] == 2.0 and d["min"] == 0.0 and d["max"] == 4.0
    assert d["quantiles"]["0.5"] == 2.0 and d["quantiles"]["0.25"] == 1.0 and d["quantiles"]["0.9"] == pytest.approx(3.6)
    assert describe([])["count"] == 0


def test_top_fraction_mask():
    scores = np.array([float(i) for i in range(25)])
    m = top_fraction_mask(scores, 0.1)  # ceil(2.5) = 3
    assert m.sum() == 3 and set(np.nonzero(m)[0]) == {22, 23, 24}
    assert top_fraction_mask(np.ones(10), 0.1).sum() == 1  # ties: exactly ceil(frac * n)
    assert top_fraction_mask(np.arange(10.0), 1.0).all()


def test_knn_rarity_hand_computed():
    base = np.array([[1.0, 0.0], [0.0, 1.0]])
    study = np.array([[1.0, 0.0], [1 / math.sqrt(2), 1 / math.sqrt(2)], [-1.0, 0.0]])
    d1 = knn_rarity(study, base, k=1)
    assert d1 == pytest.approx([0.0, 1 - 1 / math.sqrt(2), 1.0], abs=1e-9)
    d2 = knn_rarity(study, base, k=2)  # mean over both base points
    assert d2 == pytest.approx([0.5, 1 - 1 / math.sqrt(2), 1.5], abs=1e-9)
    assert knn_rarity(study, base, k=50) == pytest.approx(d2)  # k capped at |base|
