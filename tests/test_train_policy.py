"""The policy forward at the rollout temperature (vs a float64 reference), and micro-batching."""

import pytest
import torch
from conftest import toy_config, write_toy_data

from entropykit.train.data import build_toy_model
from entropykit.train.policy import micro_batches, pack, policy_logprobs_entropy


@pytest.fixture(scope="module")
def toy_model(tmp_path_factory):
    """The toy Llama with its (tied) embeddings scaled up: peaked next-token distributions, far
    from uniform, so that the temperature visibly changes log-probs and entropies."""
    from transformers import AutoModelForCausalLM

    path = build_toy_model(tmp_path_factory.mktemp("pol") / "model", hidden_size=32, seed=3)
    m = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    with torch.no_grad():
        m.get_input_embeddings().weight.mul_(8.0)
    m.save_pretrained(path)
    return path


def reference_logprobs_entropy(model_dir: str, prompts, responses, temperature: float):
    """Teacher-forced float64: full logits of prompt + response, divided by T, one sequence at a time."""
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float64).eval()
    logps, ents = [], []
    with torch.no_grad():
        for p, r in zip(prompts, responses):
            z = m(input_ids=torch.tensor([list(p) + list(r)])).logits[0] / temperature
            logq = torch.log_softmax(z[len(p) - 1 : len(p) - 1 + len(r)], dim=-1)  # position t-1 predicts token t
            logps.append(logq.gather(-1, torch.tensor(r)[:, None])[:, 0])
            ents.append(-(logq.exp() * logq).sum(-1))
    return logps, ents


@pytest.mark.parametrize("temperature", [0.7, 1.3])
def test_logprobs_and_entropy_at_the_rollout_temperature(toy_model, temperature):
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(1)
    prompts = [[12, 15, 16], [17, 3], [15, 16, 17, 18, 19]]
    responses = [[5, 7, 1], [9, 2, 4, 4, 8, 1], [3]]
    batch = pack(prompts, responses, pad_id=0)
    model = AutoModelForCausalLM.from_pretrained(toy_model, dtype=torch.float32).eval()
    ref_lp, ref_h = reference_logprobs_entropy(toy_model, prompts, responses, temperature)
    for grad in (False, True):
        lp, h = policy_logprobs_entropy(model, batch, chunk_size=4, grad=grad, temperature=temperature)
        for i, r in enumerate(responses):
            n = len(r)
            torch.testing.assert_close(lp[i, :n].double(), ref_lp[i], rtol=0, atol=2e-5)
            torch.testing.assert_close(h[i, :n].double(), ref_h[i], rtol=0, atol=2e-5)
            assert (lp[i, n:] == 0).all() and (h[i, n:] == 0).all()
    # the temperature matters: the T = 1 numbers are different (so this test can fail)
    lp1, h1 = policy_logprobs_entropy(model, batch, chunk_size=4, grad=False)
    assert (h1[0, :3].double() - ref_h[0]).abs().max() > 0.05
    assert (lp1[0, :3].double() - ref_lp[0]).abs().max() > 0.05


def test_micro_batches_respect_both_budgets_and_cover_every_row():
    seq_lens = torch.tensor([10, 3, 7, 7, 2, 12, 1, 5])
    rows = torch.tensor([0, 2, 3, 5, 6, 7])
    for max_samples, max_tokens in [(0, 0), (2, 0), (0, 14), (3, 20), (1, 1), (0, 11)]:
        parts = micro_batches(rows, seq_lens, max_samples=max_samples, max_tokens=max_tokens)
        assert sorted(torch.cat(parts).tolist()) == sorted(rows.tolist())  # every row once
        for part in parts:
            width = int(seq_lens[part].max())
            if max_samples:
                assert len(part) <= max_samples
            if max_tokens and len(part) > 1:  # a row longer than the budget goes alone
                assert len(part) * width <= max_tokens
    assert len(micro_batches(rows, seq_lens)) == 1  # no limits: the whole mini-batch
    assert [p.tolist() for p in micro_batches(rows, seq_lens, max_tokens=14)] == [[5], [0], [2, 3], [7, 6]]
    assert micro_batches(torch.tensor([], dtype=torch.long), seq_lens, max_tokens=4) == []


def test_trainer_scores_every_forward_at_the_rollout_temperature(toy_model, tmp_path, monkeypatch):
    """Old log-probs, reference log-probs and the update's forward all use T; step 1's old
    log-probs and entropies (the untouched initial policy) equal a float64 teacher-forced reference."""
    from entropykit.io import read_jsonl
    from entropykit.train import loop

    torch.set_num_threads(1)
    data = write_toy_data(tmp_path / "toy.jsonl")
    calls = []
    real = loop.policy_logprobs_entropy

    def spy(model, batch, **kw):
        lp, h = real(model, batch, **kw)
        calls.append((kw, batch, lp.detach().clone(), h.detach().clone()))
        return lp, h

    monkeypatch.setattr(loop, "policy_logprobs_entropy", spy)
    T = 0.7
    cfg = toy_config(toy_model, data, tmp_path / "run", steps=1, prompts_per_step=2, n_samples=4, max_tokens=5,
                     mini_batch_size=4, micro_batch_tokens=24, temperature=T, kl_coef=0.05, lr=1e-3, seed=1)
    rec = read_jsonl(loop.train(cfg) / "metrics.jsonl")[0]
    assert {c[0]["temperature"] for c in calls} == {T}
    scoring = [c for c in calls if not c[0]["grad"]]
    assert len(scoring) >= 4 and any(c[0]["grad"] for c in calls)  # policy + reference, several micro-batches
    n_tok = 0
    ent_sum = 0.0
    for k, (kw, batch, lp, h) in enumerate(scoring):
        for i in range(batch.input_ids.shape[0]):
            n = int(batch.resp_mask[i].sum())
            seq = batch.input_ids[i, : int(batch.attention_mask[i].sum())].tolist()
            ref_lp, ref_h = reference_logprobs_entropy(toy_model, [seq[: len(seq) - n]], [seq[len(seq) - n:]], T)
            torch.testing.assert_close(lp[i, :n].double(), ref_lp[0], rtol=0, atol=2e-5)
            torch.testing.assert_close(h[i, :n].double(), ref_h[0], rtol=0, atol=2e-5)
            if k % 2 == 0:  # the policy's pass (the reference's follows it on the same micro-batch)
                n_tok += n
                ent_sum += float(ref_h[0].sum())
    assert rec["entropy"] == pytest.approx(ent_sum / n_tok, abs=1e-5)  # the logged entropy is at T too
