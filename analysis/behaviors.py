"""Per-response tables: word units (pivotal and control words), sentences with their entropy.

Pure functions over one response's text, token offsets and token entropies (from the token
table); the pipeline concatenates their rows over all responses.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from entropykit.response_metrics import find_pivotal_words, is_reflective

from .align import assign_tokens, token_anchors

_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


@dataclass
class WordUnits:
    """Every word of one response as a unit, pivotal (a lexicon match) or not (the control).

    Arrays over units in text order: ``start, end`` (characters), ``first_token, last_token``
    (indices into the response's tokens; the word covers every non-empty token in between),
    ``entropy_first`` (entropy of the word's first token: the decision point where the model
    commits to the word), ``entropy_mean`` (mean over its tokens), ``num_tokens``,
    ``pivotal`` (bool); lists ``word`` (lemma for pivotal units, lower-cased text otherwise)
    and ``category`` ("" for control words).
    """

    start: np.ndarray
    end: np.ndarray
    first_token: np.ndarray
    last_token: np.ndarray
    entropy_first: np.ndarray
    entropy_mean: np.ndarray
    num_tokens: np.ndarray
    pivotal: np.ndarray
    word: list
    category: list

    def __len__(self) -> int:
        return len(self.word)


def word_units(
    text: str,
    offsets: np.ndarray,
    entropies: np.ndarray,
    lexicon: Mapping[str, Iterable[str]] | None = None,
) -> WordUnits:
    """Split one response into word units and align them to its tokens by character offsets.

    Pivotal units are the lexicon matches (`find_pivotal_words`; a phrase is one unit); the
    other units are the remaining alphabetic words (letters, inner apostrophes/hyphens) that
    overlap no match, so pivotal words are compared with the same position (first token) of
    other *words*, never with whitespace, digits or punctuation. A word's tokens are those whose
    span overlaps it (a leading-space token " therefore" counts); vectorized with binary search,
    which needs token spans in text order (any left-to-right tokenizer). Words that no token
    covers are dropped.
    """
    off = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    ent = np.asarray(entropies, dtype=np.float64)
    keep = np.nonzero(off[:, 1] > off[:, 0])[0]
    ts, te, ke = off[keep, 0], off[keep, 1], ent[keep]
    units: list[tuple[int, int, str, str, bool]] = []
    matches = find_pivotal_words(text, lexicon)
    for m in matches:
        units.append((m.start, m.end, m.word, m.category, True))
    mi = 0
    for w in _WORD.finditer(text):
        s, e = w.span()
        while mi < len(matches) and matches[mi].end <= s:
            mi += 1
        if mi < len(matches) and matches[mi].start < e:
            continue  # part of a pivotal match
        units.append((s, e, w.group(0).lower(), "", False))
    units.sort(key=lambda u: u[0])
    st = np.array([u[0] for u in units], dtype=np.int64)
    en = np.array([u[1] for u in units], dtype=np.int64)
    first = np.searchsorted(te, st, side="right")  # first token ending after the word starts
    last = np.searchsorted(ts, en, side="left") - 1  # last token starting before it ends
    ok = (first < len(keep)) & (first <= last)
    first, last = first[ok], last[ok]
    csum = np.concatenate([[0.0], np.cumsum(ke)])
    ntok = last - first + 1
    sel = [u for u, k in zip(units, ok) if k]
    return WordUnits(
        start=st[ok], end=en[ok], first_token=keep[first] if len(first) else first, last_token=keep[last] if len(last) else last,
        entropy_first=ke[first] if len(first) else np.zeros(0), entropy_mean=(csum[last + 1] - csum[first]) / np.maximum(ntok, 1),
        num_tokens=ntok, pivotal=np.array([u[4] for u in sel], dtype=bool),
        word=[u[2] for u in sel], category=[u[3] for u in sel],
    )


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
