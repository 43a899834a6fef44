"""Rollouts from a colocated vLLM engine with the policy's weights pushed after every update.

Runs in the vLLM environment: `.venv-vllm/bin/python -m pytest tests/test_train_vllm.py -q`
(after scripts/setup_vllm.sh); skipped where vllm is not importable. If the weights were not
pushed, vLLM would keep sampling the initial random policy and the reward could not rise.

Known environment issue: on our CPU VMs vllm-cpu 0.32's attention kernel
(`cpu_attention_with_kv_cache`) sometimes dies with SIGILL on the first batch, before any
weight push (about half of the runs here; the same with float32 and bfloat16). A run that gets
past the first batch has passed every time.
"""

import json
import os

import pytest

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
vllm = pytest.importorskip("vllm")

pytestmark = pytest.mark.vllm


def test_grpo_with_vllm_rollouts_learns_the_toy_task(tmp_path):
    import torch

    from entropykit.io import atomic_write_text, read_jsonl
    from entropykit.train.config import TrainConfig
    from entropykit.train.data import build_toy_model, toy_problems
    from entropykit.train.loop import train

    torch.set_num_threads(1)
    # vLLM needs head_dim >= 64, and its CPU kernels crash on a 20-entry vocabulary: pad to 64
    model = build_toy_model(tmp_path / "model", hidden_size=64, vocab_size=64)
    data = tmp_path / "toy.jsonl"
    atomic_write_text(data, "".join(json.dumps(r) + "\n" for r in toy_problems()))
    cfg = TrainConfig(
        model=model, data=str(data), prompt_template="raw", chat=False, reward="toy", out=str(tmp_path / "run"),
        steps=40, prompts_per_step=4, n_samples=8, max_tokens=4, mini_batch_size=16, lr=3e-3, save_every=0,
        tensorboard=False, seed=0, device="cpu", rollout_backend="vllm",
        vllm_engine_kwargs={"enforce_eager": True, "max_model_len": 128, "dtype": "float32"},
    )
    recs = read_jsonl(train(cfg) / "metrics.jsonl")
    rewards = [r["reward_mean"] for r in recs]
    start, end = sum(rewards[:3]) / 3, sum(rewards[-3:]) / 3
    print(f"vllm rollouts: reward start {start:+.3f} end {end:+.3f}")
    assert start < -0.5 and end > 0.3
