"""entropykit.train.verl_plugin against the real veRL 0.9.1 actor loss.

The micro-batch is built the way veRL's trainer builds it (a left/right-padded batch through
veRL's own `left_right_2_no_padding`), the model output as veRL's FSDP engine returns it
(log-probs and entropies as jagged tensors over whole prompt+response sequences, position j
predicting token j+1), and the actor config is veRL's own, composed from its ppo_trainer.yaml
with the overrides `entropykit train --engine verl` writes.
"""

from __future__ import annotations

import pytest
import torch
from verl_helpers import compose_ppo_trainer, launcher_overrides

from entropykit.train import algos
from entropykit.train import verl_plugin as plugin
from entropykit.train.config import TrainConfig

ALPHA, KAPPA = 0.4, 2.0


@pytest.fixture(scope="module")
def actor_config(toy_model, tmp_path_factory):
    """veRL's FSDP actor config with the launcher's GRPO overrides (entropy advantage on)."""
    from verl.utils.config import omega_conf_to_dataclass

    cfg = TrainConfig(data="easy", model=toy_model)
    c = compose_ppo_trainer(launcher_overrides(cfg, toy_model, tmp_path_factory.mktemp("run")))
    return c, omega_conf_to_dataclass(c.actor_rollout_ref.actor)


def _batch(seed: int = 0, B: int = 6, P: int = 5, R: int = 7, dtype=torch.float64):
    """(micro-batch TensorDict, model_output, padded views) as veRL's actor loss receives them."""
    from verl.utils import tensordict_utils as tu
    from verl.workers.utils.padding import left_right_2_no_padding

    g = torch.Generator().manual_seed(seed)
    p_len = torch.randint(1, P + 1, (B,), generator=g)
    r_len = torch.randint(1, R + 1, (B,), generator=g)
    r_len[0] = R  # one full-length response
    pos_p, pos_r = torch.arange(P), torch.arange(R)
    prompt_mask = (pos_p[None, :] >= P - p_len[:, None]).long()  # left padded
    resp_mask = (pos_r[None, :] < r_len[:, None]).long()  # right padded
    prompts = torch.randint(2, 20, (B, P), generator=g) * prompt_mask
    responses = torch.randint(2, 20, (B, R), generator=g) * resp_mask
    attention = torch.cat([prompt_mask, resp_mask], 1)
    m = resp_mask.to(dtype)
    # GRPO-like advantages: one value per response, zero for some (equal-reward groups), masked
    adv_row = torch.randn(B, generator=g, dtype=dtype)
    adv_row[1] = 0.0
    adv = adv_row[:, None] * m
    old_logp = -torch.rand(B, R, generator=g, dtype=dtype) * 3 * m
    # |log ratio| <= 0.8: ratios reach both clip edges (0.8, 1.28) but stay below the dual-clip
    # bound 3 (both losses have it, with the same c = 3)
    logp_resp = ((old_logp + (torch.rand(B, R, generator=g, dtype=dtype) * 1.6 - 0.8)) * m).requires_grad_()
    ent_resp = (torch.rand(B, R, generator=g, dtype=dtype) * 4 * m).requires_grad_()
    td = tu.get_tensordict({
        "input_ids": torch.cat([prompts, responses], 1), "attention_mask": attention,
        "position_ids": (attention.cumsum(1) - 1).clamp_min(0), "prompts": prompts, "responses": responses,
        "response_mask": resp_mask, "old_log_probs": old_logp, "advantages": adv,
    })
    td = left_right_2_no_padding(td)
    tu.assign_non_tensor(td, dp_size=1, batch_num_tokens=int(resp_mask.sum()), global_batch_size=B)

    def jagged(resp_values):  # whole sequences; position p_i - 1 + t carries response token t
        rows = []
        for i in range(B):
            junk = torch.full((int(p_len[i]) + int(r_len[i]),), 123.0, dtype=dtype)
            idx = torch.arange(int(r_len[i])) + int(p_len[i]) - 1
            rows.append(junk.index_put((idx,), resp_values[i, : int(r_len[i])]))
        offsets = torch.cat([torch.zeros(1, dtype=torch.long), (p_len + r_len).cumsum(0)])
        return torch.nested.nested_tensor_from_jagged(torch.cat(rows), offsets=offsets)

    model_output = {"log_probs": jagged(logp_resp), "entropy": jagged(ent_resp)}
    return td, model_output, dict(logp=logp_resp, old_logp=old_logp, adv=adv, ent=ent_resp, mask=m)


def test_config_selects_the_plugin(actor_config):
    _, actor = actor_config
    assert isinstance(actor.policy_loss, plugin.EntropyAdvPolicyLossConfig)
    assert plugin.entropy_adv_settings(actor) == (ALPHA, KAPPA)
    assert actor.calculate_entropy and actor.clip_ratio_low == 0.2 and actor.clip_ratio_high == 0.28
    assert plugin.installed()


def test_loss_equals_native_loss(actor_config):
    """veRL's ppo_loss through the plugin == native clip-higher token-mean loss on shaped A."""
    from verl.workers.utils import losses

    _, actor = actor_config
    td, out, t = _batch()
    loss, metrics = losses.ppo_loss(actor, out, td)  # the module attribute veRL's workers bind
    shaped = algos.shape_advantages(t["adv"], t["ent"], ALPHA, KAPPA)
    native = algos.policy_loss(t["logp"], t["old_logp"], shaped, t["mask"], eps_low=0.2, eps_high=0.28)
    assert float(native.clip_frac_low) > 0 and float(native.clip_frac_high) > 0  # both clip edges exercised
    torch.testing.assert_close(loss, native.loss, rtol=1e-12, atol=1e-12)

    g_verl, g_ent = torch.autograd.grad(loss, [t["logp"], t["ent"]], allow_unused=True)
    (g_native,) = torch.autograd.grad(native.loss, [t["logp"]])
    torch.testing.assert_close(g_verl, g_native, rtol=1e-12, atol=1e-12)
    assert g_ent is None or not g_ent.any()  # psi is a constant: no gradient through the entropy

    stats = algos.entropy_bonus_stats(t["adv"], shaped, t["mask"])
    assert metrics[plugin.METRIC_PSI].aggregate() == pytest.approx(stats["psi_mean"], rel=1e-12)
    assert metrics[plugin.METRIC_PSI_RATIO].aggregate() == pytest.approx(stats["psi_ratio"], rel=1e-12)
    assert 0 < stats["psi_ratio"] <= 1 / KAPPA


def test_loss_differs_from_unshaped(actor_config):
    """The shaping really reaches the loss (the same batch without it gives another value)."""
    from verl.workers.utils import losses

    _, actor = actor_config
    td, out, t = _batch(seed=1)
    loss, _ = losses.ppo_loss(actor, out, td)
    plain = algos.policy_loss(t["logp"], t["old_logp"], t["adv"], t["mask"], eps_low=0.2, eps_high=0.28)
    assert abs(float(loss.detach()) - float(plain.loss.detach())) > 1e-3


class _Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, config, model_output, data, dp_group=None):
        self.calls.append((config, model_output, data, dp_group))
        return torch.zeros(()), {}


@pytest.mark.parametrize("layout", ["dense", "nested"])
def test_wrapper_passes_entropy_and_shapes_advantages_exactly(actor_config, monkeypatch, layout):
    _, actor = actor_config
    td, out, t = _batch(seed=2)
    expected = algos.shape_advantages(t["adv"], t["ent"], ALPHA, KAPPA)
    if layout == "nested":  # one row per response, as a jagged tensor
        lengths = t["mask"].sum(1).long()
        offsets = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)])
        td["advantages"] = torch.nested.nested_tensor_from_jagged(t["adv"][t["mask"] > 0], offsets=offsets)
    before = td["advantages"]
    rec = _Recorder()
    monkeypatch.setattr(plugin, "_original_ppo_loss", rec)

    _, metrics = plugin.entropy_shaped_ppo_loss(actor, out, td, dp_group="dp")
    (config, model_output, data, dp_group), = rec.calls
    assert config is actor and model_output is out and dp_group == "dp"
    assert model_output["entropy"] is out["entropy"] and model_output["log_probs"] is out["log_probs"]
    got = data["advantages"]
    assert got.is_nested == (layout == "nested")
    if layout == "nested":
        assert torch.equal(got.offsets(), before.offsets())
        assert torch.equal(got.values(), expected[t["mask"] > 0])
    else:
        assert torch.equal(got, expected)
    assert td["advantages"] is before  # the caller's batch is untouched (PPO epochs reuse it)
    for key in ("old_log_probs", "response_mask", "responses"):
        assert data[key] is td[key]
    assert data["batch_num_tokens"] == td["batch_num_tokens"]
    assert set(metrics) == {plugin.METRIC_PSI, plugin.METRIC_PSI_RATIO}


def test_off_without_alpha_is_verl_untouched(actor_config, monkeypatch):
    import dataclasses

    _, actor = actor_config
    off = dataclasses.replace(actor, policy_loss=dataclasses.replace(actor.policy_loss, entropy_adv_alpha=None))
    td, out, _ = _batch(seed=3)
    rec = _Recorder()
    monkeypatch.setattr(plugin, "_original_ppo_loss", rec)
    assert plugin.entropy_adv_settings(off) is None
    plugin.entropy_shaped_ppo_loss(off, out, td)
    assert len(rec.calls) == 1 and rec.calls[0][2] is td  # the very same batch: no shaping


def test_missing_entropy_fails_loudly(actor_config):
    _, actor = actor_config
    td, out, _ = _batch(seed=4)
    del out["entropy"]
    with pytest.raises(RuntimeError, match="calculate_entropy=True"):
        plugin.entropy_shaped_ppo_loss(actor, out, td)


def test_bad_settings_rejected_by_verl_config_loading(toy_model, tmp_path):
    from hydra.errors import InstantiationException
    from verl.utils.config import omega_conf_to_dataclass

    cfg = TrainConfig(data="easy", model=toy_model)
    ov = launcher_overrides(cfg, toy_model, tmp_path)
    bad = [o.replace("entropy_adv_kappa=2.0", "entropy_adv_kappa=1.0") for o in ov]
    c = compose_ppo_trainer(bad)
    with pytest.raises(InstantiationException, match="kappa must be > 1"):
        omega_conf_to_dataclass(c.actor_rollout_ref.actor)


def test_version_check():
    plugin.check_verl_version("0.9.1")
    plugin.check_verl_version("0.9.7")
    for v in ("0.8.5", "0.9.0", "0.10.0", "1.0.0"):
        with pytest.raises(plugin.UnsupportedVerlError, match="supports verl >= 0.9.1"):
            plugin.check_verl_version(v)
