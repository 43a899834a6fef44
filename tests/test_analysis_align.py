"""Word/sentence <-> token alignment on tricky tokenizations, and the shared response metrics."""

import numpy as np
import pytest

from entropykit.analysis import (
    assign_tokens,
    pivotal_occurrences,
    sentence_rows,
    token_anchors,
    tokens_in_span,
    word_entropy,
    word_first_entropies,
)
from entropykit.errors import UserError
from entropykit.response_metrics import (
    aggregate_metrics,
    find_pivotal_words,
    is_reflective,
    load_lexicon_file,
    load_patterns_file,
    merge_lexicons,
    repetition_rate,
    response_metrics,
    split_sentences,
)


def toks(text, pieces):
    """Offsets of consecutive pieces that tile `text` (asserts they do)."""
    offs, pos = [], 0
    for p in pieces:
        assert text[pos : pos + len(p)] == p, (text[pos:], p)
        offs.append((pos, pos + len(p)))
        pos += len(p)
    assert pos == len(text)
    return np.array(offs)


def test_multi_token_word_first_and_mean():
    text = "Therefore x"
    off = toks(text, ["There", "fore", " x"])
    ent = np.array([3.0, 1.0, 0.5])
    rows, mask = pivotal_occurrences(text, off, ent)
    assert len(rows) == 1
    r = rows[0]
    assert (r["word"], r["category"], r["num_tokens"]) == ("therefore", "causal", 2)
    assert r["entropy_first"] == 3.0 and r["entropy_mean"] == 2.0
    assert mask.tolist() == [True, True, False]


def test_leading_space_and_punctuation():
    text = "a because b. However, yes"
    off = toks(text, ["a", " because", " b", ".", " However", ",", " yes"])
    ent = np.arange(7, dtype=float)
    rows, mask = pivotal_occurrences(text, off, ent)
    assert [(r["word"], r["entropy_first"], r["num_tokens"]) for r in rows] == [("because", 1.0, 1), ("however", 4.0, 1)]
    assert mask.tolist() == [False, True, False, False, True, False, False]  # the comma is not part of "However"


def test_latex_and_word_boundaries():
    text = "$\\frac{1}{2}$ so \\therefore also firstly"
    off = toks(text, ["$\\", "frac", "{", "1", "}{", "2", "}$", " so", " \\", "there", "fore", " also", " first", "ly"])
    ent = np.linspace(0, 1.3, 14)
    rows, _ = pivotal_occurrences(text, off, ent)
    # "so" and "therefore" (LaTeX \therefore is the "therefore" sign) match; "also", "firstly" do not
    assert [r["word"] for r in rows] == ["so", "therefore"]
    assert rows[1]["entropy_first"] == pytest.approx(ent[9]) and rows[1]["num_tokens"] == 2


def test_non_ascii_byte_pieces_and_empty_tokens():
    # "é" split into two byte-level pieces that share the same character span; a special token
    # with an empty span at the start; offsets are character (not byte) offsets.
    text = "Donc é, thus 𝑥"
    off = np.array([(0, 0), (0, 4), (4, 5), (5, 6), (5, 6), (6, 7), (7, 12), (12, 14), (13, 14)])
    ent = np.array([9.0, 1, 1, 2, 2.5, 1, 4, 1, 1])
    rows, mask = pivotal_occurrences(text, off, ent)
    assert [r["word"] for r in rows] == ["thus"] and rows[0]["entropy_first"] == 4.0
    assert not mask[0]  # the empty special token overlaps nothing
    assert tokens_in_span(off, 5, 6).tolist() == [3, 4]  # both byte pieces of "é"
    words, vals = word_first_entropies(text, off, ent)
    assert words == ["donc", "é", "thus", "𝑥"]
    assert vals.tolist() == [1.0, 2.0, 4.0, 1.0]


def test_word_entropy_modes():
    assert word_entropy(np.array([1.0, 3.0]), np.array([0, 1]), "first") == 1.0
    assert word_entropy(np.array([1.0, 3.0]), np.array([0, 1]), "mean") == 2.0
    assert word_entropy(np.array([1.0]), np.array([], dtype=int)) is None
    with pytest.raises(ValueError):
        word_entropy(np.array([1.0]), np.array([0]), "max")


def test_sentence_assignment_by_first_non_space_char():
    text = "We add. Wait, check it.\nDone"
    off = toks(text, ["We", " add", ".", " Wait", ",", " check", " it", ".", "\n", "Done"])
    ent = np.array([1, 1, 1, 4, 4, 4, 4, 4, 7, 2], dtype=float)
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == ["We add.", "Wait, check it.", "Done"]
    anchors = token_anchors(text, off)
    assert anchors.tolist() == [0, 3, 6, 8, 12, 14, 20, 22, 23, 24]
    who = assign_tokens(anchors, spans)
    assert who.tolist() == [0, 0, 0, 1, 1, 1, 1, 1, -1, 2]  # the newline token belongs to no sentence
    rows = sentence_rows(text, spans, off, ent)
    assert [(r["mean_entropy"], r["reflective"], r["num_tokens"]) for r in rows] == [(1.0, False, 3), (4.0, True, 5), (2.0, False, 1)]


def test_split_sentences_decimals_abbreviations_latex():
    text = "The value is 3.14. Next, e.g. Mr. Smith's $x = 2.5$ works.\n\\[ x^2 = 4 \\]\n\nSo x = 2. Wait... is it? Yes!"
    got = [text[s:e] for s, e in split_sentences(text)]
    assert got == ["The value is 3.14.", "Next, e.g. Mr. Smith's $x = 2.5$ works.", "\\[ x^2 = 4 \\]", "So x = 2.", "Wait... is it?", "Yes!"]
    assert split_sentences("") == [] and split_sentences(" \n ") == []


def test_real_tokenizer_offsets_align(tmp_path_factory):
    """With the SmolLM2 tokenizer (byte-level BPE: leading-space tokens, split words, LaTeX,
    non-ASCII), every pivotal word's first aligned token contains the word's first character."""
    transformers = pytest.importorskip("transformers")
    from entropykit.models import build_tiny_model

    path = build_tiny_model(str(tmp_path_factory.mktemp("tiny") / "m"))
    tok = transformers.AutoTokenizer.from_pretrained(path)
    text = ("First, note that $\\sqrt{2}\\approx 1.41$; THEREFORE the naïve bound fails. Notwithstanding, "
            "we'd consider Schrödinger's x≥0 — however 𝑥 is small, so then: finally\n\\therefore done.")
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    off = np.array(enc["offset_mapping"])
    ent = np.arange(len(off), dtype=float)
    rows, _ = pivotal_occurrences(text, off, ent)
    found = [r["word"] for r in rows]
    assert found == ["first", "note", "therefore", "consider", "however", "so", "then", "finally", "therefore"]
    for r in rows:
        first = int(r["entropy_first"])  # entropy == token index here
        s, e = off[first]
        assert s <= r["start"] < e
        idx = tokens_in_span(off, r["start"], r["end"])
        assert "".join(text[off[i][0] : off[i][1]] for i in idx).strip().lower().endswith(r["word"][-2:])


def test_find_pivotal_words_and_custom_lexicon(tmp_path):
    ws = [m.word for m in find_pivotal_words("So, THEREFORE also first-order nextgen; then. Second, However")]
    assert ws == ["so", "therefore", "then", "second", "however"]
    f = tmp_path / "words.txt"
    f.write_text("# extra\ncausal: ergo, consequently\nwhence\nmeta: on the other hand\n")
    lex = merge_lexicons({"causal": ("so",)}, load_lexicon_file(f))
    ms = find_pivotal_words("Ergo x; whence y. On the  other\nhand, so.", lex)
    assert [(m.word, m.category) for m in ms] == [("ergo", "causal"), ("whence", "custom"), ("on the other hand", "meta"), ("so", "causal")]
    bad = tmp_path / "bad.txt"
    bad.write_text("causal:   \n")
    with pytest.raises(UserError):
        load_lexicon_file(bad)
    with pytest.raises(UserError):
        load_lexicon_file(tmp_path / "missing.txt")


def test_reflective_patterns(tmp_path):
    assert is_reflective("Let me double-check this.")
    assert is_reflective("Wait, that is wrong.")
    assert is_reflective("We can verify the result.")
    assert is_reflective("To confirm, plug in x = 2.")
    assert not is_reflective("The waiter brought 3 checks.".replace("checks", "cheques"))
    assert not is_reflective("So x = 5.")
    f = tmp_path / "p.txt"
    f.write_text("# comment\n\\bhmm+\\b\n")
    pats = load_patterns_file(f)
    assert is_reflective("Hmmm, odd.", pats) and not is_reflective("Wait.", pats)
    f.write_text("(unclosed\n")
    with pytest.raises(UserError, match=":1:"):
        load_patterns_file(f)


def test_repetition_rate_and_response_metrics():
    # 8 words -> 5 four-grams, (a b c d) twice -> 1 - 4/5
    assert repetition_rate("a b c d a b c d") == pytest.approx(0.2)
    assert repetition_rate("A b C d a B c D", n=4) == pytest.approx(0.2)  # lower-cased
    assert repetition_rate("a b c") == 0.0
    assert repetition_rate("x x x x", n=1) == pytest.approx(0.75)
    text = "First, we add 2. Wait, let me verify: 2 + 2 = 4. So the answer is 4."
    m = response_metrics(text, 21)
    assert m == {
        "num_tokens": 21, "num_words": 18, "num_chars": len(text), "num_sentences": 3,
        "pivotal_count": 2, "reflective_count": 1, "repetition_rate": 0.0, "repetition_n": 4,
    }
    assert response_metrics(text)["num_tokens"] is None
    agg = aggregate_metrics([m, response_metrics("So so so so so.", 5)])
    assert agg["count"] == 2 and agg["mean_num_tokens"] == 13.0 and agg["mean_pivotal_count"] == 3.5
