"""Sampled token ids -> each token's text and character span in the decoded response.

`entropykit score` tokenizes a response string and gets offsets from the tokenizer's offset
mapping. A sampler has the opposite problem: it holds the ids it sampled and the text they decode
to, and needs each id's span in that text, so that per-token numbers recorded while sampling line
up with words exactly as `score`'s do.

Two things make this more than `decode(id)` per token:

- Tokenizers decode a token differently alone than in context (SentencePiece drops the leading
  space of a sequence's first piece; byte-level BPE pieces can be half a UTF-8 character). So each
  token's text is the difference between the decoding of a short window ending at the token and
  of the same window without it (incremental decoding, as vLLM's detokenizer does it).
- A character of several UTF-8 bytes may be split across tokens (`日` = 3 bytes, often 2-3 tokens
  in byte-level vocabularies). While a prefix ends inside such a character, its decoding ends with
  U+FFFD. A token's span is every character it has bytes of — the convention of Hugging Face
  offset mappings, e.g. tokens `Ġæ`, `Ĺ`, `¥` of " 日" get spans (0, 2), (1, 2), (1, 2).

Formally, with C_i the number of complete characters after decoding tokens 0..i and P_i whether a
partial character follows them: span_i = (C_{i-1}, C_i + P_i), C_{-1} = 0.
"""

from __future__ import annotations

from typing import Any, Sequence

_REPLACEMENT = "\ufffd"
_WINDOW = 6  # context tokens kept before the token being decoded (vLLM keeps 5)


def token_spans(tokenizer: Any, token_ids: Sequence[int], text: str) -> list[tuple[int, int]]:
    """Character span [start, end) in `text` of each token of `token_ids` (see module docstring).

    `text` must be `tokenizer.decode(token_ids, skip_special_tokens=True)`; special tokens get
    empty spans. Incremental decoding costs O(len(token_ids) * window); when the concatenated
    pieces do not reproduce `text` (a tokenizer whose full decoding rewrites text, e.g. cleaning
    up spaces), spans come from decoding every prefix instead (O(n^2), exact for any tokenizer).
    """
    ids = [int(t) for t in token_ids]
    complete, partial, pieces = _incremental(tokenizer, ids)
    if "".join(pieces) != text:
        complete, partial = _by_prefixes(tokenizer, ids, len(text))
    spans, prev = [], 0
    for c, p in zip(complete, partial):
        spans.append((prev, min(len(text), c + p)))
        prev = c
    return spans


def _decode(tokenizer: Any, ids: Sequence[int]) -> str:
    return tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)


def _incremental(tokenizer: Any, ids: list[int]) -> tuple[list[int], list[int], list[str]]:
    """(C_i, P_i, emitted text pieces) by windowed decoding.

    `start` is where the decoding window begins (a character boundary), `read` the end of the
    text already emitted (also a boundary); `read_text` = decode(ids[start:read]).
    """
    complete, partial, pieces = [], [], []
    start = read = 0
    read_text = ""
    emitted = 0  # characters emitted so far
    for i in range(len(ids)):
        new_text = _decode(tokenizer, ids[start : i + 1])
        piece = new_text[len(read_text):]
        if piece.endswith(_REPLACEMENT):  # ends inside a character: emit nothing yet
            complete.append(emitted + len(piece.rstrip(_REPLACEMENT)))
            partial.append(1)
            continue
        pieces.append(piece)
        emitted += len(piece)
        complete.append(emitted)
        partial.append(0)
        read = i + 1
        start = max(start, read - _WINDOW)
        read_text = _decode(tokenizer, ids[start:read]) if start else new_text
    return complete, partial, pieces


def _by_prefixes(tokenizer: Any, ids: list[int], text_len: int) -> tuple[list[int], list[int]]:
    """(C_i, P_i) from the decoding of every prefix (slow, for tokenizers that rewrite text)."""
    complete, partial, prev = [], [], 0
    for i in range(len(ids)):
        prefix = tokenizer.decode(ids[: i + 1], skip_special_tokens=True)
        stripped = prefix.rstrip(_REPLACEMENT)
        c = min(text_len, max(prev, len(stripped)))  # keep spans ordered even if decoding rewrites
        complete.append(c)
        partial.append(int(len(stripped) < len(prefix)))
        prev = c
    return complete, partial


def sampled_token_fields(tokenizer: Any, token_ids: Sequence[int], text: str, logprobs: Sequence[float],
                         entropies: Sequence[float], finish_reason: str) -> dict:
    """Per-token arrays of a sampled response, under the field names of `entropykit score`'s output
    (`token_ids`, `tokens`, `offsets`, `logprobs`, `entropies`, plus `entropy_temperature`), so that
    `entropykit analyze` reads them as they are.

    The sampled stop token (`finish_reason == "stop"`: the last id) is dropped: it has no text, and
    `score`'s arrays cover the response text only. Entropies are of the temperature-1 distribution.
    """
    ids = [int(t) for t in token_ids]
    lp, ent = list(logprobs), list(entropies)
    if not len(ids) == len(lp) == len(ent):
        raise ValueError(f"{len(ids)} token ids but {len(lp)} log-probs and {len(ent)} entropies")
    if finish_reason == "stop" and ids:
        ids, lp, ent = ids[:-1], lp[:-1], ent[:-1]
    spans = token_spans(tokenizer, ids, text)
    return {
        "token_ids": ids,
        "tokens": [text[s:e] for s, e in spans],
        "offsets": [[s, e] for s, e in spans],
        "logprobs": [float(x) for x in lp],
        "entropies": [float(x) for x in ent],
        "entropy_temperature": 1.0,
    }
