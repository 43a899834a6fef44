"""Per-response test-time dynamics shared by `entropykit analyze` and `entropykit passk`.

The paper (section 6.2, Figure 8) tracks, per generated response: how many *pivotal tokens* it
uses, how many *reflective actions* (self-verification / correction sentences) it contains,
its length, and its n-gram repetition rate. This module is the one definition of those
quantities; the analysis tool and the eval tool both import it.

Stable API
----------
- ``response_metrics(text, num_tokens=None, *, lexicon=None, reflective=None, n=4, sentences=None) -> dict``
  returns::

      {"num_tokens": int | None,      # as given (the caller's tokenizer count), else None
       "num_words": int,              # whitespace-separated words
       "num_chars": int,
       "num_sentences": int,          # split_sentences(text)
       "pivotal_count": int,          # occurrences of lexicon words/phrases (find_pivotal_words)
       "reflective_count": int,       # sentences matching a reflective pattern
       "repetition_rate": float,      # seq-rep-n, n = 4 by default (see repetition_rate)
       "repetition_n": int}

- ``aggregate_metrics(rows) -> dict``: mean of each numeric field over many responses.
- ``PAPER_LEXICON`` (= ``DEFAULT_PIVOTAL_LEXICON``) / ``EXTENDED_LEXICON``:
  ``{category: ("lemma/form/...", ...)}``; ``resolve_lexicon(spec, add)`` for ``--lexicon``.
- ``PAPER_REFLECTIVE_PATTERNS`` (= ``DEFAULT_REFLECTIVE_PATTERNS``: the verify/check families) /
  ``EXTENDED_REFLECTIVE_PATTERNS``; ``resolve_patterns(spec, add)`` for ``--reflective``.
- ``find_pivotal_words(text, lexicon=None) -> list[WordMatch]`` (character spans, lemmas).
- ``split_sentences(text) -> list[tuple[int, int]]`` (character spans; maths-aware, pySBD per line).
- ``is_reflective(sentence, patterns=None) -> bool``.
- ``repetition_rate(text, n=4) -> float``.
- ``load_lexicon_file(path)``, ``load_patterns_file(path)``: user files (UserError on bad files).

All functions are pure and cheap (no model): pySBD segmentation is ~5 ms per KB of text.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from entropykit.errors import UserError

# Pivotal words (paper section 2). An entry is "lemma" or "lemma/form/form...": every form is
# matched and counted under its lemma. PAPER_LEXICON holds exactly the words the paper names
# (Figure 2: first, recall, thus; the text: because, therefore, however, although, then,
# suggest, demonstrate) in its four categories, with their inflected forms. EXTENDED_LEXICON
# adds common connectives the paper does not name ("so", "but", "since", ...); they are frequent
# and ambiguous (a "so" that means "very", a "since" that means time), so they are opt-in.
# "second" is in neither: it mostly means the ordinal ("the second equation").
PAPER_LEXICON: dict[str, tuple[str, ...]] = {
    "causal": ("because", "therefore", "thus"),
    "contrastive": ("however", "although"),
    "sequential": ("first/firstly", "then"),
    "reasoning_verb": (
        "suggest/suggests/suggested/suggesting",
        "demonstrate/demonstrates/demonstrated/demonstrating",
        "recall/recalls/recalled/recalling",
    ),
}
EXTENDED_LEXICON: dict[str, tuple[str, ...]] = {
    "causal": PAPER_LEXICON["causal"] + ("hence", "so", "since", "consequently"),
    "contrastive": PAPER_LEXICON["contrastive"] + ("but", "yet", "though", "whereas", "instead"),
    "sequential": PAPER_LEXICON["sequential"] + ("next", "finally", "secondly"),
    "reasoning_verb": PAPER_LEXICON["reasoning_verb"] + (
        "consider/considers/considered/considering",
        "assume/assumes/assumed/assuming",
        "note/notes/noted/noting",
        "imply/implies/implied/implying",
        "conclude/concludes/concluded/concluding",
    ),
}
DEFAULT_PIVOTAL_LEXICON = PAPER_LEXICON
LEXICONS = {"paper": PAPER_LEXICON, "extended": EXTENDED_LEXICON}

# Reflective actions (paper section 2): "sentences containing keywords such as 'verify' or
# 'check'". PAPER: the verify and check word families (double-check, re-check included).
# EXTENDED adds other self-correction markers. All case-insensitive.
PAPER_REFLECTIVE_PATTERNS: tuple[str, ...] = (
    r"\bverif(?:y|ies|ied|ying|ication)\b",
    r"\b(?:double[- ]?|re-?)?check(?:s|ed|ing)?\b",
)
EXTENDED_REFLECTIVE_PATTERNS: tuple[str, ...] = PAPER_REFLECTIVE_PATTERNS + (
    r"\bre-?examin(?:e|es|ed|ing)\b",
    r"\bconfirm(?:s|ed|ing)?\b",
    r"\bwait\b",
    r"\breconsider",
    r"\bre-?evaluat",
    r"\bre-?calculat",
    r"\b(?:made|make) (?:a|an) (?:mistake|error)\b",
    r"\bthat(?:'s| is) (?:not right|incorrect|wrong)\b",
)
DEFAULT_REFLECTIVE_PATTERNS = PAPER_REFLECTIVE_PATTERNS
PATTERN_SETS = {"paper": PAPER_REFLECTIVE_PATTERNS, "extended": EXTENDED_REFLECTIVE_PATTERNS}

DEFAULT_REPETITION_N = 4


@dataclass(frozen=True)
class WordMatch:
    """One occurrence of a lexicon entry: ``text[start:end] == surface`` (case as written)."""

    start: int
    end: int
    word: str  # lemma of the lexicon entry (lower case)
    category: str
    surface: str


def _phrase(w: str) -> str:
    return " ".join(str(w).lower().split())


def parse_entry(entry: str) -> tuple[str, tuple[str, ...]]:
    """``"lemma/form/form"`` -> ``(lemma, (lemma, form, form))`` (lower case, inner spaces collapsed)."""
    forms = tuple(dict.fromkeys(f for f in (_phrase(x) for x in str(entry).split("/")) if f))
    return (forms[0] if forms else ""), forms


def _normalize_lexicon(lexicon: Mapping[str, Iterable[str]] | None) -> tuple[tuple[str, str, str], ...]:
    """``(form, lemma, category)`` for every form; the first category/lemma given for a form wins."""
    lex = DEFAULT_PIVOTAL_LEXICON if lexicon is None else lexicon
    out: dict[str, tuple[str, str]] = {}
    for cat, entries in lex.items():
        for entry in entries:
            lemma, forms = parse_entry(entry)
            for f in forms:
                out.setdefault(f, (lemma, str(cat)))
    return tuple(sorted((f, lem, cat) for f, (lem, cat) in out.items()))


@functools.lru_cache(maxsize=32)
def _lexicon_regex(forms: tuple[str, ...]) -> re.Pattern:
    # Longest first so that "double check" wins over "check"; \s+ inside phrases.
    words = sorted(forms, key=len, reverse=True)
    alts = "|".join(r"\s+".join(re.escape(p) for p in w.split(" ")) for w in words)
    # Bounded by non-word characters and hyphens: "so" does not match in "also" or "so-called",
    # "first" not in "first-order".
    return re.compile(rf"(?<![\w-])(?:{alts})(?![\w-])", re.IGNORECASE)


def find_pivotal_words(text: str, lexicon: Mapping[str, Iterable[str]] | None = None) -> list[WordMatch]:
    """All non-overlapping occurrences of pivotal words/phrases in ``text``, left to right.

    A match is case-insensitive and bounded by non-word, non-hyphen characters (Unicode-aware),
    so "So," and "THEREFORE" match but "also", "nextgen" and "first-order" do not. ``lexicon``
    maps category -> entries ``"lemma"`` or ``"lemma/form/..."`` (default: `PAPER_LEXICON`);
    ``WordMatch.word`` is the lemma ("suggests" counts as "suggest").
    """
    triples = _normalize_lexicon(lexicon)
    if not triples:
        return []
    info = {f: (lem, cat) for f, lem, cat in triples}
    out = []
    for m in _lexicon_regex(tuple(f for f, _, _ in triples)).finditer(text):
        surface = m.group(0)
        lemma, cat = info.get(_phrase(surface), (_phrase(surface), "custom"))
        out.append(WordMatch(m.start(), m.end(), lemma, cat, surface))
    return out


@functools.lru_cache(maxsize=32)
def _compiled_patterns(patterns: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


def is_reflective(sentence: str, patterns: Sequence[str] | None = None) -> bool:
    """True when the sentence matches any reflective regex (case-insensitive)."""
    pats = _compiled_patterns(tuple(DEFAULT_REFLECTIVE_PATTERNS if patterns is None else patterns))
    return any(p.search(sentence) for p in pats)


@functools.lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


# Maths that must stay inside one sentence: display and inline TeX, environments. Inline $...$
# may not cross a blank line, is capped in length and, as in TeX practice, neither starts nor
# ends with a space, so prices ("$5. Then he pays $6.") are not taken for maths.
_MATH = re.compile(
    r"\$\$.+?\$\$"
    r"|\\\[.+?\\\]"
    r"|\\\(.+?\\\)"
    r"|\\begin\{([A-Za-z*]+)\}.+?\\end\{\1\}"
    r"|(?<![\\$])\$(?=\S)(?:\\.|[^$\\\n]|\n(?!\s*\n)){1,400}?(?<=\S)\$",
    re.DOTALL,
)
_MAX_BRACKET = 300  # longest (...) / [...] group kept whole
_ENDS = ".!?"


def _bracket_spans(text: str) -> list[tuple[int, int]]:
    """Outermost balanced ``(...)`` / ``[...]`` groups on one line (at most _MAX_BRACKET long).

    pySBD treats an opening bracket as a possible sentence start ("log_2(y)." becomes
    "log_2" + "(y)."), so argument lists, intervals and parentheticals are kept whole.
    """
    spans, stack = [], []
    pairs = {")": "(", "]": "["}
    for i, ch in enumerate(text):
        if ch in "([":
            stack.append((ch, i))
        elif ch in pairs:
            if stack and stack[-1][0] == pairs[ch]:
                _, j = stack.pop()
                if not stack and i + 1 - j <= _MAX_BRACKET:
                    spans.append((j, i + 1))
            else:
                stack.clear()
        elif ch == "\n":
            stack.clear()
    return spans


def protected_spans(text: str) -> list[tuple[int, int]]:
    r"""Sorted, merged ``(start, end)`` regions that no sentence boundary may cut: TeX maths
    (``$...$``, ``$$...$$``, ``\(...\)``, ``\[...\]``, ``\begin{env}...\end{env}``) and
    balanced brackets (function arguments such as ``log_2(y)``, intervals, parentheticals)."""
    spans = [m.span() for m in _MATH.finditer(text)]
    covered = _merge(spans)
    # brackets outside maths (inside maths they are protected already)
    masked = _mask(text, covered, keep_end=False)
    spans += _bracket_spans(masked)
    return _merge(spans)


def _merge(spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for s, e in sorted(spans):
        if out and s < out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def _mask(text: str, spans: Sequence[tuple[int, int]], keep_end: bool = True) -> str:
    """``text`` with each span replaced by as many letters (same length, so positions hold).

    With ``keep_end``, a span whose content ends a sentence (``$x = 3.$``) keeps that
    punctuation as its last character, so the sentence still ends where the span ends.
    """
    if not spans:
        return text
    parts, pos = [], 0
    for s, e in spans:
        parts.append(text[pos:s])
        inner = text[s:e].rstrip("$])\\ \n")
        end_char = inner[-1] if keep_end and inner and inner[-1] in _ENDS else ""
        parts.append("x" * (e - s - len(end_char)) + end_char)
        pos = e
    parts.append(text[pos:])
    return "".join(parts)


def _blank(text: str, spans: Sequence[tuple[int, int]]) -> str:
    parts, pos = [], 0
    for s, e in spans:
        parts += [text[pos:s], " " * (e - s)]
        pos = e
    return "".join(parts) + text[pos:]


_DISPLAY_START = ("\\[", "$$", "\\begin")


def _join_display_lines(text: str, masked: str, prot: Sequence[tuple[int, int]]) -> str:
    """Replace by spaces the newlines that do not end a sentence around display maths: before a
    display (``\\[``, ``$$``, ``\\begin``) when the text before it has no final punctuation
    ("Then\\n\\[x = 2.\\]"), and after a display without final punctuation when the next
    line starts in lower case ("\\[x = 2,\\]\\nwhere ...")."""
    starts = {s: e for s, e in prot if text.startswith(_DISPLAY_START, s)}
    ends = {e for s, e in prot if text.startswith(_DISPLAY_START, s)}
    if not starts:
        return masked
    chars = list(masked)
    for m in re.finditer(r"\n\s*", masked):
        before = masked[: m.start()].rstrip()
        nxt = m.end()
        if not before or nxt >= len(masked):
            continue
        if (nxt in starts and before[-1] not in _ENDS) or (
            len(before) in ends and before[-1] not in _ENDS and masked[nxt].islower()
        ):
            for i in range(m.start(), m.end()):
                if chars[i] == "\n":
                    chars[i] = " "
    return "".join(chars)


def split_sentences(text: str) -> list[tuple[int, int]]:
    r"""Sentence spans ``(start, end)`` of ``text`` (end exclusive, whitespace trimmed).

    1. Maths and bracket groups are protected (`protected_spans`) and masked by letters of the
       same length, so pySBD never splits inside ``$...$``, ``\(...\)``, ``\[...\]`` or
       ``f(x)``; a protected span whose content ends in ".", "!" or "?" still ends a sentence.
    2. The text is cut at newlines outside protected spans (reasoning traces put steps and
       equations on their own lines) except where a sentence runs on into or out of a display
       (`_join_display_lines`), and each line is segmented with pySBD, which keeps
       decimals ("3.14") and abbreviations ("e.g.", "Mr.") inside a sentence.
    3. A piece with no letter or digit outside maths (a stray ")." or "2.") joins the sentence
       before it on the same line.
    ``text[start:end]`` is exactly the sentence.
    """
    prot = protected_spans(text)
    masked = _mask(text, prot)
    outside = _blank(text, prot)  # text outside maths/brackets, same positions
    masked = _join_display_lines(text, masked, prot)
    spans: list[tuple[int, int]] = []
    pos = 0
    for line in masked.split("\n"):
        line_start = pos
        pos += len(line) + 1
        if not line.strip():
            continue
        try:
            pieces = _segmenter().segment(line)
        except Exception:  # pySBD is robust, but never let a pathological line kill a run
            pieces = [line]
        cursor = 0
        line_spans: list[tuple[int, int]] = []
        for piece in pieces:
            st = piece.strip()
            if not st:
                continue
            i = line.find(st, cursor)
            if i < 0:  # pySBD altered the text (should not happen with clean=False)
                continue
            a, b = line_start + i, line_start + i + len(st)
            cursor = i + len(st)
            if line_spans and not any(c.isalnum() for c in outside[a:b]):
                line_spans[-1] = (line_spans[-1][0], b)  # a stray fragment joins its sentence
            else:
                line_spans.append((a, b))
        spans.extend(_split_after_maths(text, masked, prot, line_spans))
    return spans


def _split_after_maths(text: str, masked: str, prot: Sequence[tuple[int, int]], spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Cut after a maths span that ends a sentence and runs straight into the next one
    (``\\[ ... = 46.\\]Therefore ...``, ``$x = 3.$So``): pySBD needs a space to split there."""
    out = []
    for a, b in spans:
        for _, e in prot:
            if a < e < b and masked[e - 1] in _ENDS:
                rest = text[e:b]
                k = len(rest) - len(rest.lstrip())
                if rest.strip() and rest.lstrip()[0].isupper():
                    out.append((a, e))
                    a = e + k
        out.append((a, b))
    return out


def repetition_rate(text: str, n: int = DEFAULT_REPETITION_N) -> float:
    """seq-rep-n of Welleck et al. (2019): ``1 - |unique n-grams| / |n-grams|``.

    n-grams are over lower-cased whitespace words; n = 4 by default. 0.0 means no n-gram
    repeats; a response with fewer than n words has rate 0.0.
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    words = text.lower().split()
    total = len(words) - n + 1
    if total <= 0:
        return 0.0
    grams = {tuple(words[i : i + n]) for i in range(total)}
    return 1.0 - len(grams) / total


def response_metrics(
    text: str,
    num_tokens: int | None = None,
    *,
    lexicon: Mapping[str, Iterable[str]] | None = None,
    reflective: Sequence[str] | None = None,
    n: int = DEFAULT_REPETITION_N,
    sentences: Sequence[tuple[int, int]] | None = None,
) -> dict:
    """Test-time dynamics of one response (see the module docstring for the fields).

    ``sentences``: spans from ``split_sentences(text)`` when the caller already has them.
    """
    sents = split_sentences(text) if sentences is None else sentences
    return {
        "num_tokens": None if num_tokens is None else int(num_tokens),
        "num_words": len(text.split()),
        "num_chars": len(text),
        "num_sentences": len(sents),
        "pivotal_count": len(find_pivotal_words(text, lexicon)),
        "reflective_count": sum(is_reflective(text[s:e], reflective) for s, e in sents),
        "repetition_rate": repetition_rate(text, n),
        "repetition_n": n,
    }


_NUMERIC = ("num_tokens", "num_words", "num_chars", "num_sentences", "pivotal_count", "reflective_count", "repetition_rate")


def aggregate_metrics(rows: Iterable[Mapping]) -> dict:
    """Mean of each numeric field of ``response_metrics`` rows (None values ignored), plus ``count``."""
    sums: dict[str, float] = {k: 0.0 for k in _NUMERIC}
    counts: dict[str, int] = {k: 0 for k in _NUMERIC}
    n = 0
    for r in rows:
        n += 1
        for k in _NUMERIC:
            v = r.get(k)
            if v is not None:
                sums[k] += float(v)
                counts[k] += 1
    out: dict = {"count": n}
    for k in _NUMERIC:
        out[f"mean_{k}"] = sums[k] / counts[k] if counts[k] else None
    return out


def _read_lines(p: Path, what: str) -> list[str]:
    try:
        return p.read_text(encoding="utf-8-sig").splitlines()  # utf-8-sig: a leading BOM is dropped
    except FileNotFoundError:
        raise UserError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{p}: cannot read {what} ({e})") from None


def load_lexicon_file(path: str | Path) -> dict[str, tuple[str, ...]]:
    """Read extra pivotal words: one entry per line, ``#`` comments.

    A line is either ``category: entry, entry, ...`` or a single entry (category ``custom``);
    an entry is a word/phrase or ``lemma/form/form`` (e.g. ``suggest/suggests/suggested``).
    Returns ``{category: entries}``.
    """
    p = Path(path)
    lines = _read_lines(p, "word list")
    out: dict[str, list[str]] = {}
    for i, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if ":" in line:
            cat, words = line.split(":", 1)
            cat = cat.strip() or "custom"
            ws = [w.strip() for w in words.split(",") if w.strip()]
        else:
            cat, ws = "custom", [line]
        if not ws:
            raise UserError(f"{p}:{i}: no words after '{cat}:'")
        out.setdefault(cat, []).extend(ws)
    if not out:
        raise UserError(f"{p}: no words found")
    return {k: tuple(v) for k, v in out.items()}


def merge_lexicons(*lexicons: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    """Union of lexicons, category by category; entries with the same lemma merge their forms
    (the first category given for a lemma wins)."""
    forms: dict[str, list[str]] = {}
    cat_of: dict[str, str] = {}
    for lex in lexicons:
        for cat, entries in lex.items():
            for entry in entries:
                lemma, fs = parse_entry(entry)
                if not lemma:
                    continue
                cat_of.setdefault(lemma, str(cat))
                known = forms.setdefault(lemma, [])
                known += [f for f in fs if f not in known]
    out: dict[str, list[str]] = {}
    for lemma, fs in forms.items():
        out.setdefault(cat_of[lemma], []).append("/".join(fs))
    return {k: tuple(v) for k, v in out.items()}


def resolve_lexicon(spec: str = "paper", add: str | Path | None = None) -> dict[str, tuple[str, ...]]:
    """The pivotal lexicon for ``--lexicon paper|extended|FILE`` (a file *replaces* the default)
    plus, with ``--lexicon-add FILE``, that file's entries."""
    lex = LEXICONS.get(str(spec))
    if lex is None:
        p = Path(str(spec))
        if not p.exists():
            raise UserError(f"--lexicon: '{spec}' is neither 'paper', 'extended' nor an existing file")
        lex = load_lexicon_file(p)
    return merge_lexicons(lex, *([load_lexicon_file(add)] if add else []))


def resolve_patterns(spec: str = "paper", add: str | Path | None = None) -> tuple[str, ...]:
    """Reflective regexes for ``--reflective paper|extended|FILE`` (a file replaces the default)
    plus, with ``--reflective-add FILE``, that file's patterns."""
    pats = PATTERN_SETS.get(str(spec))
    if pats is None:
        p = Path(str(spec))
        if not p.exists():
            raise UserError(f"--reflective: '{spec}' is neither 'paper', 'extended' nor an existing file")
        pats = load_patterns_file(p)
    pats = tuple(pats)
    if add:
        pats += tuple(x for x in load_patterns_file(add) if x not in pats)
    return pats


def load_patterns_file(path: str | Path) -> tuple[str, ...]:
    """Read extra reflective regexes, one per line (``#`` at line start is a comment)."""
    p = Path(path)
    lines = _read_lines(p, "pattern list")
    pats = []
    for i, line in enumerate(lines, 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        try:
            re.compile(s, re.IGNORECASE)
        except re.error as e:
            raise UserError(f"{p}:{i}: invalid regular expression ({e})") from None
        pats.append(s)
    if not pats:
        raise UserError(f"{p}: no patterns found")
    return tuple(pats)
