"""Per-response tables: pivotal-word occurrences, sentences with their entropy, word entropies.

Pure functions over one response's text, token offsets and token entropies (from the token
table); the pipeline concatenates their rows over all responses.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Iterable, Mapping, Sequence

import numpy as np

from entropykit.response_metrics import find_pivotal_words, is_reflective

from .align import assign_tokens, token_anchors, tokens_in_span, word_entropy

_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


def pivotal_occurrences(
    text: str,
    offsets: np.ndarray,
    entropies: np.ndarray,
    lexicon: Mapping[str, Iterable[str]] | None = None,
) -> tuple[list[dict], np.ndarray]:
    """Pivotal words of one response aligned to its tokens.

    Returns ``(rows, in_word)``: one row per occurrence with ``word, category, surface, start,
    end, num_tokens, entropy_first`` (entropy of the word's first token), ``entropy_mean``
    (mean over its tokens), and a boolean mask over the response's tokens marking every token
    that belongs to a pivotal word (the "other tokens" of the comparison are the rest).
    An occurrence that overlaps no token (cannot happen with a complete tokenization) is dropped.
    """
    ent = np.asarray(entropies, dtype=np.float64)
    off = np.asarray(offsets).reshape(-1, 2)
    in_word = np.zeros(len(ent), dtype=bool)
    rows = []
    for m in find_pivotal_words(text, lexicon):
        idx = tokens_in_span(off, m.start, m.end)
        if idx.size == 0:
            continue
        in_word[idx] = True
        rows.append(
            {
                "word": m.word,
                "category": m.category,
                "surface": m.surface,
                "start": m.start,
                "end": m.end,
                "num_tokens": int(idx.size),
                "entropy_first": word_entropy(ent, idx, "first"),
                "entropy_mean": word_entropy(ent, idx, "mean"),
            }
        )
    return rows, in_word


def sentence_rows(
    text: str,
    spans: Sequence[tuple[int, int]],
    offsets: np.ndarray,
    entropies: np.ndarray,
    patterns: Sequence[str] | None = None,
) -> list[dict]:
    """One row per sentence span: ``start, end, text, num_tokens, mean_entropy, reflective``.

    Each token belongs to the sentence containing its first non-space character
    (`align.token_anchors`), so the sentence entropy is the mean over the tokens that start
    in it; ``mean_entropy`` is None for a sentence that no token starts in.
    """
    ent = np.asarray(entropies, dtype=np.float64)
    who = assign_tokens(token_anchors(text, offsets), spans)
    n = len(spans)
    sums = np.bincount(who[who >= 0], weights=ent[who >= 0], minlength=n) if n else np.zeros(0)
    cnts = np.bincount(who[who >= 0], minlength=n) if n else np.zeros(0, np.int64)
    rows = []
    for j, (s, e) in enumerate(spans):
        sent = text[s:e]
        rows.append(
            {
                "start": int(s),
                "end": int(e),
                "text": sent,
                "num_tokens": int(cnts[j]),
                "mean_entropy": float(sums[j] / cnts[j]) if cnts[j] else None,
                "reflective": bool(is_reflective(sent, patterns)),
            }
        )
    return rows


def word_first_entropies(text: str, offsets: np.ndarray, entropies: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Every alphabetic word of the response (lower-cased) with the entropy of its first token.

    Vectorized: the first token of a word starting at s is the first non-empty token whose
    end > s. Words with no token are dropped.
    """
    off = np.asarray(offsets).reshape(-1, 2)
    ent = np.asarray(entropies, dtype=np.float64)
    keep = off[:, 1] > off[:, 0]
    off, ent = off[keep], ent[keep]
    words, starts = [], []
    for m in _WORD.finditer(text):
        words.append(m.group(0).lower())
        starts.append(m.start())
    if not words or len(off) == 0:
        return [], np.zeros(0)
    starts = np.asarray(starts)
    # token ends are non-decreasing for a left-to-right tokenization
    j = np.searchsorted(off[:, 1], starts, side="right")
    ok = j < len(off)
    jj = np.clip(j, 0, len(off) - 1)
    return [w for w, k in zip(words, ok) if k], ent[jj[ok]]


def top_counts(keys: Sequence[str], values: np.ndarray, threshold: float, top: int = 30, min_count: int = 2) -> list[dict]:
    """Forking items: among occurrences with value >= threshold, the ``top`` most frequent keys.

    Each row: ``key, high_count`` (occurrences at/above threshold), ``count`` (all occurrences),
    ``high_fraction = high_count / count`` and ``mean_entropy`` (over all its occurrences).
    Keys seen fewer than ``min_count`` times overall are skipped.
    """
    tot = defaultdict(int)
    hi = defaultdict(int)
    s = defaultdict(float)
    for k, v in zip(keys, np.asarray(values, dtype=np.float64)):
        tot[k] += 1
        s[k] += v
        if v >= threshold:
            hi[k] += 1
    rows = [
        {"key": k, "high_count": c, "count": tot[k], "high_fraction": c / tot[k], "mean_entropy": s[k] / tot[k]}
        for k, c in hi.items()
        if tot[k] >= min_count
    ]
    rows.sort(key=lambda r: (-r["high_count"], -r["mean_entropy"], r["key"]))
    return rows[:top]


def normalize_token(tok: str) -> str:
    """Display/grouping form of a token string: surrounding whitespace stripped; a pure-space
    or newline token shown as ⎵ / ↵."""
    s = tok.strip()
    if s:
        return s
    return "↵" if "\n" in tok else "⎵"
