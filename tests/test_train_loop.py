"""What the loop trains on and tells the user: sampled stop tokens, finish reasons, steps that
cannot learn, the plan printed before a run."""

import pytest
import torch
from conftest import toy_config, write_toy_data

from entropykit.io import read_jsonl
from entropykit.train import loop, monitor
from entropykit.train.config import TrainConfig
from entropykit.train.data import TOY_WORDS, build_toy_model, toy_reward

END_WORDS = ("<eos>", "say", "please")  # the tokenizer's eos and two more end tokens of the model


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The toy model with three end-of-sequence ids in its generation config (like chat models
    that stop on <|im_end|> or <|endoftext|>); the tokenizer's own eos is only the first."""
    from transformers import GenerationConfig

    root = tmp_path_factory.mktemp("loop")
    model = build_toy_model(root / "model", seed=2)
    gc = GenerationConfig.from_pretrained(model)
    gc.eos_token_id = [TOY_WORDS.index(w) for w in END_WORDS]
    gc.save_pretrained(model)
    return model, write_toy_data(root / "toy.jsonl")


def cfg(toy, out, **kw):
    base = dict(steps=1, prompts_per_step=4, n_samples=8, max_tokens=6, mini_batch_size=16, lr=1e-3, seed=0)
    return toy_config(*toy, out, **{**base, **kw})


def test_trains_on_the_sampled_ids_with_any_end_token_and_passes_finish_reasons(toy, tmp_path, monkeypatch):
    from entropykit.generation import HFGenerator

    torch.set_num_threads(1)
    sampled, packed, seen = [], [], []
    real_generate, real_pack = HFGenerator.generate, loop.pack

    def generate(self, *a, **kw):
        out = real_generate(self, *a, **kw)
        sampled.extend(c for comps in out for c in comps)
        return out

    def spy_pack(prompt_ids, response_ids, pad_id):
        batch = real_pack(prompt_ids, response_ids, pad_id)
        packed.append(([list(r) for r in response_ids], batch))
        return batch

    def reward(prompts, completions, answers, finish_reasons):
        seen.append(list(finish_reasons))
        return toy_reward(prompts, completions, answers)

    monkeypatch.setattr(HFGenerator, "generate", generate)
    monkeypatch.setattr(loop, "pack", spy_pack)
    loop.train(cfg(toy, tmp_path / "run", steps=2), reward_fn=reward)

    end_ids = {TOY_WORDS.index(w) for w in END_WORDS}
    stops = [c for c in sampled if c.finish_reason == "stop"]
    assert all(c.token_ids[-1] in end_ids for c in stops)
    assert all(not set(c.token_ids) & end_ids for c in sampled if c.finish_reason == "length")
    # some samples stopped on an end token that is not the tokenizer's eos: these must be trained as sampled
    assert sum(c.token_ids[-1] != TOY_WORDS.index("<eos>") for c in stops) >= 5
    assert len(packed) == 2 and len(sampled) == 2 * 32
    responses = [r for rs, _ in packed for r in rs]
    assert responses == [c.token_ids for c in sampled]  # exactly the sampled ids, stop token included
    for rs, batch in packed:  # ... and the targets of the policy forward are those ids
        for i, r in enumerate(rs):
            assert batch.targets[i, : len(r)].tolist() == r and int(batch.resp_mask[i].sum()) == len(r)
    assert [f for fs in seen for f in fs] == [c.finish_reason for c in sampled]  # reward saw the finish reasons


def test_steps_without_signal_are_counted_and_warned(toy, tmp_path):
    torch.set_num_threads(1)
    lines = []

    def all_wrong(prompts, completions, answers):
        return [-1.0] * len(completions)

    run = loop.train(cfg(toy, tmp_path / "dead", steps=2), reward_fn=all_wrong, log=lines.append)
    recs = read_jsonl(run / "metrics.jsonl")
    assert [r["zero_adv_group_frac"] for r in recs] == [1.0, 1.0]
    assert all(r["grad_norm"] == 0.0 for r in recs)  # nothing to learn: the gradient is exactly 0
    warn = [s for s in lines if s.startswith("warning: step")]
    assert len(warn) == 2 and "zero advantage" in warn[0]

    def one_right(prompts, completions, answers):  # only group 0 has a correct sample: 3 of 4 groups are flat
        return [1.0] + [-1.0] * (len(completions) - 1)

    lines.clear()
    recs = read_jsonl(loop.train(cfg(toy, tmp_path / "some"), reward_fn=one_right, log=lines.append) / "metrics.jsonl")
    assert recs[0]["zero_adv_group_frac"] == 0.75 and recs[0]["grad_norm"] > 0
    assert "zero-adv groups 75%" in lines[-1] and not any(s.startswith("warning: step") for s in lines)

    from entropykit.train.report import build_report

    page = build_report([run, tmp_path / "some"], tmp_path / "r.html").read_text()
    assert 'id="warnings"' in page and "2 of 2 steps had zero advantage in every group" in page
    assert "some (" not in page.split('id="warnings"')[1].split("</div>")[0]  # only the dead run is listed


def test_plan_is_printed_before_the_first_rollout(toy, tmp_path):
    torch.set_num_threads(1)
    lines = []
    loop.train(cfg(toy, tmp_path / "p"), log=lines.append)
    i = next(k for k, s in enumerate(lines) if s.startswith("plan:"))
    plan = "\n".join(lines[i: i + 5])
    assert "steps 1..1 of GRPO + entropy advantage (alpha 0.4, kappa 2)" in plan
    assert "4 prompts x 8 samples = 32 responses per step, up to 6 tokens each" in plan
    assert "backend hf" in plan and "cpu (float32)" in plan and "1 policy updates" not in plan
    assert lines[i + 5].startswith("step 1/1")  # then the step's line


def test_paper_defaults_on_a_cpu_warn_before_running():
    c = TrainConfig(data="easy")
    lines = monitor.describe_plan(c, device=torch.device("cpu"), dtype="float32", backend="hf", num_problems=40,
                               prompt_tokens=60.0, start=0)
    text = "\n".join(lines)
    assert "512 prompts x 8 samples = 4096 responses" in text and "up to 8192 tokens" in text
    assert "up to 33.8M per step" in text and "16 policy updates per step" in text
    assert lines[-1].startswith("warning:") and "--max-tokens 256" in lines[-1]


def test_cov_losses_say_when_the_one_token_floor_is_all_they_do():
    """floor(2e-4 * 8 samples * 128 tokens) = 0 < 1: veRL's default ratio selects the floor's one token."""
    plan = lambda **kw: "\n".join(monitor.describe_plan(TrainConfig(data="easy", mini_batch_size=8, max_tokens=128, **kw),
                                                        device=torch.device("cpu"), dtype="float32", backend="hf",
                                                        num_problems=40, prompt_tokens=60.0, start=0))
    small = plan(loss_mode="clip_cov")
    assert "note: --clip-cov-ratio 0.0002 of at most 1,024 response tokens" in small and "single token" in small
    assert "note: --kl-cov-ratio 0.0002" in plan(loss_mode="kl_cov")
    assert "note:" not in plan(loss_mode="clip_cov", clip_cov_ratio=0.001)  # 1.024 tokens: at least one by the ratio
    assert "note:" not in plan()  # the PPO-clip loss selects nothing
