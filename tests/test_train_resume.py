"""Checkpoint + `--resume`: the metrics after a resume equal those of an uninterrupted run."""

import json

import pytest
import torch
from conftest import run_cli, toy_config, write_toy_data

from entropykit.errors import UserError
from entropykit.io import read_jsonl
from entropykit.train.checkpoint import latest_checkpoint
from entropykit.train.data import build_toy_model, toy_reward
from entropykit.train.loop import resume_config, train

TIMING = {"tokens_per_s", "time_rollout", "time_scoring", "time_update", "time_step"}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("toyresume")
    model = build_toy_model(root / "model", seed=1)
    return model, write_toy_data(root / "toy.jsonl")


def cfg(toy, out, **kw):
    base = dict(steps=6, prompts_per_step=4, n_samples=4, max_tokens=4, mini_batch_size=8, micro_batch_size=4, lr=3e-3,
                critic_lr=6e-3, critic_warmup=2, save_every=2, seed=5)
    return toy_config(*toy, out, **{**base, **kw})


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


def test_resume_with_fewer_steps_is_refused_and_writes_nothing(toy, tmp_path):
    torch.set_num_threads(1)
    run = train(cfg(toy, tmp_path / "r", steps=2, save_every=1))
    before = {p: p.read_bytes() for p in (run / "config.json", run / "metrics.jsonl", run / "checkpoints" / "latest")}
    mtimes = {p: p.stat().st_mtime_ns for p in before}
    with pytest.raises(UserError, match="--steps 1 is below the 2 steps .* has already finished; give --steps 2 or more"):
        train(resume_config(run, steps=1), resume=True)
    lines = []
    assert train(resume_config(run, steps=2), resume=True, log=lines.append) == run  # finished: nothing to do
    assert lines and lines[-1].startswith("nothing to do")
    assert {p: p.read_bytes() for p in before} == before and {p: p.stat().st_mtime_ns for p in before} == mtimes
    assert json.loads((run / "config.json").read_text())["steps"] == 2


def test_stale_checkpoint_temp_folders_are_removed_and_modes_follow_the_umask(toy, tmp_path):
    import os
    import stat

    torch.set_num_threads(1)
    old = os.umask(0o002)
    try:
        run = train(cfg(toy, tmp_path / "r", steps=1, save_every=1))
        stale = run / "checkpoints" / ".step_000002.k1ll3d"  # a kill during a checkpoint write leaves this
        (stale / "policy").mkdir(parents=True)
        (stale / "policy" / "model.safetensors").write_bytes(b"half written")
        lines = []
        train(resume_config(run, steps=3), resume=True, log=lines.append)
    finally:
        os.umask(old)
    assert not stale.exists() and any(".step_000002.k1ll3d" in s for s in lines)
    ck = run / "checkpoints" / "step_000003"
    modes = {p.relative_to(ck).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in [ck, *ck.rglob("*")]}
    assert modes["."] == 0o775 and modes["policy"] == 0o775
    assert modes["policy/model.safetensors"] == 0o664 and modes["trainer_state.pt"] == 0o664
    assert set(modes.values()) == {0o775, 0o664}


def test_keep_checkpoints_and_policy_only_export(toy, tmp_path):
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(1)
    run = train(cfg(toy, tmp_path / "r", steps=3, save_every=1, keep_checkpoints=1))
    assert sorted(p.name for p in (run / "checkpoints").glob("step_*")) == ["step_000003"]
    out = tmp_path / "exported"
    assert run_cli("train", "export", run, "--out", out) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in (run / "checkpoints" / "step_000003" / "policy").iterdir())
    assert not (out / "trainer_state.pt").exists()
    a = AutoModelForCausalLM.from_pretrained(out)
    b = AutoModelForCausalLM.from_pretrained(run / "checkpoints" / "step_000003" / "policy")
    ids = torch.tensor([[12, 15, 16, 3]])
    torch.testing.assert_close(a(ids).logits, b(ids).logits, rtol=0, atol=0)

    half = tmp_path / "half"
    assert run_cli("train", "export", run, "--out", half, "--dtype", "bfloat16") == 0
    assert AutoModelForCausalLM.from_pretrained(half).dtype == torch.bfloat16
    size = lambda d: sum(p.stat().st_size for p in d.glob("*.safetensors"))  # noqa: E731
    assert size(half) < 0.6 * size(out)
    assert run_cli("train", "export", run, "--out", out) == 2  # exists already
    assert run_cli("train", "export", run, "--out", tmp_path / "x", "--step", "1") == 2  # not kept
    assert run_cli("train", "export", run, "--out", "/proc/entropykit-x") == 2  # unwritable
    assert not list(tmp_path.glob(".exported.*")) and not list(tmp_path.glob(".x.*"))
