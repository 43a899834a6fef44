"""Word/sentence <-> token alignment on tricky tokenizations, and the shared response metrics."""

import numpy as np
import pytest

from entropykit.analysis import assign_tokens, sentence_rows, token_anchors, tokens_in_span, word_entropy, word_units
from entropykit.errors import UserError
from entropykit.response_metrics import (
    EXTENDED_LEXICON,
    aggregate_metrics,
    find_pivotal_words,
    is_reflective,
    load_lexicon_file,
    load_patterns_file,
    merge_lexicons,
    repetition_rate,
    resolve_lexicon,
    resolve_patterns,
    response_metrics,
    split_sentences,
)


def piv(u):
    """(word, first-token entropy, number of tokens) of the pivotal units."""
    return [(w, float(e), int(n)) for w, e, n, p in zip(u.word, u.entropy_first, u.num_tokens, u.pivotal) if p]


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
    u = word_units(text, off, ent)
    assert u.word == ["therefore", "x"] and u.pivotal.tolist() == [True, False] and u.category == ["causal", ""]
    assert u.entropy_first.tolist() == [3.0, 0.5] and u.entropy_mean.tolist() == [2.0, 0.5]
    assert u.first_token.tolist() == [0, 2] and u.last_token.tolist() == [1, 2] and u.num_tokens.tolist() == [2, 1]


def test_leading_space_and_punctuation_control_is_words_only():
    text = "a because b. However, yes 42 !"
    off = toks(text, ["a", " because", " b", ".", " However", ",", " yes", " 42", " !"])
    ent = np.arange(9, dtype=float)
    u = word_units(text, off, ent)
    assert piv(u) == [("because", 1.0, 1), ("however", 4.0, 1)]  # the comma is not part of "However"
    # the control: the other *words* (a, b, yes), never ".", ",", "42" or "!"
    assert [(w, float(e)) for w, e, p in zip(u.word, u.entropy_first, u.pivotal) if not p] == [("a", 0.0), ("b", 2.0), ("yes", 6.0)]


def test_latex_and_word_boundaries():
    text = "$\\frac{1}{2}$ so \\therefore also firstly suggests first-order"
    off = toks(text, ["$\\", "frac", "{", "1", "}{", "2", "}$", " so", " \\", "there", "fore", " also", " first", "ly",
                      " suggest", "s", " first", "-", "order"])
    ent = np.linspace(0, 1.8, 19)
    u = word_units(text, off, ent)
    # paper lexicon: "therefore" (LaTeX \therefore is the sign), "firstly" (-> first), "suggests" (-> suggest);
    # not "so" (extended only), "also", or "first-order"
    assert [w for w, p in zip(u.word, u.pivotal) if p] == ["therefore", "first", "suggest"]
    assert piv(u)[0][1] == pytest.approx(ent[9]) and piv(u)[0][2] == 2
    assert "first-order" in u.word and "frac" in u.word
    u2 = word_units(text, off, ent, EXTENDED_LEXICON)
    assert [w for w, p in zip(u2.word, u2.pivotal) if p] == ["so", "therefore", "first", "suggest"]


def test_non_ascii_byte_pieces_and_empty_tokens():
    # "é" split into two byte-level pieces that share the same character span; a special token
    # with an empty span at the start; offsets are character (not byte) offsets.
    text = "Donc é, thus 𝑥"
    off = np.array([(0, 0), (0, 4), (4, 5), (5, 6), (5, 6), (6, 7), (7, 12), (12, 14), (13, 14)])
    ent = np.array([9.0, 1, 1, 2, 2.5, 1, 4, 1, 1])
    u = word_units(text, off, ent)
    assert piv(u) == [("thus", 4.0, 1)]
    assert u.word == ["donc", "é", "thus", "𝑥"] and u.first_token.tolist() == [1, 3, 6, 7]  # never the empty token 0
    assert u.entropy_mean.tolist()[1] == pytest.approx(2.25)  # both byte pieces of "é"
    assert tokens_in_span(off, 5, 6).tolist() == [3, 4]


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


@pytest.mark.parametrize("text,expected", [
    # issue 9: pySBD alone gives "Let a = log_2", "(x) and b = log_2", "(y).", ...
    ("Let a = log_2(x) and b = log_2(y). Then a + b = 3.", ["Let a = log_2(x) and b = log_2(y).", "Then a + b = 3."]),
    ("So f(x) = 2. Then g(y).", ["So f(x) = 2.", "Then g(y)."]),
    ("We have that $r = \\sqrt{0^2 + 3^2} = 3.$  Also, we draw.", ["We have that $r = \\sqrt{0^2 + 3^2} = 3.$", "Also, we draw."]),
    ("Since \\(a. b\\) holds, stop. Done.", ["Since \\(a. b\\) holds, stop.", "Done."]),
    ("Thus\n\\[\nx = 2.\n\\]\nThen we stop.", ["Thus\n\\[\nx = 2.\n\\]", "Then we stop."]),  # a sentence running into a display
    ("We get\n\\[x = 2,\\]\nwhere x is real. Done.", ["We get\n\\[x = 2,\\]\nwhere x is real.", "Done."]),
    ("\\[x = \\tan 46^\\circ.\\]Therefore, $x = 46.$", ["\\[x = \\tan 46^\\circ.\\]", "Therefore, $x = 46.$"]),  # no space after maths
    ("It costs $5. Then he pays $6. Done.", ["It costs $5.", "Then he pays $6.", "Done."]),  # prices are not maths
    ("We get (x-1)(x+2) = 0. So x=1 or x=-2.", ["We get (x-1)(x+2) = 0.", "So x=1 or x=-2."]),
    ("\\begin{align*} a &= 1. \\\\ b &= 2. \\end{align*} Hence done.", ["\\begin{align*} a &= 1. \\\\ b &= 2. \\end{align*} Hence done."]),
])
def test_split_sentences_maths_aware(text, expected):
    assert [text[s:e] for s, e in split_sentences(text)] == expected


def test_split_sentences_on_real_latex_solutions():
    """MATH-500 reference solutions (real LaTeX-heavy text): no sentence boundary falls inside
    maths or a bracket group, and no piece is a stray fragment such as "(y)."."""
    import json
    from pathlib import Path

    from entropykit.response_metrics import protected_spans

    path = Path(__file__).resolve().parents[1] / "entropykit" / "data" / "benchmarks" / "math500.jsonl"
    sols = [json.loads(line)["solution"] for line in path.read_text().splitlines()[:150]]
    n = 0
    for t in sols:
        spans = split_sentences(t)
        n += len(spans)
        cuts = {s for s, _ in spans} | {e for _, e in spans}
        for a, b in protected_spans(t):
            assert not any(a < c < b for c in cuts), t[a:b]
        for s, e in spans:
            piece = t[s:e]
            assert any(ch.isalnum() for ch in piece) or piece.startswith(("\\[", "$$", "\\begin", "[asy]", "[/asy]")) or set(piece) <= set("{}"), piece
    assert n > 600


def test_real_tokenizer_offsets_align(tmp_path_factory):
    """With the SmolLM2 tokenizer (byte-level BPE: leading-space tokens, split words, LaTeX,
    non-ASCII), every pivotal word's first aligned token contains the word's first character."""
    transformers = pytest.importorskip("transformers")
    from entropykit.models import build_tiny_model

    path = build_tiny_model(str(tmp_path_factory.mktemp("tiny") / "m"))
    tok = transformers.AutoTokenizer.from_pretrained(path)
    text = ("First, note that $\\sqrt{2}\\approx 1.41$; THEREFORE the naïve bound fails. Notwithstanding, "
            "we'd consider Schrödinger's x≥0 — however 𝑥 is small, so then: finally\n\\therefore done. Recalling it suggests so.")
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    off = np.array(enc["offset_mapping"])
    ent = np.arange(len(off), dtype=float)
    u = word_units(text, off, ent, EXTENDED_LEXICON)
    found = [w for w, p in zip(u.word, u.pivotal) if p]
    assert found == ["first", "note", "therefore", "consider", "however", "so", "then", "finally", "therefore", "recall", "suggest", "so"]
    for s_, first in zip(u.start, u.first_token):
        a, b = off[first]
        assert a <= s_ < b  # the first token holds the word's first character
    assert u.entropy_first.tolist() == u.first_token.tolist()  # entropy == token index here: each word's own first token
    # every word is covered by the tokens between first and last
    for s_, e_, first, last in zip(u.start, u.end, u.first_token, u.last_token):
        assert off[first][0] <= s_ and off[last][1] >= e_


def test_lexicons_paper_default_and_files(tmp_path):
    ws = [m.word for m in find_pivotal_words("So, THEREFORE also first-order nextgen; then. Second, However; firstly it suggests, recalled.")]
    assert ws == ["therefore", "then", "however", "first", "suggest", "recall"]  # paper lexicon: no "so", "second"
    assert [m.surface for m in find_pivotal_words("Firstly, it SUGGESTS.")] == ["Firstly", "SUGGESTS"]
    lex = resolve_lexicon("extended")
    assert [m.word for m in find_pivotal_words("So, since x; but next.", lex)] == ["so", "since", "but", "next"]
    f = tmp_path / "words.txt"
    f.write_text("# extra\ncausal: ergo, consequently\nwhence\nmeta: on the other hand\nreasoning_verb: infer/infers/inferred\n")
    lex = merge_lexicons({"causal": ("so",)}, load_lexicon_file(f))
    ms = find_pivotal_words("Ergo x; whence y. On the  other\nhand, so. It infers.", lex)
    assert [(m.word, m.category) for m in ms] == [("ergo", "causal"), ("whence", "custom"), ("on the other hand", "meta"),
                                                 ("so", "causal"), ("infer", "reasoning_verb")]
    replaced = resolve_lexicon(str(f))  # a file replaces the default ...
    assert "therefore" not in str(replaced) and "ergo" in str(replaced)
    added = resolve_lexicon("paper", f)  # ... unless added
    assert "therefore" in str(added) and "ergo" in str(added)
    assert merge_lexicons({"a": ("x/xs",)}, {"b": ("x/xes",)}) == {"a": ("x/xs/xes",)}
    bad = tmp_path / "bad.txt"
    bad.write_text("causal:   \n")
    with pytest.raises(UserError):
        load_lexicon_file(bad)
    with pytest.raises(UserError):
        load_lexicon_file(tmp_path / "missing.txt")
    with pytest.raises(UserError, match="neither"):
        resolve_lexicon("nope")


def test_reflective_patterns(tmp_path):
    # paper default: the verify and check families
    assert is_reflective("Let me double-check this.") and is_reflective("We can verify the result.")
    assert is_reflective("Verification: 2 + 2 = 4.") and is_reflective("Re-checking the sum.")
    assert not is_reflective("Wait, that is wrong.") and not is_reflective("To confirm, plug in x = 2.")
    ext = resolve_patterns("extended")
    assert is_reflective("Wait, that is wrong.", ext) and is_reflective("To confirm, plug in x = 2.", ext)
    assert not is_reflective("The waiter brought 3 cheques.", ext)
    assert not is_reflective("So x = 5.")
    f = tmp_path / "p.txt"
    f.write_text("# comment\n\\bhmm+\\b\n")
    pats = load_patterns_file(f)
    assert is_reflective("Hmmm, odd.", pats) and not is_reflective("Wait.", pats)
    assert resolve_patterns(str(f)) == pats and resolve_patterns("paper", f)[-1] == pats[0]
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
        "pivotal_count": 1, "reflective_count": 1, "repetition_rate": 0.0, "repetition_n": 4,
    }
    assert response_metrics(text, lexicon=EXTENDED_LEXICON)["pivotal_count"] == 2  # + "So"
    assert response_metrics(text)["num_tokens"] is None
    agg = aggregate_metrics([m, response_metrics("Then then then then then.", 5)])
    assert agg["count"] == 2 and agg["mean_num_tokens"] == 13.0 and agg["mean_pivotal_count"] == 3.0
