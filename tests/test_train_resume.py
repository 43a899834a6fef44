"""Checkpoint + `--resume`: the metrics after a resume equal those of an uninterrupted run."""

import json

import pytest
import torch

from entropykit.errors import UserError
from entropykit.io import atomic_write_text, read_jsonl
from entropykit.train.checkpoint import latest_checkpoint
from entropykit.train.config import TrainConfig
from entropykit.train.data import build_toy_model, toy_problems, toy_reward
from entropykit.train.loop import resume_config, train

TIMING = {"tokens_per_s", "time_rollout", "time_scoring", "time_update", "time_step"}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toyresume")
    model = build_toy_model(root / "model", seed=1)
    data = root / "toy.jsonl"
    atomic_write_text(data, "".join(json.dumps(r) + "\n" for r in toy_problems()))
    return model, str(data)


def cfg(toy, out, **kw):
    model, data = toy
    base = dict(model=model, data=data, prompt_template="raw", chat=False, reward="toy", out=str(out), steps=6,
                prompts_per_step=4, n_samples=4, max_tokens=4, mini_batch_size=8, micro_batch_size=4, lr=3e-3,
                critic_lr=6e-3, critic_warmup=2, save_every=2, tensorboard=False, seed=5, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def strip(recs):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in recs]


@pytest.mark.parametrize("algo", ["grpo", "ppo"])
def test_resume_matches_uninterrupted_run(toy, tmp_path, algo):
    torch.set_num_threads(1)
    full = read_jsonl(train(cfg(toy, tmp_path / "full", algo=algo)) / "metrics.jsonl")

    # interrupted: killed while scoring step 4 (last checkpoint: step 2, metrics up to step 3)
    part = tmp_path / "part"
    calls = []

    def dying_reward(prompts, completions, answers):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return toy_reward(prompts, completions, answers)

    with pytest.raises(KeyboardInterrupt):
        train(cfg(toy, part, algo=algo), reward_fn=dying_reward)
    assert latest_checkpoint(part).name == "step_000002"
    assert len(read_jsonl(part / "metrics.jsonl")) == 3
    with open(part / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 4, "reward_mean": 0.1')  # a torn line from the kill
    resumed = train(resume_config(part, steps=6), resume=True)
    recs = read_jsonl(resumed / "metrics.jsonl")
    assert [r["step"] for r in recs] == list(range(1, 7))
    assert strip(recs) == strip(full)
    ck = latest_checkpoint(part)
    assert ck.name == "step_000006" and (ck / "policy" / "config.json").exists()
    assert len(list((part / "checkpoints").glob("step_*"))) == 2  # keep_checkpoints


def test_refuses_to_overwrite_a_run(toy, tmp_path):
    c = cfg(toy, tmp_path / "r", steps=1, save_every=0)
    train(c)
    with pytest.raises(UserError, match="already holds a run"):
        train(c)


def test_micro_batches_and_grad_checkpointing_do_not_change_training(toy, tmp_path):
    """Gradient accumulation (token-level denominators) and activation checkpointing are exact rewrites."""
    torch.set_num_threads(1)
    base = read_jsonl(train(cfg(toy, tmp_path / "a", steps=3, save_every=0, micro_batch_size=8)) / "metrics.jsonl")
    acc = read_jsonl(train(cfg(toy, tmp_path / "b", steps=3, save_every=0, micro_batch_size=2)) / "metrics.jsonl")
    ckp = read_jsonl(train(cfg(toy, tmp_path / "c", steps=3, save_every=0, micro_batch_size=2, grad_checkpointing=True)) / "metrics.jsonl")
    for other in (acc, ckp):
        for r0, r1 in zip(base, other):
            assert r0["reward_mean"] == r1["reward_mean"]
            for k in ("entropy", "pg_loss", "grad_norm", "approx_kl"):
                assert r1[k] == pytest.approx(r0[k], rel=1e-4, abs=1e-6), k
