"""What the first real veRL run would hit, refused or fixed at launch (issue 15): the GPU layout,
the context window, overlong prompts and the epoch length, the interpreter, flash-attn, the
critic warm-up count, and the native trainer's own non-finite-gradient guard."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from entropykit.errors import UserError
from entropykit.train.config import TrainConfig
from entropykit.train.verl_launch import (
    VerlLaunch, VerlPaths, build_overrides, check_attention, check_context, check_gpu_layout, find_verl_python,
    fitting_problems, launch_verl,
)
from conftest import fake_verl_python

PAPER = TrainConfig(data="x")  # 512 prompts x 8 samples, mini-batches of 256 samples


@pytest.mark.parametrize("nodes", [3, 5, 6, 7])
def test_gpu_counts_that_do_not_divide_the_mini_batch_are_refused(nodes):
    with pytest.raises(UserError) as e:
        check_gpu_layout(PAPER, VerlLaunch(nnodes=nodes, gpus_per_node=8))
    msg = str(e.value)
    assert f"{nodes * 8} data-parallel GPUs do not divide the mini-batch of 256 samples" in msg
    assert "--nnodes 1, 2, 4, 8, 16, 32 (8 GPUs each)" in msg and len(msg.splitlines()) == 1


@pytest.mark.parametrize("nodes, gpus", [(1, 8), (2, 8), (4, 8), (8, 8), (32, 8), (1, 6 + 2), (3, 1)])
def test_gpu_counts_that_divide_are_accepted(nodes, gpus):
    if (256 % (nodes * gpus)) == 0:
        check_gpu_layout(PAPER, VerlLaunch(nnodes=nodes, gpus_per_node=gpus))
    else:
        with pytest.raises(UserError):
            check_gpu_layout(PAPER, VerlLaunch(nnodes=nodes, gpus_per_node=gpus))


def test_context_window_is_checked_with_the_prompt_budget():
    launch = VerlLaunch()  # prompts up to 1,024 tokens
    with pytest.raises(UserError, match="exceed the 4096-token context window of Qwen/Qwen2.5-Math-7B; use --max-tokens 3072 or less"):
        check_context(PAPER, launch, 4096, "Qwen/Qwen2.5-Math-7B")
    check_context(TrainConfig(data="x", max_tokens=3072), launch, 4096, "m")
    check_context(PAPER, launch, 32768, "m")
    check_context(PAPER, launch, None, "m")  # a config that does not say: nothing to check


@pytest.mark.parametrize("warmup, expected", [(0, 0), (1, 2), (10, 11)])
def test_critic_warmup_gives_the_native_number_of_critic_only_steps(warmup, expected):
    """veRL 0.9.1 (trainer_base.py `_step_once`): global_steps starts at 1 and the actor is updated
    when `critic_warmup <= global_steps`. Count the critic-only steps that rule gives."""
    cfg = TrainConfig(data="x", algo="ppo", critic_warmup=warmup)
    paths = VerlPaths(run=Path("/r"), train=Path("/r/t.parquet"), val=None, model="m")
    o = dict(x.split("=", 1) for x in build_overrides(cfg, VerlLaunch(), paths, num_problems=1024))
    value = int(o["trainer.critic_warmup"])
    assert value == expected
    critic_only = sum(1 for global_step in range(1, 50) if not value <= global_step)
    assert critic_only == warmup  # the native trainer's (and the paper's) count


def test_without_flash_attn_grpo_uses_sdpa_and_ppo_is_refused():
    notes = []
    check_attention(TrainConfig(data="x"), False, notes.append)
    assert len(notes) == 1 and "sdpa" in notes[0]
    paths = VerlPaths(run=Path("/r"), train=Path("/r/t.parquet"), val=None, model="m")
    o = dict(x.split("=", 1) for x in build_overrides(PAPER, VerlLaunch(), paths, num_problems=1024, flash_attn=False))
    assert o["+actor_rollout_ref.model.override_config.attn_implementation"] == "sdpa"
    with pytest.raises(UserError, match="critic with attn_implementation='flash_attention_2'"):
        check_attention(TrainConfig(data="x", algo="ppo"), False, notes.append)
    check_attention(TrainConfig(data="x", algo="ppo"), True, notes.append)  # flash-attn there: fine


def test_the_interpreter_must_have_verl(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))  # no .venv-verl beside this environment
    monkeypatch.setattr(sys, "executable", fake_verl_python(tmp_path, verl=None))
    with pytest.raises(UserError, match="verl is not installed in this environment and no .venv-verl beside it"):
        find_verl_python(VerlLaunch())
    # a .venv-verl beside it is found and named
    sibling = tmp_path / ".venv-verl" / "bin"
    sibling.mkdir(parents=True)
    (sibling / "python").write_text(Path(fake_verl_python(tmp_path, flash_attn=False)).read_text())
    (sibling / "python").chmod(0o755)
    notes = []
    found = find_verl_python(VerlLaunch(), notes.append)
    assert found.path == str(sibling / "python") and found.verl_version == "0.9.1" and not found.flash_attn
    assert str(sibling / "python") in notes[0]
    with pytest.raises(UserError, match="--verl-python /nope"):
        find_verl_python(VerlLaunch(python="/nope"))


def test_overlong_prompts_are_left_out_and_the_epoch_counts_the_rest(tmp_path, toy_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(toy_dir)
    problems = [{"problem_id": str(i), "problem": "one two " * (1 + 20 * (i % 2)), "answer": "1"} for i in range(20)]
    cfg = TrainConfig(data="x", prompt_template="raw", prompts_per_step=4, n_samples=2, mini_batch_size=8, steps=6)
    notes = []
    kept = fitting_problems(problems, cfg, tok, 30, "training", notes.append)
    assert [p["problem_id"] for p in kept] == [str(i) for i in range(0, 20, 2)]  # the 10 short ones
    assert "left out 10 of 20 training problems" in notes[0]
    paths = VerlPaths(run=Path("/r"), train=Path("/r/t.parquet"), val=None, model="m")
    o = dict(x.split("=", 1) for x in build_overrides(cfg, VerlLaunch(max_prompt_length=30), paths, num_problems=len(kept)))
    assert o["trainer.total_epochs"] == "3"  # 10 // 4 = 2 steps per epoch, 6 steps (20 rows would have said 2)
    with pytest.raises(UserError, match="every training prompt is longer than 1 tokens"):
        fitting_problems(problems, cfg, tok, 1, "training", notes.append)


def test_dry_run_refuses_a_response_beyond_the_context_window(tmp_path, toy_dir):
    cfg = TrainConfig(data="easy", model=toy_dir, out=str(tmp_path / "run"), prompts_per_step=8, n_samples=4, mini_batch_size=8)
    with pytest.raises(UserError, match="exceed the 2048-token context window.*use --max-tokens 1024 or less"):
        launch_verl(cfg, VerlLaunch(dry_run=True, gpus_per_node=2, python=fake_verl_python(tmp_path)), log=lambda s: None)
    assert not (tmp_path / "run").exists()


def test_dry_run_refuses_a_model_without_a_chat_template(tmp_path):
    from entropykit.train.data import build_toy_model

    bare = build_toy_model(tmp_path / "bare")
    cfg = TrainConfig(data="easy", model=bare, out=str(tmp_path / "run"), prompts_per_step=8, n_samples=4, mini_batch_size=8)
    with pytest.raises(UserError, match="no chat template"):
        launch_verl(cfg, VerlLaunch(dry_run=True, gpus_per_node=2, python=fake_verl_python(tmp_path)), log=lambda s: None)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_dry_run_records_the_environment_it_found(tmp_path, toy_dir):
    cfg = TrainConfig(data="easy", model=toy_dir, out=str(tmp_path / "run"), prompts_per_step=8, n_samples=4, mini_batch_size=8,
                      max_tokens=64)
    notes = []
    cmd = launch_verl(cfg, VerlLaunch(dry_run=True, gpus_per_node=2, python=fake_verl_python(tmp_path, flash_attn=False)),
                      log=notes.append, show=lambda s: None)
    launch = json.loads((tmp_path / "run" / "verl" / "launch.json").read_text())
    assert launch["verl"]["verl_version"] == "0.9.1" and launch["verl"]["flash_attn"] is False
    assert "+actor_rollout_ref.model.override_config.attn_implementation=sdpa" in cmd
    assert any("sdpa" in n for n in notes)


def test_native_trainer_skips_a_non_finite_gradient_and_counts_it(tmp_path, monkeypatch):
    """A nan gradient norm: no AdamW step (the weights stay), `skipped_updates` counts it, a warning."""
    from entropykit.train import loop
    from entropykit.train.data import build_toy_model, toy_problems

    model = build_toy_model(tmp_path / "toy")
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in toy_problems(8)))
    cfg = TrainConfig(model=model, data=str(data), reward="toy", prompt_template="raw", chat=False, out=str(tmp_path / "run"),
                      steps=1, prompts_per_step=2, n_samples=4, mini_batch_size=4, max_tokens=4, lr=1e-2, save_every=1,
                      tensorboard=False)
    real_clip = torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", lambda params, max_norm: real_clip(params, max_norm) * float("nan"))
    notes = []
    loop.train(cfg, log=notes.append)
    rec = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert rec["policy_updates"] == 2 and rec["skipped_updates"] == 2
    assert any("2 optimizer step(s) skipped" in n for n in notes)
    from transformers import AutoModelForCausalLM

    before = AutoModelForCausalLM.from_pretrained(model).state_dict()
    after = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "checkpoints" / "step_000001" / "policy").state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # no step was taken
