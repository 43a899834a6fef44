"""The transformers backend's `stream` hands over each sample as soon as its row has finished,
without changing any sample (tiny random Llama; rows made to stop at different steps by
treating a third of the vocabulary as end-of-sequence tokens)."""

from __future__ import annotations

import pytest

from entropykit.generation import HFGenerator, SamplingConfig, make_generator


@pytest.fixture(scope="module")
def gen(tiny_model_dir):
    g = make_generator(tiny_model_dir, backend="hf", batch_size=6, device="cpu", dtype="float32")
    assert isinstance(g, HFGenerator)
    vocab = len(g.tokenizer)
    g.eos_ids = set(range(0, vocab, 3))  # a row stops with probability ~1/3 per step
    return g


def test_rows_are_yielded_when_they_finish_and_equal_the_batch_results(gen):
    sp = SamplingConfig(n=6, temperature=1.0, top_p=1.0, max_tokens=12, seed=4, token_stats=True)
    prompts = ["What is 2+2?", "Name a color."]
    streamed = list(gen.stream(prompts, sp))
    assert sorted((i, j) for i, j, _ in streamed) == [(i, j) for i in range(2) for j in range(6)]
    # within each batch of 6 rows, samples come out in the order they finished
    for batch in (streamed[:6], streamed[6:]):
        lengths = [len(c.token_ids) for _, _, c in batch]
        assert lengths == sorted(lengths)
    assert len({len(c.token_ids) for _, _, c in streamed}) > 2, "rows did not finish at different steps"
    # the same samples as collected by generate(); stop rows end with a stop token, and the
    # per-token stats stay one per token
    again = gen.generate(prompts, sp)
    for i, j, c in streamed:
        ref = again[i][j]
        assert (c.token_ids, c.text, c.finish_reason, c.seed) == (ref.token_ids, ref.text, ref.finish_reason, ref.seed)
        assert len(c.logprobs) == len(c.entropies) == len(c.token_ids)
        if c.finish_reason == "stop":
            assert c.token_ids[-1] in gen.eos_ids and not set(c.token_ids[:-1]) & gen.eos_ids
        else:
            assert len(c.token_ids) == 12


def test_first_sample_arrives_before_the_batch_ends(gen):
    """The generator is suspended at the first finished row: the batch is not done yet."""
    sp = SamplingConfig(n=6, temperature=1.0, max_tokens=40, seed=11)
    it = gen.stream(["Count to ten."], sp)
    _, _, first = next(it)
    rest = list(it)
    assert first.finish_reason == "stop"
    assert len(first.token_ids) < max(len(c.token_ids) for _, _, c in rest)
