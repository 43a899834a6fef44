"""What the first real veRL run would meet (issue 15), checked against veRL 0.9.1 itself: the
critic warm-up rule, the finish reason reaching the reward through veRL's reward-manager loader,
the ppo_loss bindings, and the psi metrics weighted by A != 0 tokens through veRL's own metric
aggregation over uneven micro-batches."""

from __future__ import annotations

import functools
import inspect
import sys
import types

import numpy as np
import pytest
import torch
from test_verl_plugin import ALPHA, KAPPA, _batch, actor_config  # noqa: F401 (fixture)
from verl_helpers import compose_ppo_trainer, launcher_overrides

from entropykit.train import algos
from entropykit.train import verl_plugin as plugin
from entropykit.train.config import TrainConfig


def test_verl_counts_steps_from_one_and_warms_up_with_less_or_equal():
    """The rule the launcher's `critic_warmup + 1` is written against (trainer_base.py, v1 trainer)."""
    from verl.trainer.ppo.v1 import trainer_base

    src = inspect.getsource(trainer_base)
    assert "if self.config.trainer.critic_warmup <= self.global_steps:" in src
    fit = inspect.getsource(trainer_base.PPOTrainer.fit)
    assert fit.index("self.global_steps += 1") < fit.index("while ")  # step 1 is the first step


def _manager(toy_model, tmp_path, reward: str, max_tokens: int = 4):
    from transformers import AutoTokenizer
    from verl.trainer.ppo.reward import load_reward_manager

    cfg = TrainConfig(data="easy", model=toy_model, reward=reward, max_tokens=max_tokens)
    config = compose_ppo_trainer(launcher_overrides(cfg, toy_model, tmp_path))
    return load_reward_manager(config, AutoTokenizer.from_pretrained(toy_model))  # veRL's own loader


def _sample(tok, response: str, *, eos: bool, gold: str = "5"):
    """One sample as veRL's agent loop hands it to `run_single` (unpadded)."""
    from verl import DataProto

    prompt = torch.tensor([tok.convert_tokens_to_ids(["say", "a", "number"])])
    ids = tok.convert_tokens_to_ids(response.split()) + ([tok.eos_token_id] if eos else [])
    resp = torch.tensor([ids])
    seq = torch.cat([prompt, resp], 1)
    shared = {"index": 3}  # the n samples of a prompt share one extra_info dict
    return DataProto.from_dict(
        tensors={"prompts": prompt, "responses": resp, "input_ids": seq, "attention_mask": torch.ones_like(seq),
                 "position_ids": torch.arange(seq.shape[1])[None]},
        non_tensors={"data_source": np.array(["entropykit/test"], dtype=object),
                     "reward_model": np.array([{"ground_truth": gold}], dtype=object),
                     "extra_info": np.array([shared], dtype=object)}), shared


@pytest.mark.parametrize("response, eos, score", [
    ("the answer is 5", False, -1.0),  # fills the 4-token limit: cut off, and no explicit answer marker
    ("the answer is", True, -1.0),
    ("answer is 5", True, 1.0),  # ended: a closing statement counts
    ("answer is 5", False, 1.0),  # 3 tokens < 4: ended without an eos only because the limit was not reached
])
def test_truncated_response_is_graded_as_natively(toy_model, tmp_path, response, eos, score):
    from entropykit.verify import grade

    mgr = _manager(toy_model, tmp_path, "math")
    data, shared = _sample(mgr.tokenizer, response, eos=eos)
    out = mgr.loop.run_until_complete(mgr.run_single(data))
    assert out["reward_score"] == score
    assert "finish_reason" not in shared  # the dict the other samples share is left alone
    finish = "length" if len(response.split()) >= 4 and not eos else "stop"
    assert grade("5", response, finish_reason=finish).correct == (score > 0)  # the rule the native trainer applies


def test_custom_reward_gets_the_finish_reason(toy_model, tmp_path, monkeypatch):
    seen = []
    mod = types.ModuleType("ek_reward_probe")
    mod.reward = lambda prompts, completions, answers, finish_reasons: seen.extend(finish_reasons) or [0.0]
    monkeypatch.setitem(sys.modules, "ek_reward_probe", mod)
    mgr = _manager(toy_model, tmp_path, "ek_reward_probe:reward")
    for response, eos in (("1 2 3 4", False), ("1 2", True)):
        data, _ = _sample(mgr.tokenizer, response, eos=eos)
        mgr.loop.run_until_complete(mgr.run_single(data))
    assert seen == ["length", "stop"]


def test_every_binding_of_ppo_loss_is_the_wrapper_and_an_unwrappable_one_fails_loudly(monkeypatch):
    from verl.workers.utils import losses

    assert losses.ppo_loss is plugin.entropy_shaped_ppo_loss
    for name, mod in list(sys.modules.items()):  # no loaded module still holds veRL's own loss
        if name != plugin.__name__:
            assert all(v is not plugin._original_ppo_loss for v in vars(mod).values()), name

    def original(*a):
        return "veRL"

    def wrapper(*a):
        return "wrapped"

    late = types.ModuleType("recipe_binding_late")
    late.ppo_loss, late.other = original, len
    monkeypatch.setitem(sys.modules, "recipe_binding_late", late)
    assert plugin.rebind_everywhere(original, wrapper) == ["recipe_binding_late.ppo_loss"] and late.ppo_loss is wrapper
    held = types.ModuleType("recipe_binding_partial")
    held.loss_fn = functools.partial(original, 1)
    monkeypatch.setitem(sys.modules, "recipe_binding_partial", held)
    with pytest.raises(plugin.UnsupportedVerlError, match="recipe_binding_partial.loss_fn \\(a functools.partial\\)"):
        plugin.rebind_everywhere(original, wrapper)


def test_engine_hook_is_installed():
    from verl.workers.engine.fsdp.transformer_impl import FSDPEngine

    assert getattr(FSDPEngine.forward_backward_batch, "_entropykit", False)


def test_psi_metrics_weighted_by_nonzero_tokens_across_uneven_micro_batches(actor_config, monkeypatch):  # noqa: F811
    """Two micro-batches of 2 and 6 responses of one mini-batch, aggregated by veRL's own code
    (append_to_dict per micro-batch, Metric.aggregate_dp): the native trainer's weighted mean."""
    from verl.utils import tensordict_utils as tu
    from verl.utils.metric import Metric
    from verl.utils.py_functional import append_to_dict

    _, actor = actor_config
    micro = [_batch(seed=10, B=2), _batch(seed=11, B=6)]
    total = sum(plugin.nonzero_advantage_tokens(td) for td, _, _ in micro)
    monkeypatch.setattr(plugin, "_original_ppo_loss", lambda config, out, data, dp_group=None: (torch.zeros(()), {}))
    collected: dict = {}
    for td, out, _ in micro:
        tu.assign_non_tensor(td, **{plugin.NONZERO_ADV_TOKENS: total})
        _, metrics = plugin.entropy_shaped_ppo_loss(actor, out, td)
        append_to_dict(collected, metrics)
    got = {k: Metric.aggregate_dp([v]) for k, v in collected.items()}  # one dp rank: v holds one value per micro-batch

    # native: one WeightedMeans over the micro-batches, weights = A != 0 tokens
    adv = [t["adv"] for _, _, t in micro]
    stats = [algos.entropy_bonus_stats(t["adv"], algos.shape_advantages(t["adv"], t["ent"], ALPHA, KAPPA), t["mask"])
             for _, _, t in micro]
    n = sum(s["tokens"] for s in stats)
    assert n == total == sum(int(((a != 0) & (t["mask"] > 0)).sum()) for a, (_, _, t) in zip(adv, micro))
    want_ratio = sum(s["psi_ratio"] * s["tokens"] for s in stats) / n
    want_psi = sum(s["psi_mean"] * s["tokens"] for s in stats) / n
    assert got[plugin.METRIC_PSI_RATIO] == pytest.approx(want_ratio, rel=1e-12)
    assert got[plugin.METRIC_PSI] == pytest.approx(want_psi, rel=1e-12)
    unweighted = np.mean([s["psi_ratio"] for s in stats])
    assert abs(unweighted - want_ratio) > 1e-3  # the test can tell the two weightings apart
