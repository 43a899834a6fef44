"""The entropy-control methods beside the paper's (issue 18), against hand computations in plain
Python floats: Clip-Cov and KL-Cov's token selection and loss (Cui et al. 2025), the 80/20
high-entropy mask (Wang et al. 2025), and which combinations are refused. (Equality with veRL's
own functions: tests/verl_env/test_verl_entropy_control.py.)"""

from __future__ import annotations

import math

import pytest
import torch

from entropykit.errors import UserError
from entropykit.train import algos
from entropykit.train.config import TrainConfig

A = [2.0, -1.0, 0.0, 0.5, -2.0]
LOGP = [-0.5, -3.0, -1.0, -1.5, -4.0]


def _cov_terms(adv, logp):
    """cov_t = (A_t - mean A) (logp_t - mean logp), in plain Python."""
    ma, ml = sum(adv) / len(adv), sum(logp) / len(logp)
    return [(a - ma) * (lp - ml) for a, lp in zip(adv, logp)]


def _t(xs):
    return torch.tensor([xs], dtype=torch.float64)


def test_token_covariance_is_the_centered_product():
    cov = algos.token_covariance(_t(A), _t(LOGP), torch.ones(1, 5))
    assert cov[0].tolist() == pytest.approx(_cov_terms(A, LOGP), rel=1e-12)
    # padding takes no part in the means and gets 0
    padded = algos.token_covariance(_t(A + [9.0]), _t(LOGP + [9.0]), torch.tensor([[1, 1, 1, 1, 1, 0.0]]))
    assert padded[0, :5].tolist() == pytest.approx(_cov_terms(A, LOGP), rel=1e-12) and padded[0, 5] == 0


def test_clip_cov_cuts_the_gradient_of_the_chosen_high_covariance_tokens():
    cov = _cov_terms(A, LOGP)  # [3.14, 0.9, 0.22, 0.34, 3.86]: two tokens in (lb 1, ub 5)
    candidates = [t for t, c in enumerate(cov) if 1.0 < c < 5.0]
    assert candidates == [0, 4]
    logp = _t(LOGP).requires_grad_()
    # ratio 1 (on-policy): no token is clipped by the ratio; 0.4 * 5 tokens = 2 -> both candidates cut
    out = algos.clip_cov_policy_loss(logp, _t(LOGP), _t(A), torch.ones(1, 5), clip_cov_ratio=0.4)
    kept = [t for t in range(5) if t not in candidates]
    assert float(out.loss.detach()) == pytest.approx(sum(-A[t] for t in kept) / 5, rel=1e-12)  # -A rho, rho = 1
    (grad,) = torch.autograd.grad(out.loss, logp)
    assert grad[0].tolist() == pytest.approx([0.0 if t in candidates else -A[t] / 5 for t in range(5)], abs=1e-12)
    assert float(out.extra["cov_frac"]) == pytest.approx(2 / 5)
    assert float(out.extra["cov"]) == pytest.approx(sum(cov) / 5)
    assert float(out.extra["cov_selected"]) == pytest.approx((cov[0] + cov[4]) / 2)


def test_clip_cov_draws_n_of_the_candidates_with_its_generator():
    seen = set()
    for seed in range(20):  # 0.2 * 5 = 1 token of the two candidates, drawn by the generator
        g = torch.Generator().manual_seed(seed)
        out = algos.clip_cov_policy_loss(_t(LOGP), _t(LOGP), _t(A), torch.ones(1, 5), clip_cov_ratio=0.2, generator=g)
        cut = 0 if math.isclose(float(out.loss), (-A[1] - A[2] - A[3] - A[4]) / 5) else 4
        assert math.isclose(float(out.loss), sum(-A[t] for t in range(5) if t != cut) / 5)
        again = algos.clip_cov_policy_loss(_t(LOGP), _t(LOGP), _t(A), torch.ones(1, 5), clip_cov_ratio=0.2,
                                           generator=torch.Generator().manual_seed(seed))
        assert float(again.loss) == float(out.loss)  # the same seed, the same draw
        seen.add(cut)
    assert seen == {0, 4}


def test_clip_cov_leaves_ratio_clipped_tokens_to_the_ordinary_clip():
    old = _t(LOGP)
    logp = old.clone()
    logp[0, 0] += 1.0  # rho = e > 1.28 on a token with A > 0: the PPO clip already holds it
    cur = [LOGP[0] + 1.0] + LOGP[1:]
    cov = _cov_terms(A, cur)
    rho = [math.exp(c - o) for c, o in zip(cur, LOGP)]
    l1 = [-a * r for a, r in zip(A, rho)]
    l2 = [-a * min(max(r, 0.8), 1.28) for a, r in zip(A, rho)]
    clipped = [x2 > x1 for x1, x2 in zip(l1, l2)]
    candidates = [t for t in range(5) if 1.0 < cov[t] < 5.0 and not clipped[t]]
    assert clipped[0] and 1.0 < cov[0] < 5.0 and len(candidates) == 2  # token 0 would qualify but is clipped
    out = algos.clip_cov_policy_loss(logp, old, _t(A), torch.ones(1, 5), clip_cov_ratio=0.4)  # n = 2: both cut
    assert float(out.extra["cov_frac"]) == pytest.approx(2 / 5)
    expected = sum(max(l1[t], l2[t]) for t in range(5) if t not in candidates) / 5
    assert float(out.loss) == pytest.approx(expected, rel=1e-12)


def test_kl_cov_penalizes_the_largest_covariance_tokens():
    old = _t(LOGP)
    shift = [0.1, -0.2, 0.05, 0.3, -0.1]
    logp = (old + _t(shift)).requires_grad_()
    coef = 0.5
    out = algos.kl_cov_policy_loss(logp, old, _t(A), torch.ones(1, 5), kl_cov_ratio=0.4, kl_cov_coef=coef)
    cov = _cov_terms(A, [lp + s for lp, s in zip(LOGP, shift)])  # over the current log-probs
    top = sorted(range(5), key=lambda t: -cov[t])[:2]  # 0.4 * 5 = 2 tokens
    per = [-A[t] * math.exp(shift[t]) + (coef * abs(shift[t]) if t in top else 0.0) for t in range(5)]
    assert float(out.loss.detach()) == pytest.approx(sum(per) / 5, rel=1e-12)  # no ratio clipping in KL-Cov
    assert float(out.extra["cov_frac"]) == pytest.approx(2 / 5)
    (grad,) = torch.autograd.grad(out.loss, logp)
    expect = [(-A[t] * math.exp(shift[t]) + (coef * math.copysign(1, shift[t]) if t in top else 0.0)) / 5 for t in range(5)]
    assert grad[0].tolist() == pytest.approx(expect, rel=1e-12)


def test_at_least_one_token_is_selected_and_padding_never():
    mask = torch.tensor([[1, 1, 1, 0, 0.0]])
    out = algos.kl_cov_policy_loss(_t(LOGP), _t(LOGP), _t(A), mask)  # 2e-4 * 3 tokens -> 1 token
    assert float(out.extra["cov_frac"]) == pytest.approx(1 / 3)
    out = algos.clip_cov_policy_loss(_t(LOGP), _t(LOGP), _t(A), mask, clip_cov_lb=-100.0, clip_cov_ub=100.0)
    assert float(out.extra["cov_frac"]) == pytest.approx(1 / 3)


def test_high_entropy_mask_on_a_hand_built_batch():
    H = torch.tensor([[0.1, 2.0, 0.5, 9.0], [3.0, 0.2, 9.0, 9.0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0.0]])  # the 9.0s are padding
    # top 0.4 of the 5 tokens: quantile 0.6 of [0.1, 0.2, 0.5, 2.0, 3.0] = 0.5 + 0.4 * (2.0 - 0.5) = 1.1
    keep = algos.high_entropy_mask(H, mask, 0.4)
    assert keep.tolist() == [[False, True, False, False], [True, False, False, False]]
    assert algos.high_entropy_mask(H, mask, 1.0).tolist() == (mask > 0).tolist()  # 1 keeps every token
    ties = algos.high_entropy_mask(torch.ones(1, 4), torch.ones(1, 4), 0.25)
    assert ties.all()  # every token is at the quantile: all kept
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        algos.high_entropy_mask(H, mask, 0.0)


@pytest.mark.parametrize("bad, match", [
    (dict(loss_mode="clip_cov", top_entropy_quantile=0.2), "not a defined method"),
    (dict(loss_mode="kl_cov", top_entropy_quantile=0.5), "not a defined method"),
    (dict(top_entropy_quantile=0.0), r"\(0, 1\]"),
    (dict(top_entropy_quantile=1.5), r"\(0, 1\]"),
    (dict(clip_cov_ratio=0.0), "clip-cov-ratio"),
    (dict(clip_cov_lb=5.0, clip_cov_ub=1.0), "below --clip-cov-ub"),
    (dict(kl_cov_coef=-1.0), "kl-cov-coef"),
    (dict(kl_cov_coef=0.0), "unclipped policy gradient"),
])
def test_combinations_and_values_that_are_refused(bad, match):
    with pytest.raises(UserError, match=match):
        TrainConfig(data="x", **bad).validate()


@pytest.mark.parametrize("ok", [
    dict(loss_mode="clip_cov", entropy_adv=True), dict(loss_mode="kl_cov", entropy_coef=0.001),
    dict(top_entropy_quantile=0.2, entropy_adv=True), dict(top_entropy_quantile=0.2, algo="ppo"),
])
def test_combinations_that_compose(ok):
    cfg = TrainConfig(data="x", **ok).validate()
    kw = cfg.policy_loss_kwargs()
    assert set(kw) >= {"eps_low", "eps_high"}
    assert ("clip_cov_ratio" in kw) == (cfg.loss_mode == "clip_cov") and ("kl_cov_coef" in kw) == (cfg.loss_mode == "kl_cov")


def test_the_loop_masks_by_the_mini_batch_quantile_of_the_rollout_entropies(tmp_path):
    """Natively the 80/20 quantile is taken once per mini-batch over its response tokens, on the
    entropies of the policy that sampled them (the scoring pass), not per micro-batch: the
    gradient equals that of the clip loss with A = 0 outside that selection, however the
    mini-batch is split into micro-batches."""
    from transformers import AutoModelForCausalLM

    from entropykit.train.data import build_toy_model
    from entropykit.train.loop import Learner, Rollout, _policy_minibatch
    from entropykit.train.monitor import WeightedMeans
    from entropykit.train.policy import pack, policy_logprobs_entropy

    model = AutoModelForCausalLM.from_pretrained(build_toy_model(tmp_path / "toy")).eval()
    batch = pack([[15, 16, 17], [15, 17], [12, 13, 14, 15]], [[3, 4, 5, 1], [7, 8], [9, 2, 6]], pad_id=0)
    mask = batch.resp_mask
    g = torch.Generator().manual_seed(0)
    rollout_entropy = torch.rand(mask.shape, generator=g) * 3 * mask  # not the current forward's entropies
    adv = torch.tensor([[1.0], [-1.0], [0.5]]) * mask
    with torch.no_grad():
        old_logp, _ = policy_logprobs_entropy(model, batch, grad=False)

    def grads(cfg):
        model.zero_grad(set_to_none=True)
        params = [p for p in model.parameters()]
        opt = torch.optim.SGD(params, lr=0.0)  # a step that changes nothing: only the gradient is compared
        m = Learner(model, params, opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda u: 1.0),
                   lambda *a, **k: algos.policy_loss(*a, **k))
        ro = Rollout(batch, old_logp.clone(), rollout_entropy, None, None, adv=adv, returns=adv)
        st = WeightedMeans()
        _policy_minibatch(m, ro, torch.arange(3), mask.sum(), cfg, st)
        return [p.grad.clone() for p in params], st

    q = 0.3
    keep = algos.high_entropy_mask(rollout_entropy, mask, q)
    cfg = TrainConfig(data="x", entropy_adv=False, top_entropy_quantile=q, max_grad_norm=1e9)
    got, st = grads(cfg)
    split, _ = grads(TrainConfig(data="x", entropy_adv=False, top_entropy_quantile=q, max_grad_norm=1e9, micro_batch_size=1))
    model.zero_grad(set_to_none=True)
    logp, _ = policy_logprobs_entropy(model, batch, grad=True)
    algos.policy_loss(logp, old_logp, adv * keep, mask, denom=mask.sum()).loss.backward()
    want = [p.grad.clone() for p in model.parameters()]
    for a, b, c in zip(got, split, want):
        torch.testing.assert_close(a, c, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(b, c, rtol=1e-5, atol=1e-7)
    assert st.mean("entropy_mask_frac") == pytest.approx(float(keep.sum() / mask.sum()))
    assert 0 < int(keep.sum()) < int(mask.sum())
