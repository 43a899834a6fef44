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
- ``DEFAULT_PIVOTAL_LEXICON``: ``{category: (word, ...)}`` with the paper's four categories.
- ``DEFAULT_REFLECTIVE_PATTERNS``: case-insensitive regexes for self-verification/correction.
- ``find_pivotal_words(text, lexicon=None) -> list[WordMatch]`` (character spans).
- ``split_sentences(text) -> list[tuple[int, int]]`` (character spans, pySBD per line).
- ``is_reflective(sentence, patterns=None) -> bool``.
- ``repetition_rate(text, n=4) -> float``.
- ``load_lexicon_file(path)``, ``load_patterns_file(path)``: user extensions (UserError on bad files).

All functions are pure and cheap (no model): pySBD segmentation is ~5 ms per KB of text.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from entropykit.errors import UserError

# The paper's four categories of pivotal tokens (section 2; examples from its text and
# Figure 2). Words are matched case-insensitively on word boundaries; multi-word phrases work.
DEFAULT_PIVOTAL_LEXICON: dict[str, tuple[str, ...]] = {
    "causal": ("because", "therefore", "thus", "hence", "so", "since"),
    "contrastive": ("however", "although", "but", "yet", "though", "whereas"),
    "sequential": ("first", "then", "next", "finally", "second"),
    "reasoning_verb": ("suggest", "demonstrate", "recall", "consider", "assume", "note", "imply"),
}

# Self-verification and correction (paper section 2, "Reflective Actions"). Case-insensitive.
DEFAULT_REFLECTIVE_PATTERNS: tuple[str, ...] = (
    r"\bverif(?:y|ies|ied|ying|ication)\b",
    r"\b(?:re-?)?check(?:s|ed|ing)?\b",
    r"\bdouble[- ]?check",
    r"\bre-?examin(?:e|es|ed|ing)\b",
    r"\bconfirm(?:s|ed|ing)?\b",
    r"\bwait\b",
    r"\blet(?:'s| me| us) (?:re-?)?(?:check|verify|confirm|reconsider|re-?evaluate|re-?calculate)",
    r"\breconsider",
    r"\bre-?evaluat",
    r"\bre-?calculat",
    r"\b(?:made|make) (?:a|an) (?:mistake|error)\b",
    r"\bthat(?:'s| is) (?:not right|incorrect|wrong)\b",
)

DEFAULT_REPETITION_N = 4


@dataclass(frozen=True)
class WordMatch:
    """One occurrence of a lexicon entry: ``text[start:end] == surface`` (case as written)."""

    start: int
    end: int
    word: str  # lexicon entry (lower case)
    category: str
    surface: str


def _normalize_lexicon(lexicon: Mapping[str, Iterable[str]] | None) -> tuple[tuple[str, str], ...]:
    lex = DEFAULT_PIVOTAL_LEXICON if lexicon is None else lexicon
    pairs: dict[str, str] = {}
    for cat, words in lex.items():
        for w in words:
            w = " ".join(str(w).lower().split())
            if w and w not in pairs:
                pairs[w] = str(cat)
    return tuple(sorted(pairs.items()))


@functools.lru_cache(maxsize=32)
def _lexicon_regex(pairs: tuple[tuple[str, str], ...]) -> re.Pattern:
    # Longest first so that "double check" wins over "check"; \s+ inside phrases.
    words = sorted((w for w, _ in pairs), key=len, reverse=True)
    alts = "|".join(r"\s+".join(re.escape(p) for p in w.split(" ")) for w in words)
    # Bounded by non-word characters and hyphens: "so" does not match in "also" or "so-called",
    # "first" not in "first-order".
    return re.compile(rf"(?<![\w-])(?:{alts})(?![\w-])", re.IGNORECASE)


def find_pivotal_words(text: str, lexicon: Mapping[str, Iterable[str]] | None = None) -> list[WordMatch]:
    """All non-overlapping occurrences of pivotal words/phrases in ``text``, left to right.

    A match is case-insensitive and bounded by non-word, non-hyphen characters (Unicode-aware),
    so "So," and "THEREFORE" match but "also", "nextgen" and "first-order" do not. ``lexicon`` maps category -> words
    (default: the paper's causal / contrastive / sequential / reasoning-verb lists).
    """
    pairs = _normalize_lexicon(lexicon)
    if not pairs:
        return []
    cat = dict(pairs)
    out = []
    for m in _lexicon_regex(pairs).finditer(text):
        surface = m.group(0)
        key = " ".join(surface.lower().split())
        out.append(WordMatch(m.start(), m.end(), key, cat.get(key, "custom"), surface))
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


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` of ``text`` (end exclusive, whitespace trimmed).

    Lines are split on newlines first (reasoning traces put equations and steps on their own
    lines), then each line is segmented with pySBD, which keeps decimals ("3.14"),
    abbreviations ("e.g.", "Mr.") and inline LaTeX ("$x = 2.5$") inside one sentence. Spans are
    located in the original text, so ``text[start:end]`` is exactly the sentence.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    for line in text.split("\n"):
        line_start = pos
        pos += len(line) + 1
        if not line.strip():
            continue
        try:
            pieces = _segmenter().segment(line)
        except Exception:  # pySBD is robust, but never let a pathological line kill a run
            pieces = [line]
        cursor = 0
        for piece in pieces:
            s = piece.strip()
            if not s:
                continue
            i = line.find(s, cursor)
            if i < 0:  # pySBD altered the text (should not happen with clean=False)
                continue
            spans.append((line_start + i, line_start + i + len(s)))
            cursor = i + len(s)
    return spans


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

    A line is either ``category: word, word, ...`` or a single word/phrase (category
    ``custom``). Returns ``{category: words}`` to merge into the default lexicon.
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
    """Union of lexicons, category by category (first category wins for a repeated word)."""
    out: dict[str, list[str]] = {}
    seen: set[str] = set()
    for lex in lexicons:
        for cat, words in lex.items():
            for w in words:
                key = " ".join(str(w).lower().split())
                if key and key not in seen:
                    seen.add(key)
                    out.setdefault(cat, []).append(key)
    return {k: tuple(v) for k, v in out.items()}


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
