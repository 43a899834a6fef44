"""Word/sentence <-> token alignment by character offsets.

The scorer gives each response token a ``(start, end)`` character span in the response string
(a leading-space token such as "Ġtherefore" covers the space too; a byte-fallback piece of a
multi-byte character may share its character span with its neighbour; special tokens may have
an empty span). Everything here works on those spans only, never on token strings, so any
tokenizer works.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def tokens_in_span(offsets: np.ndarray, start: int, end: int) -> np.ndarray:
    """Indices of the tokens whose span overlaps ``[start, end)``, in order.

    Overlap means ``tok_start < end and tok_end > start``; tokens with an empty span never
    overlap. ``offsets`` is an int array of shape ``[T, 2]``.
    """
    off = np.asarray(offsets).reshape(-1, 2)
    if off.size == 0 or end <= start:
        return np.zeros(0, dtype=np.int64)
    s, e = off[:, 0], off[:, 1]
    return np.nonzero((s < end) & (e > start) & (e > s))[0]


def align_spans(offsets: np.ndarray, spans: Sequence[tuple[int, int]]) -> list[np.ndarray]:
    """``tokens_in_span`` for many spans (e.g. the pivotal words of one response)."""
    off = np.asarray(offsets).reshape(-1, 2)
    return [tokens_in_span(off, s, e) for s, e in spans]


def word_entropy(entropies: np.ndarray, token_idx: np.ndarray, mode: str = "first") -> float | None:
    """Entropy of a word from its tokens: the first token's entropy (``mode="first"``, the
    decision point where the model commits to the word) or the mean over its tokens
    (``mode="mean"``). None when the word has no token."""
    if len(token_idx) == 0:
        return None
    if mode == "first":
        return float(entropies[token_idx[0]])
    if mode == "mean":
        return float(np.mean(np.asarray(entropies)[token_idx]))
    raise ValueError(f"mode must be 'first' or 'mean', not {mode!r}")


def token_anchors(text: str, offsets: np.ndarray) -> np.ndarray:
    """One character position per token: its first non-whitespace character (a token that is
    all whitespace, or has an empty span, anchors at its start). Used to give each token to
    exactly one sentence, so " Therefore" belongs to the sentence that "Therefore" starts."""
    off = np.asarray(offsets).reshape(-1, 2)
    anchors = off[:, 0].astype(np.int64).copy()
    for i, (s, e) in enumerate(off):
        piece = text[s:e]
        k = len(piece) - len(piece.lstrip())
        if k < len(piece):
            anchors[i] = s + k
    return anchors


def assign_tokens(anchors: np.ndarray, spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """Index of the span (sorted, non-overlapping ``(start, end)``) containing each anchor, or
    -1 for a token between spans (e.g. a newline)."""
    anchors = np.asarray(anchors, dtype=np.int64)
    if len(spans) == 0:
        return np.full(anchors.shape, -1, dtype=np.int64)
    sp = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    j = np.searchsorted(sp[:, 0], anchors, side="right") - 1
    ok = (j >= 0) & (anchors < sp[np.clip(j, 0, None), 1])
    return np.where(ok, j, -1)
