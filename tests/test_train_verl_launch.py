"""`entropykit train --engine verl` without veRL installed: the translation and the CLI contract.

(veRL's own acceptance of the generated config, the plugin and the reward run in
tests/verl_env with the real verl package.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import fake_verl_python
from entropykit.errors import UserError
from entropykit.train.config import TrainConfig
from entropykit.train.verl_launch import (
    PLUGIN_POLICY_LOSS_TARGET,
    VerlLaunch,
    VerlPaths,
    build_overrides,
    check_translatable,
    command_script,
    hydra_value,
)

EXE = str(Path(sys.executable).parent / "entropykit")
PATHS = VerlPaths(run=Path("/runs/x"), train=Path("/runs/x/verl/train.parquet"), val=None, model="Qwen/Qwen2.5-Math-7B")


def overrides(cfg: TrainConfig, launch: VerlLaunch | None = None, n: int = 17917) -> dict[str, str]:
    out = {}
    for o in build_overrides(cfg, launch or VerlLaunch(), PATHS, num_problems=n):
        key, value = o.split("=", 1)
        assert key not in out, f"{key} given twice"
        out[key] = value
    return out


def test_paper_grpo_defaults():
    o = overrides(TrainConfig(data="x"))
    # 512 prompts x 8 samples; mini-batches of 256 samples = 32 prompts (veRL counts prompts) -> 16 updates
    assert (o["data.train_batch_size"], o["actor_rollout_ref.rollout.n"], o["actor_rollout_ref.actor.ppo_mini_batch_size"]) == ("512", "8", "32")
    assert o["algorithm.adv_estimator"] == "grpo" and o["algorithm.norm_adv_by_std_in_grpo"] == "true"
    assert (o["actor_rollout_ref.actor.clip_ratio_low"], o["actor_rollout_ref.actor.clip_ratio_high"]) == ("0.2", "0.28")
    assert o["actor_rollout_ref.actor.optim.lr"] == "1e-06" and o["data.max_response_length"] == "8192"
    assert o["actor_rollout_ref.actor.loss_agg_mode"] == "token-mean" and o["actor_rollout_ref.actor.use_kl_loss"] == "false"
    assert o["actor_rollout_ref.actor.policy_loss._target_"] == PLUGIN_POLICY_LOSS_TARGET
    assert o["+actor_rollout_ref.actor.policy_loss.entropy_adv_alpha"] == "0.4"
    assert o["+actor_rollout_ref.actor.policy_loss.entropy_adv_kappa"] == "2.0"
    assert o["actor_rollout_ref.actor.calculate_entropy"] == "true"
    assert o["actor_rollout_ref.actor.entropy_from_logits_with_chunking"] == "true"
    assert o["actor_rollout_ref.actor.entropy_checkpointing"] == "true"
    assert o["actor_rollout_ref.actor.shuffle"] == "true" and o["actor_rollout_ref.actor.data_loader_seed"] == "0"
    assert o["reward.reward_manager.source"] == "importlib" and o["reward.reward_manager.name"] == "FinishReasonRewardManager"
    assert "+actor_rollout_ref.model.override_config.attn_implementation" not in o  # flash-attn present: veRL's default
    assert o["trainer.total_training_steps"] == "100" and o["trainer.total_epochs"] == "3"  # 17917 // 512 = 34 steps/epoch
    assert o["trainer.default_local_dir"] == "/runs/x/checkpoints" and o["trainer.critic_warmup"] == "0"
    assert "critic.model.path" not in o and "+ray_kwargs.ray_init.address" not in o


def test_paper_ppo_defaults():
    o = overrides(TrainConfig(data="x", algo="ppo"))
    assert o["algorithm.adv_estimator"] == "gae" and (o["algorithm.gamma"], o["algorithm.lam"]) == ("1.0", "1.0")
    assert o["+actor_rollout_ref.actor.policy_loss.entropy_adv_alpha"] == "0.1"
    assert o["critic.model.path"] == "Qwen/Qwen2.5-Math-7B" and o["critic.optim.lr"] == "2e-06"
    # veRL counts steps from 1 and updates the actor once critic_warmup <= step: 10 critic-only steps = 11
    assert o["trainer.critic_warmup"] == "11" and o["critic.cliprange_value"] == "0.5"
    assert o["critic.shuffle"] == "true"


def test_options_reach_verl():
    cfg = TrainConfig(data="x", entropy_adv=False, kl_coef=0.01, entropy_coef=0.001, warmup_steps=32, epochs=2)
    launch = VerlLaunch(nnodes=4, gpus_per_node=8, ray_address="auto",
                        extra=["trainer.total_training_steps=7", "+trainer.extra_key=1"])
    o = overrides(cfg, launch)
    assert not any("policy_loss" in k for k in o)  # entropy advantage off: veRL's loss untouched
    assert o["actor_rollout_ref.actor.use_kl_loss"] == "true" and o["actor_rollout_ref.actor.kl_loss_coef"] == "0.01"
    assert o["actor_rollout_ref.actor.kl_loss_type"] == "low_var_kl" and o["actor_rollout_ref.actor.entropy_coeff"] == "0.001"
    assert o["actor_rollout_ref.actor.optim.lr_warmup_steps"] == "1"  # 32 updates / 32 updates per step
    assert o["actor_rollout_ref.actor.ppo_epochs"] == "2"
    assert (o["trainer.nnodes"], o["trainer.n_gpus_per_node"], o["+ray_kwargs.ray_init.address"]) == ("4", "8", "auto")
    assert o["trainer.total_training_steps"] == "7" and o["+trainer.extra_key"] == "1"  # the user's overrides win


def test_hydra_values():
    assert hydra_value(True) == "true" and hydra_value(None) == "null" and hydra_value(1e-6) == "1e-06"
    assert hydra_value([0.9, 0.999]) == "[0.9,0.999]" and hydra_value(["console", "file"]) == "[console,file]"
    assert hydra_value("/data/train.parquet") == "/data/train.parquet" and hydra_value("Qwen/Qwen2.5-7B") == "Qwen/Qwen2.5-7B"
    assert hydra_value("pkg://a.b") == "'pkg://a.b'" and hydra_value("a b") == "'a b'"
    assert hydra_value("it's") == "'it\\'s'" and hydra_value("true") == "'true'" and hydra_value("7b") == "'7b'"


@pytest.mark.parametrize("bad, match", [
    (dict(filter_groups=True), "filter-groups"),
    (dict(chat=False), "chat template"),
    (dict(mini_batch_size=12, n_samples=8, prompts_per_step=6), "multiple of --n-samples"),
    (dict(lora_rank=8), "LoRA"),
])
def test_untranslatable_settings(bad, match):
    with pytest.raises(UserError, match=match):
        check_translatable(TrainConfig(data="x", **bad))


def test_more_prompts_than_problems():
    with pytest.raises(UserError, match="more than the 40 problems"):
        overrides(TrainConfig(data="x"), n=40)


def test_command_script_keeps_earlier_metrics(tmp_path):
    """Rerunning command.sh resumes; veRL's logger truncates its file, so the old one is kept."""
    metrics = tmp_path / "run dir" / "metrics.jsonl"
    metrics.parent.mkdir()
    script = tmp_path / "command.sh"
    script.write_text(command_script(["bash", "-c", f"echo new > '{metrics}'"], metrics))
    for attempt in ("first", "second"):
        if metrics.exists():
            metrics.write_text(attempt + "\n")
        assert subprocess.run(["bash", str(script)]).returncode == 0
    kept = sorted(p.read_text() for p in metrics.parent.glob("metrics.*.jsonl"))
    assert metrics.read_text() == "new\n" and kept == ["second\n"]


def _cli(*args):
    return subprocess.run([EXE, "train", *map(str, args)], capture_output=True, text=True, timeout=300)


def test_cli_dry_run_writes_verl_inputs(tmp_path, toy_dir):
    import pyarrow.parquet as pq

    from entropykit.benchmarks import load_problems

    run = tmp_path / "run"
    r = _cli("--engine", "verl", "--dry-run", "--data", "easy", "--model", toy_dir, "--out", run, "--prompts-per-step", "8",
             "--n-samples", "4", "--mini-batch-size", "8", "--steps", "2", "--gpus-per-node", "2", "--verl-arg", "trainer.save_freq=1", "--max-tokens", "64",
             "--verl-python", fake_verl_python(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(fake_verl_python(tmp_path) + " -m verl.trainer.main_ppo")  # the interpreter that has veRL
    assert "-m verl.trainer.main_ppo" in r.stdout and "trainer.n_gpus_per_node=2" in r.stdout and "trainer.save_freq=1" in r.stdout
    rows = pq.read_table(run / "verl" / "train.parquet").to_pylist()
    problems = load_problems("easy")
    assert len(rows) == len(problems) == 40
    cfg = TrainConfig(data="easy")
    for row, p in zip(rows, problems):
        assert row["prompt"] == [{"role": "user", "content": cfg.render_prompt(p["problem"])}]
        assert row["reward_model"]["ground_truth"] == str(p["answer"]) and row["data_source"] == "entropykit/easy"
    assert (run / "verl" / "command.sh").exists() and (run / "verl" / "launch.json").exists()


@pytest.mark.parametrize("args, message", [
    (["--engine", "verl", "--verl-python", "/nonexistent/python"], "verl is not installed there"),
    (["--dry-run"], "need --engine verl"),
    (["--engine", "verl", "--dry-run", "--filter-groups"], "filter-groups"),
    (["--engine", "spark"], "--engine must be native or verl"),
    (["--engine", "verl", "--dry-run", "--nnodes", "0"], "--nnodes"),
])
def test_cli_errors_are_one_line_exit_2(tmp_path, toy_dir, args, message):
    r = _cli(*args, "--data", "easy", "--model", toy_dir, "--out", tmp_path / "run", "--prompts-per-step", "8",
             "--n-samples", "4", "--mini-batch-size", "8")
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1
