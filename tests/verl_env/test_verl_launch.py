"""`entropykit train --engine verl` against the real veRL 0.9.1: config, data, reward, discovery."""

from __future__ import annotations

import json
import shlex
import subprocess
import tempfile
import sys

import pytest
from verl_helpers import compose_ppo_trainer, launcher_overrides

from entropykit.train.config import TrainConfig


@pytest.mark.parametrize("algo", ["grpo", "ppo"])
def test_main_ppo_accepts_the_generated_command(toy_model, tmp_path, monkeypatch, algo):
    """veRL's own entry point (hydra.main + validate_config) takes the launcher's overrides."""
    import verl.trainer.main_ppo as main_ppo

    seen = {}
    monkeypatch.setattr(main_ppo, "run_ppo", lambda config, task_runner_class: seen.setdefault("config", config))
    cfg = TrainConfig(data="easy", model=toy_model, algo=algo)  # the paper's defaults otherwise
    overrides = launcher_overrides(cfg, toy_model, tmp_path / "run", num_problems=17917)
    monkeypatch.setattr(sys, "argv", ["main_ppo", *overrides])
    main_ppo.main()
    c = seen["config"]
    actor = c.actor_rollout_ref.actor
    # appendix B: 512 prompts x 8 samples, mini-batches of 256 samples -> 16 updates per rollout
    assert c.data.train_batch_size == 512 and c.actor_rollout_ref.rollout.n == 8
    assert actor.ppo_mini_batch_size * c.actor_rollout_ref.rollout.n == 256
    assert c.data.train_batch_size // actor.ppo_mini_batch_size == 16
    assert (actor.clip_ratio_low, actor.clip_ratio_high, actor.loss_agg_mode) == (0.2, 0.28, "token-mean")
    assert actor.optim.lr == 1e-6 and c.data.max_response_length == 8192 and c.actor_rollout_ref.rollout.temperature == 1.0
    assert actor.policy_loss._target_ == "entropykit.train.verl_plugin.EntropyAdvPolicyLossConfig"
    assert actor.policy_loss.entropy_adv_alpha == {"grpo": 0.4, "ppo": 0.1}[algo]
    assert actor.policy_loss.entropy_adv_kappa == 2.0 and actor.calculate_entropy
    assert c.reward.custom_reward_function.reward_kwargs.reward == "math"
    assert actor.shuffle and actor.data_loader_seed == 0
    # chunked, checkpointed entropy: the copy veRL's FSDP engine reads is fsdp_config's
    assert actor.fsdp_config.entropy_from_logits_with_chunking and actor.fsdp_config.entropy_checkpointing
    assert (c.reward.reward_manager.source, c.reward.reward_manager.name) == ("importlib", "FinishReasonRewardManager")
    if algo == "ppo":
        assert c.algorithm.adv_estimator == "gae" and (c.algorithm.gamma, c.algorithm.lam) == (1.0, 1.0)
        assert c.critic.optim.lr == 2e-6 and c.critic.model.path == toy_model
        assert c.trainer.critic_warmup == 11 and c.critic.shuffle  # 10 critic-only steps under veRL's count (see below)
    else:
        assert c.algorithm.adv_estimator == "grpo" and c.trainer.critic_warmup == 0


def test_dry_run_writes_data_verl_reads(toy_model, tmp_path):
    """The parquet rows go through veRL's own RLHFDataset; the command is main_ppo's."""
    from omegaconf import OmegaConf
    from transformers import AutoTokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from entropykit.benchmarks import load_problems
    from entropykit.train.verl_launch import VerlLaunch, launch_verl

    cfg = TrainConfig(data="easy", model=toy_model, out=str(tmp_path / "run"), prompts_per_step=8, n_samples=4,
                      mini_batch_size=16, max_tokens=64, steps=3)
    shown = []
    cmd = launch_verl(cfg, VerlLaunch(dry_run=True, gpus_per_node=4), log=lambda s: None, show=shown.append)
    assert cmd[1:3] == ["-m", "verl.trainer.main_ppo"] and shown == [shlex.join(cmd)]
    folder = tmp_path / "run" / "verl"
    assert (folder / "command.sh").read_text().count("verl.trainer.main_ppo") == 1
    assert json.loads((folder / "launch.json").read_text())["command"] == cmd

    c = compose_ppo_trainer(cmd[3:])
    data_cfg = OmegaConf.merge(c.data, {"filter_overlong_prompts": False})
    ds = RLHFDataset(str(folder / "train.parquet"), AutoTokenizer.from_pretrained(toy_model), data_cfg)
    problems = load_problems("easy")
    assert len(ds) == len(problems)
    for i in (0, len(ds) - 1):
        row = ds[i]
        assert row["raw_prompt"] == [{"role": "user", "content": cfg.render_prompt(problems[i]["problem"])}]
        assert row["reward_model"]["ground_truth"] == str(problems[i]["answer"])
        assert row["data_source"] == "entropykit/easy"
        assert row["extra_info"]["problem_id"] == str(problems[i]["problem_id"])


GRADED = [  # (gold, response, reward)
    ("\\frac{1}{2}", "so the answer is \\boxed{0.5}", 1.0),
    ("\\frac{\\pi}{2}", "Therefore \\boxed{\\pi/2}.", 1.0),
    ("12", "we get \\boxed{13}", -1.0),
    ("12", "I do not know.", -1.0),
    ("x^2+1", "\\boxed{1 + x^2}", 1.0),
]


def test_reward_function_through_verl_loader(toy_model, tmp_path):
    """veRL's own loader (pkg:// path + reward_kwargs) calls entropykit's shared verifier."""
    from verl.trainer.ppo.reward import get_custom_reward_fn

    from entropykit.verify import verify_one

    cfg = TrainConfig(data="easy", model=toy_model)
    fn = get_custom_reward_fn(compose_ppo_trainer(launcher_overrides(cfg, toy_model, tmp_path)))
    for gold, response, reward in GRADED:
        out = fn(data_source="entropykit/test", solution_str=response, ground_truth=gold, extra_info={})
        assert out == {"score": reward, "acc": float(reward > 0)}, (gold, response)
        assert verify_one(gold, response).correct == (reward > 0)  # the very verifier the native trainer uses
    assert fn(data_source="x", solution_str="\\boxed{7}", ground_truth=["7"], extra_info={})["score"] == 1.0


def test_custom_reward_spec(toy_model, tmp_path):
    from verl.trainer.ppo.reward import get_custom_reward_fn

    cfg = TrainConfig(data="easy", model=toy_model, reward="toy")
    fn = get_custom_reward_fn(compose_ppo_trainer(launcher_overrides(cfg, toy_model, tmp_path)))
    assert fn(data_source="x", solution_str="the answer is 7", ground_truth="7", extra_info={"prompt": "say"})["score"] == 1.0
    assert fn(data_source="x", solution_str="the answer is 3", ground_truth="7", extra_info={})["score"] == -1.0


_PROBE = """
import json, sys
import verl
from verl.workers.utils import losses
import verl.workers.engine_workers as ew
import verl.trainer.distillation.losses as dl
print(json.dumps({
    "loaded_by_import_verl": "entropykit.train.verl_plugin" in sys.modules,
    "losses": f"{losses.ppo_loss.__module__}.{losses.ppo_loss.__name__}",
    "engine_workers": f"{ew.ppo_loss.__module__}.{ew.ppo_loss.__name__}",
    "distillation": f"{dl.ppo_loss.__module__}.{dl.ppo_loss.__name__}",
}))
if len(sys.argv) > 1:  # what veRL's worker does in init_model: instantiate the actor config
    from omegaconf import OmegaConf
    from verl.utils.config import omega_conf_to_dataclass
    omega_conf_to_dataclass(OmegaConf.create({"_target_": "entropykit.train.verl_plugin.EntropyAdvPolicyLossConfig",
                                              "entropy_adv_alpha": 0.4}))
    print(json.dumps({"engine_workers": f"{ew.ppo_loss.__module__}.{ew.ppo_loss.__name__}"}))
"""
WRAPPED = "entropykit.train.verl_plugin.entropy_shaped_ppo_loss"
ORIGINAL = "verl.workers.utils.losses.ppo_loss"


def _probe(env_extra: dict, *args: str) -> list[dict]:
    import os

    env = {**os.environ, **env_extra}
    # cwd outside the checkout: `-c` puts the cwd first on sys.path, where a stale
    # entropykit.egg-info (from an old editable build) would hide the installed entry points
    r = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, env=env, timeout=300,
                       cwd=tempfile.gettempdir())
    assert r.returncode == 0, r.stderr[-2000:]
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]


def test_plugin_discovered_by_import_verl_in_fresh_process():
    (probe,) = _probe({})
    assert probe == {"loaded_by_import_verl": True, "losses": WRAPPED, "engine_workers": WRAPPED, "distillation": WRAPPED}


def test_config_installs_plugin_when_entry_points_are_off():
    """VERL_USE_EXTERNAL_PLUGINS=none: the config's _target_ still installs the wrapper, also
    into engine_workers' own binding (imported before), as in a veRL worker's init_model."""
    before, after = _probe({"VERL_USE_EXTERNAL_PLUGINS": "none"}, "instantiate")
    assert before["loaded_by_import_verl"] is False and before["engine_workers"] == ORIGINAL
    assert after["engine_workers"] == WRAPPED


def test_launcher_preflight_passes_here():
    from entropykit.train.verl_launch import preflight

    preflight(sys.executable)
