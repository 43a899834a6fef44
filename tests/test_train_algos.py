"""The trainer's algorithm functions against hand computations (entropykit.train.algos)."""

import math

import pytest
import torch

from entropykit.entropy import entropy_and_logprobs
from entropykit.train import algos
from entropykit.train.algos import (
    entropy_regularizer,
    gae_advantages,
    grpo_advantages,
    kl_penalty,
    outcome_token_rewards,
    policy_loss,
    shape_advantages,
    value_loss,
)


# ---------------------------------------------------------------------------- shape_advantages

def test_shape_advantages_hand_values():
    A = torch.tensor([2.0, -1.0, 0.0, 0.5])
    H = torch.tensor([1.0, 3.0, 5.0, 0.1])
    # psi = min(0.4 * H, |A| / 2) = [0.4, 0.5, 0.0, 0.04]
    out = shape_advantages(A, H, alpha=0.4, kappa=2.0)
    torch.testing.assert_close(out, torch.tensor([2.4, -0.5, 0.0, 0.54]))


def test_shape_advantages_sign_zero_and_bound_random():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(64, 33, generator=g) * 3
    A[A.abs() < 0.3] = 0.0
    H = torch.rand(64, 33, generator=g) * 10
    for alpha, kappa in [(0.4, 2.0), (0.1, 2.0), (5.0, 1.01), (1e-3, 100.0)]:
        out = shape_advantages(A, H, alpha, kappa)
        psi = out - A
        assert (psi >= 0).all()
        assert (psi <= A.abs() / kappa + 1e-6).all()
        assert (out[A == 0] == 0).all()  # A = 0 stays 0
        assert (torch.sign(out) == torch.sign(A)).all()  # the sign is preserved


def test_shape_advantages_rejects_bad_params():
    A, H = torch.ones(2), torch.ones(2)
    with pytest.raises(ValueError):
        shape_advantages(A, H, alpha=0.0, kappa=2.0)
    with pytest.raises(ValueError):
        shape_advantages(A, H, alpha=0.4, kappa=1.0)


def _toy_policy(seed=0, B=3, T=5, V=7):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, V, generator=g, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, V, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.float64)
    mask[1, 3:] = 0
    mask[2, 1:] = 0
    adv = torch.tensor([1.5, -0.7, 0.0], dtype=torch.float64)[:, None].expand(B, T) * mask
    old = (entropy_and_logprobs(logits.detach(), targets)[0] + 0.1 * torch.randn(B, T, generator=g, dtype=torch.float64))
    return logits, targets, mask, adv, old


def test_shaping_gradient_equals_plain_loss_with_constant_advantage():
    """The paper's claim: grad of L(A + psi(H)) == grad of L with A' a constant (no grad into H)."""
    logits, targets, mask, adv, old = _toy_policy()
    logp, H = entropy_and_logprobs(logits, targets)  # H carries a gradient path to the logits
    shaped = shape_advantages(adv, H, alpha=0.4, kappa=2.0)
    assert not shaped.requires_grad  # nothing of H's graph survives the shaping
    g_shaped = torch.autograd.grad(policy_loss(logp, old, shaped, mask).loss, logits)[0]

    logp2, H2 = entropy_and_logprobs(logits, targets)
    a_const = (adv + torch.minimum(0.4 * H2.detach().to(adv.dtype), adv.abs() / 2.0)).detach().clone()
    g_plain = torch.autograd.grad(policy_loss(logp2, old, a_const, mask).loss, logits)[0]
    torch.testing.assert_close(g_shaped, g_plain, rtol=0, atol=1e-12)

    # and it differs from the gradient with the unshaped advantage (the offset does matter)
    logp3, _ = entropy_and_logprobs(logits, targets)
    g_unshaped = torch.autograd.grad(policy_loss(logp3, old, adv, mask).loss, logits)[0]
    assert (g_unshaped - g_plain).abs().max() > 1e-4


def test_entropy_regularizer_has_gradient_through_entropy():
    logits, targets, mask, adv, old = _toy_policy(seed=1)
    logp, H = entropy_and_logprobs(logits, targets)
    reg = entropy_regularizer(H, mask, coef=0.01)
    torch.testing.assert_close(reg, (-0.01 * (H * mask).sum() / mask.sum()).float())
    g = torch.autograd.grad(reg, logits)[0]
    assert g.abs().max() > 0
    # the gradient of -beta*mean(H) increases entropy: a small step along -g raises mean H
    with torch.no_grad():
        _, H_after = entropy_and_logprobs(logits - 10.0 * g, targets)
    assert ((H_after * mask).sum() > (H * mask).sum())


# ---------------------------------------------------------------------------- GRPO

def test_grpo_advantages_hand_values():
    r = torch.tensor([1.0, -1.0, -1.0, -1.0, 1.0, 1.0, -1.0, -1.0])
    gid = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    mask = torch.ones(8, 3)
    mask[0, 2] = 0
    adv, ret = grpo_advantages(outcome_token_rewards(r, mask), mask, group_ids=gid)
    # group 0: mean -0.5, unbiased std 1   -> [1.5, -0.5, -0.5, -0.5]
    # group 1: mean 0, std sqrt(4/3)       -> +-0.8660
    s = 1 / math.sqrt(4 / 3)
    expect = torch.tensor([1.5, -0.5, -0.5, -0.5, s, s, -s, -s])
    torch.testing.assert_close(adv[:, 0], expect, atol=1e-5, rtol=1e-5)
    assert adv[0, 2] == 0  # padding
    torch.testing.assert_close(adv[:, 1], adv[:, 0] * mask[:, 1])  # same value on every token
    torch.testing.assert_close(ret, adv)


def test_grpo_advantages_groups_any_order_no_std_and_degenerate():
    r = torch.tensor([1.0, 0.0, 3.0, 2.0, 5.0, 5.0, 7.0])
    gid = torch.tensor([9, 4, 9, 4, 2, 2, 3])  # non-contiguous labels, a constant group, a single
    mask = torch.ones(7, 1)
    adv, _ = grpo_advantages(outcome_token_rewards(r, mask), mask, group_ids=gid, norm_by_std=False)
    torch.testing.assert_close(adv[:, 0], torch.tensor([-1.0, -1.0, 1.0, 1.0, 0.0, 0.0, 7.0]))
    adv_n, _ = grpo_advantages(outcome_token_rewards(r, mask), mask, group_ids=gid)
    assert adv_n[4, 0] == 0 and adv_n[5, 0] == 0  # all-equal group -> no signal, no nan
    assert torch.isfinite(adv_n).all()


def test_grpo_advantages_matches_loop_reference():
    g = torch.Generator().manual_seed(3)
    r = torch.randint(0, 2, (64,), generator=g).float() * 2 - 1
    gid = torch.arange(8).repeat_interleave(8)[torch.randperm(64, generator=g)]
    adv, _ = grpo_advantages(r[:, None], torch.ones(64, 1), group_ids=gid)
    for k in range(64):
        grp = r[gid == gid[k]]
        torch.testing.assert_close(adv[k, 0], (r[k] - grp.mean()) / (grp.std() + 1e-6))


# ---------------------------------------------------------------------------- GAE

def test_gae_hand_values_and_padding():
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
    values = torch.tensor([[0.5, 0.2, 0.4], [0.3, 0.6, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    adv, ret = gae_advantages(rewards, mask, values=values, gamma=0.5, lam=0.5, whiten=False)
    # row 0: d2 = 1 - .4 = .6, A2 = .6; d1 = .5*.4 - .2 = 0, A1 = .25*.6 = .15;
    #        d0 = .5*.2 - .5 = -.4, A0 = -.4 + .25*.15 = -.3625
    # row 1: d1 = -1 - .6 = -1.6, A1 = -1.6; d0 = .5*.6 - .3 = 0, A0 = .25*-1.6 = -.4
    torch.testing.assert_close(adv, torch.tensor([[-0.3625, 0.15, 0.6], [-0.4, -1.6, 0.0]]))
    torch.testing.assert_close(ret, torch.tensor([[0.1375, 0.35, 1.0], [-0.1, -1.0, 0.0]]))


def test_gae_paper_setting_is_reward_minus_value():
    rewards = torch.zeros(2, 4)
    rewards[0, 3], rewards[1, 1] = 1.0, -1.0
    values = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.5, -0.5, 0.0, 0.0]])
    mask = torch.tensor([[1.0] * 4, [1.0, 1.0, 0.0, 0.0]])
    adv, ret = gae_advantages(rewards, mask, values=values, gamma=1.0, lam=1.0, whiten=False)
    torch.testing.assert_close(adv, (torch.tensor([[1.0], [-1.0]]) - values) * mask)
    torch.testing.assert_close(ret, torch.tensor([[1.0], [-1.0]]) * mask)
    w, _ = gae_advantages(rewards, mask, values=values, whiten=True)
    assert abs(float(algos.token_mean(w, mask))) < 1e-6


# ---------------------------------------------------------------------------- policy / value loss

def test_policy_loss_clip_higher_hand_values():
    old = torch.zeros(1, 4)
    logp = torch.log(torch.tensor([[1.5, 0.5, 1.1, 7.0]]))
    adv = torch.tensor([[1.0, -1.0, 2.0, 5.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])  # the last token is padding
    out = policy_loss(logp, old, adv, mask, eps_low=0.2, eps_high=0.28)
    # token losses: -min(1.5, 1.28) = -1.28;  -min(-0.5, -0.8) = 0.8;  -min(2.2, 2.2) = -2.2
    torch.testing.assert_close(out.loss, torch.tensor((-1.28 + 0.8 - 2.2) / 3))
    torch.testing.assert_close(out.clip_frac_high, torch.tensor(1 / 3))
    torch.testing.assert_close(out.clip_frac_low, torch.tensor(1 / 3))
    k3 = [(1.5 - 1) - math.log(1.5), (0.5 - 1) - math.log(0.5), (1.1 - 1) - math.log(1.1)]
    torch.testing.assert_close(out.approx_kl, torch.tensor(sum(k3) / 3))


def test_policy_loss_is_token_level_not_per_response():
    old = torch.zeros(2, 4)
    logp = torch.zeros(2, 4)
    adv = torch.tensor([[1.0] * 4, [-2.0] * 4])
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    out = policy_loss(logp, old, adv, mask)
    # 5 tokens: four with loss -1, one with +2 -> (-4 + 2) / 5 (a per-response mean would give 0.5)
    torch.testing.assert_close(out.loss, torch.tensor(-2 / 5))
    # gradient accumulation: two halves with the full denominator sum to the whole
    parts = sum(policy_loss(logp[i:i + 1], old[i:i + 1], adv[i:i + 1], mask[i:i + 1], denom=mask.sum()).loss for i in range(2))
    torch.testing.assert_close(parts, out.loss)


def test_kl_penalty_and_value_loss():
    logp = torch.log(torch.tensor([[0.5, 0.25]]))
    ref = torch.log(torch.tensor([[0.25, 0.25]]))
    mask = torch.ones(1, 2)
    d = math.log(0.5)
    torch.testing.assert_close(kl_penalty(logp, ref, mask, 0.1), torch.tensor(0.1 * (math.exp(d) - d - 1) / 2))

    v = torch.tensor([[1.0, 0.0, 5.0]])
    v_old = torch.tensor([[0.0, 0.0, 0.0]])
    ret = torch.tensor([[0.0, 1.0, 0.0]])
    m = torch.tensor([[1.0, 1.0, 0.0]])
    loss, frac = value_loss(v, v_old, ret, m, clip_range=0.5)
    # token 0: max((1-0)^2, (0.5-0)^2) = 1; token 1: max(1, 1) = 1 -> 0.5 * 2 / 2
    torch.testing.assert_close(loss, torch.tensor(0.5))
    loss_plain, _ = value_loss(v, v_old, ret, m, clip_range=None)
    torch.testing.assert_close(loss_plain, torch.tensor(0.5))


def _reference_token_loss(logp: float, old: float, a: float, eps_low: float, eps_high: float, c: float) -> float:
    """One token of the clip-higher + dual-clip loss, in plain Python floats, branch by branch."""
    ratio = math.exp(max(-20.0, min(20.0, logp - old)))
    unclipped = -a * ratio
    clipped = -a * min(max(ratio, 1 - eps_low), 1 + eps_high)
    loss = max(unclipped, clipped)
    if a < 0:
        loss = min(loss, -c * a)  # the dual clip bounds what a negative-advantage token can cost
    return loss


def test_dual_clip_hand_values_and_metric():
    ratios = torch.tensor([[5.0, 2.0, 5.0, 0.5, 3.5, 1.0]], dtype=torch.float64)
    adv = torch.tensor([[-1.0, -1.0, 2.0, -1.0, -0.5, 0.0]], dtype=torch.float64)
    mask = torch.ones(1, 6, dtype=torch.float64)
    logp = ratios.log().requires_grad_(True)
    out = policy_loss(logp, torch.zeros_like(logp), adv, mask, eps_low=0.2, eps_high=0.28, clip_ratio_c=3.0)
    # token losses: A=-1,r=5: max(5, 1.28)=5 -> dual min(5, 3) = 3;  A=-1,r=2: max(2, 1.28) = 2 (< 3, no dual);
    # A=2,r=5: max(-10, -2.56) = -2.56 (upper clip);  A=-1,r=.5: max(.5, .8) = .8 (lower clip);
    # A=-.5,r=3.5: max(1.75, .64) = 1.75 -> min(1.75, 1.5) = 1.5 (dual);  A=0: 0
    torch.testing.assert_close(out.loss, torch.tensor((3 + 2 - 2.56 + 0.8 + 1.5 + 0) / 6, dtype=torch.float64))
    torch.testing.assert_close(out.clip_frac_dual, torch.tensor(2 / 6, dtype=torch.float64))
    torch.testing.assert_close(out.clip_frac_low, torch.tensor(1 / 6, dtype=torch.float64))
    torch.testing.assert_close(out.clip_frac_high, torch.tensor(1 / 6, dtype=torch.float64))
    (g,) = torch.autograd.grad(out.loss, logp)
    # a dual-clipped token is a constant c|A|: no gradient; so are clipped tokens; r=2, A=-1 keeps -A*r/6
    expect = torch.tensor([[0.0, 2.0 / 6, 0.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(g, expect)


def test_dual_clip_matches_scalar_reference_random():
    g = torch.Generator().manual_seed(11)
    B, T = 6, 40
    logp = torch.randn(B, T, generator=g, dtype=torch.float64) * 1.5  # ratios from ~e^-4 to e^4: every branch
    old = torch.randn(B, T, generator=g, dtype=torch.float64) * 0.3
    adv = torch.randn(B, T, generator=g, dtype=torch.float64) * 2
    adv[adv.abs() < 0.1] = 0.0
    mask = (torch.rand(B, T, generator=g) > 0.2).to(torch.float64)
    for eps_low, eps_high, c in [(0.2, 0.28, 3.0), (0.2, 0.2, 1.5), (0.1, 0.5, 10.0)]:
        out = policy_loss(logp, old, adv, mask, eps_low=eps_low, eps_high=eps_high, clip_ratio_c=c)
        ref = [_reference_token_loss(float(logp[i, t]), float(old[i, t]), float(adv[i, t]), eps_low, eps_high, c)
               for i in range(B) for t in range(T) if mask[i, t] > 0]
        assert float(out.loss) == pytest.approx(math.fsum(ref) / len(ref), rel=1e-12, abs=1e-12)
        ratio = (logp - old).exp()
        n_dual = sum(1 for i in range(B) for t in range(T) if mask[i, t] > 0 and adv[i, t] < 0
                     and max(-adv[i, t] * ratio[i, t], -adv[i, t] * min(max(ratio[i, t], 1 - eps_low), 1 + eps_high)) > -c * adv[i, t])
        assert float(out.clip_frac_dual) == pytest.approx(n_dual / len(ref), abs=1e-12)
    assert n_dual > 0  # the random case does reach the dual clip
    with pytest.raises(ValueError, match="clip_ratio_c"):
        policy_loss(logp, old, adv, mask, clip_ratio_c=1.0)


def test_kl_penalty_k3_is_clamped_like_verl():
    logp = torch.tensor([[-6.0, -1.0, -0.5, -30.0]], dtype=torch.float64, requires_grad=True)
    ref = torch.tensor([[-1.0, -1.2, -40.0, -1.0]], dtype=torch.float64)
    mask = torch.ones(1, 4, dtype=torch.float64)
    out = kl_penalty(logp, ref, mask, coef=1.0)
    # d = ref - logp = [5, -0.2, -39.5 -> -20, 29 -> 20]; k3 = e^d - d - 1 = [142.4 -> 10, 0.01873, 19 -> 10, 4.85e8 -> 10]
    d = [5.0, -0.2, -20.0, 20.0]
    k3 = [min(10.0, max(-10.0, math.exp(x) - x - 1)) for x in d]
    torch.testing.assert_close(out, torch.tensor(math.fsum(k3) / 4, dtype=torch.float64))
    (g,) = torch.autograd.grad(out, logp)
    # d k3 / d logp = -(e^d - 1) where not clamped; 0 where the k3 clamp (or the +-20 clamp) is active
    expect = torch.tensor([[0.0, -(math.exp(-0.2) - 1) / 4, 0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(g, expect)


def test_token_mean_and_outcome_token_rewards():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert float(algos.token_mean(x, mask)) == pytest.approx((1 + 2 + 4) / 3)
    assert float(algos.token_mean(x, mask, denom=7.0)) == pytest.approx(1.0)
    assert float(algos.token_mean(x, torch.zeros_like(mask))) == 0.0
    tr = algos.outcome_token_rewards(torch.tensor([1.0, -1.0]), mask)
    torch.testing.assert_close(tr, torch.tensor([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]))


def test_entropy_bonus_stats_over_tokens_with_nonzero_advantage():
    adv = torch.tensor([[2.0, 2.0, 0.0], [-1.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    shaped = shape_advantages(adv, torch.tensor([[1.0, 5.0, 9.0], [0.5, 9.0, 9.0]]), alpha=0.4, kappa=2.0)
    # psi on the three tokens with A != 0: min(0.4 H, |A| / 2) = 0.4, 1.0, 0.2; psi/|A| = 0.2, 0.5, 0.2
    stats = algos.entropy_bonus_stats(adv, shaped, mask)
    assert stats["tokens"] == 3
    assert stats["psi_mean"] == pytest.approx(1.6 / 3) and stats["psi_ratio"] == pytest.approx(0.9 / 3)
    assert algos.entropy_bonus_stats(adv * 0, shaped * 0, mask) == {"psi_mean": 0.0, "psi_ratio": 0.0, "tokens": 0}


def test_groups_without_signal():
    adv = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]])
    gid = torch.tensor([0, 0, 1, 1, 3])  # group 2 has no row (dropped by --filter-groups)
    assert algos.groups_without_signal(adv, gid, 4).tolist() == [True, False, True, True]


def test_registries():
    assert algos.get_adv_estimator("grpo") is grpo_advantages
    assert algos.get_adv_estimator("gae") is gae_advantages
    assert algos.get_policy_loss("clip_higher") is policy_loss
    with pytest.raises(ValueError, match="unknown policy loss 'nope' .known: clip_cov, clip_higher, kl_cov"):
        algos.get_policy_loss("nope")
    with pytest.raises(ValueError, match="unknown advantage estimator"):
        algos.get_adv_estimator("nope")
    with pytest.raises(ValueError, match="already registered"):
        algos.register_policy_loss("clip_higher")(lambda *a, **k: None)
    with pytest.raises(ValueError, match="already registered"):
        algos.register_adv_estimator("grpo")(lambda *a, **k: None)
    assert algos.get_policy_loss("clip_higher") is policy_loss  # the first registration stands


def test_estimators_share_one_call():
    """The loop calls whichever estimator the config names with the same arguments."""
    from entropykit.train.config import TrainConfig

    r = torch.tensor([1.0, -1.0, -1.0, 1.0])
    mask = torch.ones(4, 3)
    values = torch.full((4, 3), 0.25)
    gid = torch.tensor([0, 0, 1, 1])
    out = {}
    for algo in ("grpo", "ppo"):
        cfg = TrainConfig(data="x", algo=algo)
        fn = algos.get_adv_estimator(cfg.adv_estimator)
        out[algo] = fn(outcome_token_rewards(r, mask), mask, group_ids=gid, values=values, **cfg.adv_estimator_kwargs())
        assert out[algo][0].shape == out[algo][1].shape == (4, 3)
    torch.testing.assert_close(out["grpo"][0], grpo_advantages(outcome_token_rewards(r, mask), mask, group_ids=gid)[0])
    torch.testing.assert_close(out["ppo"][1], r[:, None].expand(4, 3))  # GAE, gamma = lambda = 1: R_t = r
    assert not torch.equal(out["ppo"][0], out["grpo"][0])
    with pytest.raises(ValueError, match="group_ids"):
        grpo_advantages(outcome_token_rewards(r, mask), mask)
    with pytest.raises(ValueError, match="values"):
        gae_advantages(outcome_token_rewards(r, mask), mask)
