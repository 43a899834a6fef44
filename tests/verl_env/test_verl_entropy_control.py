"""Clip-Cov, KL-Cov and the 80/20 mask against veRL 0.9.1 itself (issue 18): entropykit's losses
equal veRL's `compute_policy_loss_clip_cov` / `compute_policy_loss_kl_cov` on the same tensors
(Clip-Cov's random draw made deterministic by seeding the generator each side uses), the
launcher maps them to veRL's own `loss_mode`, and the plugin's mask gives the native loss on a
micro-batch built the way veRL's trainer builds it."""

from __future__ import annotations

import sys

import pytest
import torch
from test_verl_plugin import _batch
from verl_helpers import compose_ppo_trainer, launcher_overrides

from entropykit.train import algos
from entropykit.train import verl_plugin as plugin
from entropykit.train.config import TrainConfig


def _actor(toy_model, tmp_path, **kw):
    from verl.utils.config import omega_conf_to_dataclass

    cfg = TrainConfig(data="easy", model=toy_model, **kw)
    c = compose_ppo_trainer(launcher_overrides(cfg, toy_model, tmp_path))
    actor = omega_conf_to_dataclass(c.actor_rollout_ref.actor)
    actor.global_batch_info.clear()  # filled per micro-batch by veRL's ppo_loss; empty: the local token-mean
    return cfg, actor


def _tensors(seed, B=8, T=40):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(5, T + 1, (B,), generator=g)
    mask = (torch.arange(T)[None] < lengths[:, None]).to(torch.float64)
    adv = (torch.randn(B, generator=g, dtype=torch.float64) * 2)[:, None] * mask  # GRPO-like: one value per response
    old = -torch.rand(B, T, generator=g, dtype=torch.float64) * 5 * mask
    logp = (old + (torch.rand(B, T, generator=g, dtype=torch.float64) - 0.5) * 0.8 * mask).requires_grad_()
    return logp, old, adv, mask


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clip_cov_equals_verl(toy_model, tmp_path, seed):
    from verl.trainer.ppo.core_algos import compute_policy_loss_clip_cov

    cfg, actor = _actor(toy_model, tmp_path, loss_mode="clip_cov", clip_cov_ratio=0.02, entropy_adv=False)
    assert actor.policy_loss.loss_mode == "clip_cov" and actor.policy_loss.clip_cov_ratio == 0.02
    logp, old, adv, mask = _tensors(seed)
    torch.manual_seed(1000 + seed)  # veRL draws with torch's global generator
    v_loss, v_metrics = compute_policy_loss_clip_cov(old, logp, adv, mask, "token-mean", actor)
    (v_grad,) = torch.autograd.grad(v_loss, logp)
    out = algos.clip_cov_policy_loss(logp, old, adv, mask, generator=torch.Generator().manual_seed(1000 + seed),
                                     **cfg.policy_loss_kwargs())
    (n_grad,) = torch.autograd.grad(out.loss, logp)
    torch.testing.assert_close(out.loss, v_loss, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(n_grad, v_grad, rtol=1e-12, atol=1e-12)
    assert float(out.extra["cov_frac"]) == pytest.approx(v_metrics["actor/pg_clipfrac"], rel=1e-9)
    assert int(round(float(out.extra["cov_frac"]) * float(mask.sum()))) == max(int(0.02 * float(mask.sum())), 1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kl_cov_equals_verl(toy_model, tmp_path, seed):
    from verl.trainer.ppo.core_algos import compute_policy_loss_kl_cov

    cfg, actor = _actor(toy_model, tmp_path, loss_mode="kl_cov", kl_cov_ratio=0.05, entropy_adv=False)
    assert actor.policy_loss.loss_mode == "kl_cov" and actor.policy_loss.ppo_kl_coef == 0.1  # veRL's default
    logp, old, adv, mask = _tensors(seed)
    v_loss, _ = compute_policy_loss_kl_cov(old, logp, adv, mask, "token-mean", actor)
    (v_grad,) = torch.autograd.grad(v_loss, logp)
    out = algos.kl_cov_policy_loss(logp, old, adv, mask, **cfg.policy_loss_kwargs())
    (n_grad,) = torch.autograd.grad(out.loss, logp)
    torch.testing.assert_close(out.loss, v_loss, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(n_grad, v_grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", [dict(loss_mode="clip_cov"), dict(loss_mode="kl_cov"), dict(top_entropy_quantile=0.2),
                                    dict(loss_mode="clip_cov", entropy_adv=False)])
def test_main_ppo_accepts_each_method(toy_model, tmp_path, monkeypatch, method):
    import verl.trainer.main_ppo as main_ppo

    seen = {}
    monkeypatch.setattr(main_ppo, "run_ppo", lambda config, task_runner_class: seen.setdefault("config", config))
    overrides = launcher_overrides(TrainConfig(data="easy", model=toy_model, **method), toy_model, tmp_path / "run")
    monkeypatch.setattr(sys, "argv", ["main_ppo", *overrides])
    main_ppo.main()  # veRL's hydra entry point and validate_config
    pl = seen["config"].actor_rollout_ref.actor.policy_loss
    assert pl.loss_mode == {"clip_cov": "clip_cov", "kl_cov": "kl_cov"}.get(method.get("loss_mode"), "vanilla")
    assert pl.get("top_entropy_quantile", 1.0) == method.get("top_entropy_quantile", 1.0)
    assert (pl._target_ == plugin.__name__ + ".EntropyAdvPolicyLossConfig") == (method.get("entropy_adv", True) or "top_entropy_quantile" in method)


def test_plugin_mask_equals_the_native_loss_on_the_micro_batch(toy_model, tmp_path):
    """The mask through veRL: A' = A * [H >= quantile of the micro-batch's response tokens], then
    veRL's vanilla loss: the native clip-higher loss on the same masked advantages."""
    from verl.workers.utils import losses

    _, actor = _actor(toy_model, tmp_path, entropy_adv=False, top_entropy_quantile=0.25)
    assert plugin.mask_quantile(actor) == 0.25 and plugin.entropy_adv_settings(actor) is None
    td, out, t = _batch(seed=5)
    loss, metrics = losses.ppo_loss(actor, out, td)
    keep = algos.high_entropy_mask(t["ent"], t["mask"], 0.25)
    native = algos.policy_loss(t["logp"], t["old_logp"], t["adv"] * keep, t["mask"], eps_low=0.2, eps_high=0.28)
    torch.testing.assert_close(loss, native.loss, rtol=1e-12, atol=1e-12)
    (g_verl,) = torch.autograd.grad(loss, [t["logp"]])
    (g_native,) = torch.autograd.grad(native.loss, [t["logp"]])
    torch.testing.assert_close(g_verl, g_native, rtol=1e-12, atol=1e-12)
    assert metrics[plugin.METRIC_MASK].aggregate() == pytest.approx(float(keep.sum() / t["mask"].sum()))


def test_plugin_with_entropy_advantage_and_clip_cov(toy_model, tmp_path):
    """The entropy advantage composes with veRL's Clip-Cov: shaped advantages reach veRL's loss."""
    from verl.workers.utils import losses

    cfg, actor = _actor(toy_model, tmp_path, loss_mode="clip_cov", clip_cov_ratio=0.1)
    td, out, t = _batch(seed=6)
    torch.manual_seed(7)
    loss, _ = losses.ppo_loss(actor, out, td)
    shaped = algos.shape_advantages(t["adv"], t["ent"], 0.4, 2.0)
    native = algos.clip_cov_policy_loss(t["logp"], t["old_logp"], shaped, t["mask"], generator=torch.Generator().manual_seed(7),
                                        **cfg.policy_loss_kwargs())
    torch.testing.assert_close(loss, native.loss, rtol=1e-12, atol=1e-12)


def test_mask_with_a_covariance_loss_is_refused_by_the_config():
    with pytest.raises(ValueError, match="both choose the tokens"):
        plugin.EntropyAdvPolicyLossConfig(loss_mode="kl_cov", top_entropy_quantile=0.2)
