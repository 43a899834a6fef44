"""Sampling: seeds, nucleus truncation, greedy agreement with transformers' own generate()."""

import collections
import os

import pytest
import torch
from scipy.stats import chisquare

from entropykit.errors import UserError
from entropykit.generation import (
    SamplingConfig, choose_backend, derive_seed, make_generator, sample_next, sample_rows,
)


def test_derive_seed_is_stable_and_distinct():
    assert derive_seed(0, "math500", "p1", 3) == derive_seed(0, "math500", "p1", 3)
    assert derive_seed(0, "math500", "p1", 3) != derive_seed(0, "math500", "p1", 4)
    assert derive_seed(1, 2) != derive_seed(12)  # keys are separated, not concatenated
    # pinned value: seeds must not change across versions, or resumed runs would diverge
    assert derive_seed(0, "easy", "1", 0) == 8597065358813495562  # sha256('0\x1f'easy'\x1f'1'\x1f0')[:8] >> 1
    assert 0 <= derive_seed("x") < 2**63


def test_top_p_keeps_smallest_nucleus_and_renormalizes():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    g = torch.Generator().manual_seed(0)
    counts = collections.Counter(sample_next(probs, 0.8, g) for _ in range(4000))
    assert set(counts) == {0, 1}  # 0.5 + 0.3 reaches 0.8: tokens 2, 3 are cut
    assert chisquare([counts[0], counts[1]], [4000 * 0.625, 4000 * 0.375]).pvalue > 1e-3
    counts = collections.Counter(sample_next(probs, 1.0, g) for _ in range(4000))
    assert chisquare([counts[i] for i in range(4)], [4000 * p for p in (0.5, 0.3, 0.15, 0.05)]).pvalue > 1e-3
    assert {sample_next(probs, 0.3, g) for _ in range(50)} == {0}


def test_sampling_config_validation():
    for bad in (dict(n=0), dict(temperature=-1), dict(top_p=0), dict(max_tokens=0)):
        with pytest.raises(UserError):
            SamplingConfig(**bad)
    with pytest.raises(UserError):
        make_generator("smollm2-135m", backend="nope")


@pytest.mark.slow
def test_hf_greedy_matches_transformers_generate(smollm):
    gen = make_generator(smollm, backend="hf")
    prompts = ["What is 2+3?", "Name three colors."]
    ours = gen.generate(prompts, SamplingConfig(temperature=0, max_tokens=24))
    for prompt, (c,) in zip(prompts, ours):
        from entropykit.models import format_prompt

        ids = smollm.tokenizer(format_prompt(smollm.tokenizer, prompt), add_special_tokens=False, return_tensors="pt")
        ref = smollm.model.generate(**ids, do_sample=False, max_new_tokens=24, pad_token_id=smollm.tokenizer.pad_token_id)
        ref_ids = ref[0, ids["input_ids"].shape[1]:].tolist()
        # transformers pads finished rows after their EOS; the sampled tokens end at the first EOS
        eos = smollm.tokenizer.eos_token_id
        ref_ids = ref_ids[: ref_ids.index(eos) + 1] if eos in ref_ids else ref_ids
        assert c.token_ids == ref_ids


@pytest.mark.slow
def test_hf_samples_reproducible_from_seed_alone(smollm):
    gen = make_generator(smollm, backend="hf", batch_size=4)
    sp = SamplingConfig(n=3, temperature=1.0, top_p=0.95, max_tokens=16, seed=7)
    prompts = ["Count to five.", "What is 7*6?"]
    first = gen.generate(prompts, sp)
    assert len(first) == 2 and all(len(x) == 3 for x in first)
    assert len({c.text for c in first[0]}) > 1  # different seeds, different samples
    # regenerate one sample on its own, in a different batch composition
    c = first[1][2]
    again = gen.generate(["What is 7*6?"], SamplingConfig(n=1, temperature=1.0, top_p=0.95, max_tokens=16), seeds=[[c.seed]])
    assert again[0][0].token_ids == c.token_ids
    assert all(x.finish_reason in ("stop", "length") for row in first for x in row)
    short = gen.generate(["Write a long story."], SamplingConfig(max_tokens=3, temperature=1.0))
    assert short[0][0].finish_reason == "length" and len(short[0][0].token_ids) == 3


def test_sample_rows_rows_are_independent_and_skip_zero_probability():
    probs = torch.tensor([[0.0, 0.5, 0.0, 0.5], [0.25, 0.25, 0.25, 0.25], [0.0, 0.0, 1.0, 0.0]])
    for seed in range(200):
        gens = [torch.Generator().manual_seed(seed + k) for k in range(3)]
        batch = sample_rows(probs, 1.0, gens).tolist()
        assert batch[0] in (1, 3) and batch[2] == 2  # zero-probability tokens are never drawn
        alone = sample_rows(probs[1:2], 1.0, [torch.Generator().manual_seed(seed + 1)]).tolist()
        assert alone[0] == batch[1]  # a row's draw depends only on its own generator


def test_choose_backend_is_the_one_place_auto_is_decided(monkeypatch):
    import entropykit.generation as g

    monkeypatch.setattr(g, "vllm_available", lambda: True)
    assert choose_backend("auto") == "vllm" and choose_backend("auto", vllm_ok=False) == "hf"
    monkeypatch.setattr(g, "vllm_available", lambda: False)
    assert choose_backend("auto") == "hf" and choose_backend("hf") == "hf"
    with pytest.raises(UserError, match="unknown backend"):
        choose_backend("tpu")
    monkeypatch.setattr(g.importlib.util, "find_spec", lambda name: object())
    with pytest.raises(UserError, match="LoRA"):
        choose_backend("vllm", vllm_ok=False, why_not="LoRA weights cannot be pushed")


@pytest.mark.slow
def test_hf_stop_token_kept_and_token_stats_match_teacher_forced_scoring(smollm):
    """The generation contract: token_ids end with the sampled EOS on "stop", `text` is the rest;
    with token_stats, each token's log-prob and entropy equal what `score` computes afterwards
    (temperature-1 distribution, same context) — so passk -> analyze needs no rescoring."""
    gen = make_generator(smollm, backend="hf", batch_size=3)
    sp = SamplingConfig(n=3, temperature=0.7, top_p=0.95, max_tokens=24, seed=3, token_stats=True)
    comps = [c for row in gen.generate(["What is 2+3? Answer with one number.", "Say hi."], sp) for c in row]
    eos = smollm.tokenizer.eos_token_id
    assert any(c.finish_reason == "stop" for c in comps)
    for c in comps:
        assert len(c.logprobs) == len(c.entropies) == len(c.token_ids)
        body = c.token_ids[:-1] if c.finish_reason == "stop" else c.token_ids
        if c.finish_reason == "stop":
            assert c.token_ids[-1] == eos and eos not in body
        assert smollm.tokenizer.decode(body, skip_special_tokens=True) == c.text
    # teacher-forced reference on the sampled ids (score re-tokenizes text; compare on ids here)
    from entropykit.models import encode_prompt

    prompts = ["What is 2+3? Answer with one number."] * 3 + ["Say hi."] * 3
    for prompt, c in zip(prompts, comps):
        p_ids = encode_prompt(smollm.tokenizer, prompt)
        ids = torch.tensor([p_ids + c.token_ids])
        with torch.no_grad():
            logits = smollm.model(ids).logits[0, len(p_ids) - 1 : -1].double()
        logp_all = torch.log_softmax(logits, dim=-1)  # float64 reference
        logp = logp_all.gather(-1, torch.tensor(c.token_ids).unsqueeze(-1)).squeeze(-1)
        ent = -(logp_all.exp() * logp_all).sum(-1)
        assert torch.allclose(torch.tensor(c.logprobs, dtype=torch.float64), logp, atol=2e-4)
        assert torch.allclose(torch.tensor(c.entropies, dtype=torch.float64), ent, atol=2e-4)
    plain = gen.generate(["Say hi."], SamplingConfig(max_tokens=4))[0][0]
    assert plain.logprobs is None and plain.entropies is None


def test_distinct_prompts_in_order_of_first_appearance():
    from entropykit.generation import distinct_prompts

    assert distinct_prompts([[1, 2], [3], [1, 2], [3], [4, 5, 6]]) == ([[1, 2], [3], [4, 5, 6]], [0, 1, 0, 1, 2])
    assert distinct_prompts([[7]]) == ([[7]], [0])


def _rows_of_forward_calls(model) -> tuple[list[int], object]:
    """Batch rows of every forward pass of `model` (a hook), to see what was prefilled."""
    rows: list[int] = []
    handle = model.register_forward_pre_hook(lambda mod, args, kwargs: rows.append(kwargs["input_ids"].shape[0]),
                                             with_kwargs=True)
    return rows, handle


@pytest.mark.slow
def test_shared_prefill_runs_each_distinct_prompt_once_and_samples_as_per_row_prefill(smollm):
    """Rows of one batch that share a prompt share its prefill: the first forward pass holds the
    distinct prompts only (here 2 for 9 rows, prompts of different lengths, interleaved). Their
    samples are the ones each row gets from prefilling its own copy (the previous path), token
    for token, with the same log-probs and entropies up to float rounding of another batch shape."""
    gen = make_generator(smollm, backend="hf", batch_size=9)
    sp = SamplingConfig(n=3, temperature=0.7, top_p=0.95, max_tokens=20, seed=5, token_stats=True)
    prompts = ["What is 2+3? Answer with one number.", "Name three colors.", "What is 2+3? Answer with one number."]
    rows, handle = _rows_of_forward_calls(smollm.model)
    try:
        shared = gen.generate(prompts, sp)
    finally:
        handle.remove()
    assert rows[0] == 2 and set(rows[1:]) == {9}
    gen.share_prefill = False
    own = gen.generate(prompts, sp)
    assert len({tuple(c.token_ids) for row in shared for c in row}) > 3  # real sampling, not one answer
    for row_s, row_o in zip(shared, own):
        for a, b in zip(row_s, row_o):
            assert a.token_ids == b.token_ids and a.finish_reason == b.finish_reason
            assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)
            assert a.entropies == pytest.approx(b.entropies, abs=1e-4)
    again = make_generator(smollm, backend="hf", batch_size=9).generate(prompts, sp)
    assert [[(c.token_ids, c.logprobs) for c in r] for r in again] == [[(c.token_ids, c.logprobs) for c in r] for r in shared]


def test_shared_prefill_falls_back_to_per_row_prefill_for_a_hybrid_cache():
    """A tiny random Falcon-H1 (attention + Mamba layers): its cache holds convolution and SSM
    states that row selection would not copy, so every row is prefilled: the per-row path
    exactly, bit for bit, and the first forward pass holds every row."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from entropykit.generation import HFGenerator
    from entropykit.models import LoadedModel, resolve_model_path

    tok = AutoTokenizer.from_pretrained(resolve_model_path("smollm2-135m"))
    torch.manual_seed(0)
    cfg = AutoConfig.for_model("falcon_h1", vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                               num_attention_heads=4, num_key_value_heads=2, eos_token_id=tok.eos_token_id,
                               pad_token_id=tok.pad_token_id)
    model = AutoModelForCausalLM.from_config(cfg).eval()
    lm = LoadedModel(model=model, tokenizer=tok, name="falcon-h1-tiny", path="", device=torch.device("cpu"), dtype=torch.float32)
    sp = SamplingConfig(n=3, temperature=1.0, top_p=0.9, max_tokens=6, seed=2, token_stats=True)
    own = HFGenerator(lm, batch_size=6, share_prefill=False).generate(["Say hi.", "Hello there, friend."], sp)
    rows, handle = _rows_of_forward_calls(model)
    try:
        fallback = HFGenerator(lm, batch_size=6).generate(["Say hi.", "Hello there, friend."], sp)
    finally:
        handle.remove()
    assert rows[:2] == [2, 6]  # the distinct prompts first, then every row once the cache proved hybrid
    flat = lambda out: [(c.token_ids, c.logprobs, c.entropies) for row in out for c in row]  # noqa: E731
    assert flat(fallback) == flat(own)


def test_nucleus_from_top_candidates_draws_what_the_full_sort_draws(monkeypatch):
    """`sample_rows` sorts only the most likely candidates when they hold the nucleus; peaked and
    flat distributions (the latter fall back to the full sort), several top-p: every draw equals
    the full sort's for the same uniforms."""
    import entropykit.generation as g

    torch.manual_seed(0)
    differences, branches = 0, set()
    for trial in range(60):
        probs = torch.softmax(torch.randn(8, 5000) * (1 + trial % 9) / [0.3, 0.6, 1.0, 2.0][trial % 4], -1)
        for top_p in (0.5, 0.9, 0.95, 1.0):
            gens = lambda: [torch.Generator().manual_seed(trial * 50 + r) for r in range(8)]  # noqa: E731
            fast = sample_rows(probs, top_p, gens())
            monkeypatch.setattr(g, "NUCLEUS_CANDIDATES", 5000)
            full = sample_rows(probs, top_p, gens())
            monkeypatch.setattr(g, "NUCLEUS_CANDIDATES", 64)
            differences += int((fast != full).sum())
            branches.add(bool((probs.topk(64).values.sum(-1) >= top_p).all()))
    assert differences == 0 and branches == {True, False}  # both the candidates and the full sort were used


def test_nucleus_draw_of_a_row_ignores_the_other_rows_even_with_ties():
    """bf16 logits make many probabilities equal: equal tokens rank by id, in the candidates and
    in the full sort alike, so a peaked row draws the same batched with flat rows (which take the
    full sort) or alone, and the same as a full stable sort by (probability desc, id asc)."""
    torch.manual_seed(1)
    logits = (torch.randn(40, 3000) * 4).bfloat16().float()  # bf16-rounded: ties among the top tokens
    peaked = torch.softmax(logits / 0.6, -1)
    flat = torch.softmax(torch.randn(40, 3000).bfloat16().float() * 0.1, -1)
    assert (peaked.topk(64).values[:, :-1] == peaked.topk(64).values[:, 1:]).any()  # there are ties
    for seed in range(40):
        g = lambda: torch.Generator().manual_seed(seed)  # noqa: E731
        alone = sample_rows(peaked[seed : seed + 1], 0.95, [g()])
        batched = sample_rows(torch.stack([flat[seed], peaked[seed]]), 0.95, [torch.Generator().manual_seed(99), g()])
        assert batched[1] == alone[0]
        values, order = torch.sort(peaked[seed], descending=True, stable=True)  # ids ascending among equal values
        kept = torch.where(values.cumsum(-1) - values < 0.95, values, torch.zeros_like(values))
        u = torch.rand(1, generator=g())
        expected = order[int(torch.searchsorted(kept.cumsum(-1), u * kept.cumsum(-1)[-1], right=True))]
        assert int(alone[0]) == int(expected)


@pytest.mark.slow
def test_preallocated_cache_gives_the_grown_caches_numbers_bit_for_bit(smollm, monkeypatch):
    """Decoding into buffers allocated once (no torch.cat of the whole cache per step) changes no
    number: tokens, log-probs and entropies equal the default growing cache's exactly, for rows
    that stop early and rows that run to the length limit."""
    import entropykit.generation as g

    sp = SamplingConfig(n=4, temperature=0.8, top_p=0.95, max_tokens=24, seed=11, token_stats=True)
    prompts = ["What is 2+3? Answer with one number.", "Write a long story about a dragon."]
    flat = lambda out: [(c.token_ids, c.logprobs, c.entropies, c.finish_reason) for row in out for c in row]  # noqa: E731
    buffered = flat(make_generator(smollm, backend="hf", batch_size=8).generate(prompts, sp))
    monkeypatch.setattr(g, "PREALLOCATE_CACHE", False)
    grown = flat(make_generator(smollm, backend="hf", batch_size=8).generate(prompts, sp))
    assert buffered == grown
    assert {r[3] for r in buffered} == {"stop", "length"}


@pytest.mark.slow
def test_chunks_side_by_side_sample_what_one_thread_samples_alone(smollm):
    """`chunk_workers=2`: two chunks at once, each on threads // 2 intra-op threads. Every chunk's
    samples equal those of the same chunk sampled alone on that many threads, bit for bit (so a
    resumed run, which has other chunks beside it, gets them again); chunks come back whole and
    in order; a consumer that stops early ends the running chunks and gets its thread count back."""
    import threading

    from entropykit.generation import HFGenerator

    sp = SamplingConfig(n=1, temperature=0.8, top_p=0.95, max_tokens=12, seed=0, token_stats=True)
    chunks = [[("What is 2+3?", 1), ("What is 2+3?", 2), ("Say hi.", 3)], [("Name a color.", 4), ("Name a color.", 5)],
              [("Count to three.", 6)]]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        side_by_side = [(c, r, x.token_ids, x.logprobs) for c, r, x in HFGenerator(smollm, chunk_workers=2).stream_chunks(chunks, sp)]
        assert torch.get_num_threads() == 2
        torch.set_num_threads(1)
        alone = [[(c, r, x.token_ids, x.logprobs) for c, r, x in HFGenerator(smollm).stream_chunks([chunk], sp)] for chunk in chunks]
        assert side_by_side == [(c, r, t, lp) for c, part in enumerate(alone) for _, r, t, lp in part]
        torch.set_num_threads(2)
        stopped = HFGenerator(smollm, chunk_workers=2).stream_chunks(chunks * 4, sp)
        next(stopped)
        stopped.close()  # what a Ctrl-C in the consumer does
        assert torch.get_num_threads() == 2 and not [t for t in threading.enumerate() if t.name.startswith("entropykit-chunk")]
    finally:
        torch.set_num_threads(threads)


def test_chunks_side_by_side_only_where_safe_and_small_enough(monkeypatch):
    """passk's default (`chunk_workers=None`): two chunks at once on a CPU with 2+ threads; one
    for a rotary table a forward pass rewrites (dynamic NTK, shared by both threads), for two KV
    caches over half the machine's memory, for a model's own code, and with one thread."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from entropykit.generation import default_chunk_workers
    from entropykit.models import LoadedModel

    def lm(**config):
        cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=2, num_key_value_heads=1, **config)
        return LoadedModel(model=LlamaForCausalLM(cfg), tokenizer=None, name="t", path="", device=torch.device("cpu"),
                           dtype=torch.float32)

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        plain = lm()
        assert default_chunk_workers(plain, 16, 128) == 2
        dynamic = lm(rope_parameters={"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0})
        assert default_chunk_workers(dynamic, 16, 128) == 1
        # per token 2 layers x 1 KV head x 16 dims x 2 (K, V) x 4 bytes = 256 B; 2 chunks x 16 rows x (max_tokens + 2048)
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        too_long = int(memory / 2 / (2 * 16 * 256)) - 2048 + 1
        assert default_chunk_workers(plain, 16, too_long - 2) == 2 and default_chunk_workers(plain, 16, too_long) == 1
        monkeypatch.setattr(type(plain.model), "__module__", "transformers_modules.someone.model")  # trust_remote_code
        assert default_chunk_workers(plain, 16, 128) == 1
        monkeypatch.undo()
        torch.set_num_threads(1)
        assert default_chunk_workers(plain, 16, 128) == 1
    finally:
        torch.set_num_threads(threads)
