"""The shared model layer on the real embedded model: GGUF conversion, scorer vs full-softmax reference."""

import math

import pytest
import torch

from entropykit.errors import UserError
from entropykit.models import embedded_gguf_path, format_prompt, load_model, resolve_model_path
from entropykit.scoring import score_responses

RECORDS = [
    {"prompt": "What is 2+3?", "response": "2 + 3 = 5. Therefore, the answer is \\boxed{5}. Wait, let me double-check."},
    {"prompt": "Say hi", "response": "Hello — naïve café, $\\frac{1}{2}$ = 0.5!"},
    {"prompt": "Empty", "response": ""},
    {"prompt": "Longer", "response": "First, note that 12 × 12 = 144. " * 20},
]


def reference_scores(lm, record):
    """float64 full-softmax reference from one unbatched forward pass (no chunking, no padding)."""
    tok = lm.tokenizer
    p_ids = tok(format_prompt(tok, record["prompt"]), add_special_tokens=False)["input_ids"]
    r_ids = tok(record["response"], add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = lm.model(input_ids=torch.tensor([p_ids + r_ids])).logits[0].double()
    logp = torch.log_softmax(logits[len(p_ids) - 1 : len(p_ids) - 1 + len(r_ids)], -1)
    ent = torch.special.entr(logp.exp()).sum(-1)
    return logp[torch.arange(len(r_ids)), torch.tensor(r_ids, dtype=torch.long)], ent


@pytest.mark.slow
def test_scorer_matches_float64_full_softmax_on_real_model(smollm):
    out = score_responses(smollm, RECORDS, chunk_size=5, max_batch_tokens=256)  # tiny chunks and batches
    for rec, s in zip(RECORDS, out):
        ref_lp, ref_h = reference_scores(smollm, rec)
        assert len(s.entropies) == len(ref_h) == len(s.tokens) == len(s.offsets)
        if len(ref_h):
            assert max(abs(a - b) for a, b in zip(s.entropies, ref_h.tolist())) < 1e-4
            assert max(abs(a - b) for a, b in zip(s.logprobs, ref_lp.tolist())) < 1e-4
        # tokens are exact slices of the response, covering it in order
        assert "".join(rec["response"][a:b] for a, b in s.offsets).strip() == rec["response"].strip()
        assert all(0 <= h <= math.log(smollm.model.config.vocab_size) + 1e-4 for h in s.entropies)


@pytest.mark.slow
def test_scorer_results_independent_of_batching(smollm):
    a = score_responses(smollm, RECORDS, max_batch_tokens=10_000)
    b = score_responses(smollm, RECORDS, max_batch_tokens=1)
    for x, y in zip(a, b):
        assert x.token_ids == y.token_ids
        assert max([abs(p - q) for p, q in zip(x.entropies, y.entropies)] or [0]) < 1e-4


@pytest.mark.slow
def test_cached_float32_folder_reproduces_gguf_logits(smollm):
    """The cache is a faithful copy: the GGUF loaded directly gives the same logits."""
    from transformers import AutoModelForCausalLM

    gguf = embedded_gguf_path()
    direct = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
    ids = torch.tensor([smollm.tokenizer("The answer is 42 because")["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(direct(input_ids=ids).logits, smollm.model(input_ids=ids).logits, atol=1e-5)
    assert smollm.model.config.vocab_size == 49152
    assert smollm.tokenizer.eos_token == "<|im_end|>"


def test_format_prompt_chat_and_raw(smollm):
    tok = smollm.tokenizer
    chat = format_prompt(tok, "What is 1+1?")
    assert "<|im_start|>user\nWhat is 1+1?<|im_end|>" in chat and chat.endswith("<|im_start|>assistant\n")
    assert format_prompt(tok, "What is 1+1?", chat=False) == "What is 1+1?"


def test_bad_model_specs_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no such GGUF"):
        resolve_model_path(str(tmp_path / "missing.gguf"))
    with pytest.raises(UserError, match="no config.json"):
        resolve_model_path(str(tmp_path))
    with pytest.raises(UserError, match="not a model folder"):
        resolve_model_path("./nope/not/here")
    with pytest.raises(UserError, match="hub is unreachable|cannot load"):
        load_model("nobody/no-such-model-entropykit", device="cpu")


def test_tiny_model_loads_and_has_head_dim_64(tiny_model_dir):
    lm = load_model(tiny_model_dir, device="cpu", cache=False)
    cfg = lm.model.config
    assert cfg.hidden_size // cfg.num_attention_heads == 64
    assert len(lm.tokenizer) == cfg.vocab_size
