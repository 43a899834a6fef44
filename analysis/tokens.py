"""Token table: scored response tokens as flat arrays, with an on-disk cache (tokens.parquet).

All tokens of all responses live in flat arrays (``entropy[N]``, ``offsets[N, 2]``, ...) and
``ptr[R + 1]`` marks where response r starts, so 2,000 x 1K tokens cost ~60 MB plus the token
strings. The scorer runs in chunks of records and each chunk is turned into arrays at once.

Cache: ``tokens.parquet`` in the output folder holds one row per token (response index,
position, token id, token string, start, end, logprob, entropy, and the model's top-k
alternatives: ``top_ids``, ``top_tokens``, ``top_logprobs``, k = 5 by default); its schema
metadata lists each response's cache key, ``sha256(model, chat, temperature, prompt, response)``.
A rerun into the same folder takes every response whose key is there from the file and scores
only the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from entropykit.io import atomic_path

TOKENS_FILE = "tokens.parquet"
_META_KEY = b"entropykit"


def cache_key(model: str, prompt: str, response: str, chat: bool | None = None, temperature: float = 1.0) -> str:
    """Cache key of one scored response: sha256 over (model spec, chat flag, temperature, prompt, response)."""
    blob = json.dumps([model, chat, float(temperature), prompt, response], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class TokenTable:
    """Flat per-token arrays for R responses; response r owns rows ``ptr[r]:ptr[r+1]``."""

    ptr: np.ndarray  # int64 [R+1]
    token_id: np.ndarray  # int32 [N]
    token: list  # str [N] (response[start:end])
    offsets: np.ndarray  # int32 [N, 2] character offsets into the response
    logprob: np.ndarray  # float32 [N]
    entropy: np.ndarray  # float32 [N]
    keys: list = field(default_factory=list)  # cache key per response
    top_ids: np.ndarray | None = None  # int32 [N, K], -1 where absent (K = 0: none stored)
    top_logprob: np.ndarray | None = None  # float32 [N, K], NaN where absent
    top_text: dict = field(default_factory=dict)  # token id -> decoded text, for top_ids

    def __post_init__(self):
        n = len(self.entropy)
        if self.top_ids is None:
            self.top_ids = np.full((n, 0), -1, np.int32)
        if self.top_logprob is None:
            self.top_logprob = np.full(self.top_ids.shape, np.nan, np.float32)

    @property
    def top_k(self) -> int:
        return int(self.top_ids.shape[1])

    @property
    def num_responses(self) -> int:
        return len(self.ptr) - 1

    @property
    def num_tokens(self) -> int:
        return int(self.ptr[-1])

    def rows(self, r: int) -> slice:
        return slice(int(self.ptr[r]), int(self.ptr[r + 1]))

    @staticmethod
    def from_lists(
        token_ids: Sequence[Sequence[int]],
        tokens: Sequence[Sequence[str]],
        offsets: Sequence[Sequence[tuple[int, int]]],
        logprobs: Sequence[Sequence[float]],
        entropies: Sequence[Sequence[float]],
        keys: Sequence[str] = (),
        top_k: Sequence[Sequence[Sequence] | None] | None = None,
    ) -> "TokenTable":
        """Build from per-response lists (e.g. the fields of ``ScoredResponse`` objects);
        ``top_k``: per response None or, per token, a list of ``(id, text, logprob)``."""
        lens = np.array([len(x) for x in token_ids], dtype=np.int64)
        ptr = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)

        def flat(parts, dtype):
            return np.concatenate([np.asarray(p, dtype=dtype) for p in parts]) if len(parts) else np.zeros(0, dtype)

        off = np.concatenate([np.asarray(o, dtype=np.int32).reshape(-1, 2) for o in offsets]) if len(offsets) else np.zeros((0, 2), np.int32)
        n = int(ptr[-1])
        k = max((len(alts) for resp in (top_k or []) if resp for alts in resp), default=0)
        top_ids = np.full((n, k), -1, np.int32)
        top_lp = np.full((n, k), np.nan, np.float32)
        text: dict[int, str] = {}
        for r, resp in enumerate(top_k or []):
            for t, alts in enumerate(resp or []):
                for j, (i, s, lp) in enumerate(alts):
                    top_ids[ptr[r] + t, j] = int(i)
                    top_lp[ptr[r] + t, j] = float(lp)
                    text.setdefault(int(i), str(s))
        return TokenTable(
            ptr=ptr,
            token_id=flat(token_ids, np.int32),
            token=[t for ts in tokens for t in ts],
            offsets=off.reshape(-1, 2),
            logprob=flat(logprobs, np.float32),
            entropy=flat(entropies, np.float32),
            keys=list(keys),
            top_ids=top_ids,
            top_logprob=top_lp,
            top_text=text,
        )

    @staticmethod
    def concat(parts: Sequence["TokenTable"]) -> "TokenTable":
        if not parts:
            return TokenTable.from_lists([], [], [], [], [])
        sizes = [p.num_tokens for p in parts]
        base = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        ptr = np.concatenate([[0]] + [p.ptr[1:] + b for p, b in zip(parts, base)]).astype(np.int64)
        k = max(p.top_k for p in parts)

        def pad(a, fill):
            return np.concatenate([a, np.full((a.shape[0], k - a.shape[1]), fill, a.dtype)], axis=1) if a.shape[1] < k else a

        text: dict[int, str] = {}
        for p in parts:
            text.update(p.top_text)
        return TokenTable(
            ptr=ptr,
            token_id=np.concatenate([p.token_id for p in parts]),
            token=[t for p in parts for t in p.token],
            offsets=np.concatenate([p.offsets for p in parts]).reshape(-1, 2),
            logprob=np.concatenate([p.logprob for p in parts]),
            entropy=np.concatenate([p.entropy for p in parts]),
            keys=[key for p in parts for key in p.keys],
            top_ids=np.concatenate([pad(p.top_ids, -1) for p in parts]),
            top_logprob=np.concatenate([pad(p.top_logprob, np.nan) for p in parts]),
            top_text=text,
        )

    def select(self, idx: Sequence[int]) -> "TokenTable":
        """A table of responses ``idx`` (in that order)."""
        rows = [np.arange(self.ptr[i], self.ptr[i + 1]) for i in idx]
        sel = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        lens = np.array([len(r) for r in rows], dtype=np.int64)
        return TokenTable(
            ptr=np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
            token_id=self.token_id[sel],
            token=[self.token[j] for j in sel],
            offsets=self.offsets[sel].reshape(-1, 2),
            logprob=self.logprob[sel],
            entropy=self.entropy[sel],
            keys=[self.keys[i] for i in idx] if self.keys else [],
            top_ids=self.top_ids[sel],
            top_logprob=self.top_logprob[sel],
            top_text=self.top_text,
        )


def write_token_table(path: str | os.PathLike, table: TokenTable, meta: dict) -> None:
    """Write ``table`` as parquet atomically (temp file + fsync + rename); ``meta`` + keys go in the schema metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    resp = np.repeat(np.arange(table.num_responses, dtype=np.int32), np.diff(table.ptr))
    pos = (np.arange(table.num_tokens, dtype=np.int64) - np.repeat(table.ptr[:-1], np.diff(table.ptr))).astype(np.int32)
    t = pa.table(
        {
            "response": resp,
            "position": pos,
            "token_id": table.token_id.astype(np.int32),
            "token": pa.array(table.token, type=pa.string()),
            "start": table.offsets[:, 0].astype(np.int32),
            "end": table.offsets[:, 1].astype(np.int32),
            "logprob": table.logprob.astype(np.float32),
            "entropy": table.entropy.astype(np.float32),
            **_top_columns(table),
        }
    )
    md = dict(meta)
    md["top_k"] = table.top_k
    md["keys"] = list(table.keys)
    md["num_responses"] = table.num_responses
    t = t.replace_schema_metadata({_META_KEY: json.dumps(md).encode("utf-8")})
    with atomic_path(path) as tmp:
        pq.write_table(t, tmp, compression="zstd")


def _top_columns(table: TokenTable) -> dict:
    """List columns of the top-k alternatives (empty lists when none were stored)."""
    import pyarrow as pa

    if table.top_k == 0:
        return {}
    ids = table.top_ids
    valid = ids >= 0
    lens = valid.sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int32)
    flat_ids = ids[valid]
    texts = [table.top_text.get(int(i), "") for i in flat_ids]
    return {
        "top_ids": pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat_ids, type=pa.int32())),
        "top_tokens": pa.ListArray.from_arrays(pa.array(offsets), pa.array(texts, type=pa.string())),
        "top_logprobs": pa.ListArray.from_arrays(pa.array(offsets), pa.array(table.top_logprob[valid], type=pa.float32())),
    }


def _read_top(t, n: int) -> tuple[np.ndarray, np.ndarray, dict]:
    if "top_ids" not in t.column_names:
        return np.full((n, 0), -1, np.int32), np.full((n, 0), np.nan, np.float32), {}
    ids_col = t.column("top_ids").combine_chunks()
    lens = np.diff(ids_col.offsets.to_numpy())
    k = int(lens.max()) if n else 0
    flat_ids = ids_col.values.to_numpy().astype(np.int32)
    flat_lp = t.column("top_logprobs").combine_chunks().values.to_numpy().astype(np.float32)
    flat_tx = t.column("top_tokens").combine_chunks().values.to_pylist()
    rows = np.repeat(np.arange(n), lens)
    cols = np.arange(len(flat_ids)) - np.repeat(np.cumsum(lens) - lens, lens)
    ids = np.full((n, k), -1, np.int32)
    lp = np.full((n, k), np.nan, np.float32)
    ids[rows, cols] = flat_ids
    lp[rows, cols] = flat_lp
    return ids, lp, dict(zip(flat_ids.tolist(), flat_tx))


def read_token_table(path: str | os.PathLike) -> tuple[TokenTable, dict] | None:
    """Read a table written by `write_token_table`; None when missing or unreadable (a cache miss)."""
    import pyarrow.parquet as pq

    p = Path(path)
    if not p.exists():
        return None
    try:
        t = pq.read_table(p)
        md = json.loads((t.schema.metadata or {}).get(_META_KEY, b"{}"))
        nresp = int(md["num_responses"])
        resp = t.column("response").to_numpy()
        counts = np.bincount(resp, minlength=nresp) if len(resp) else np.zeros(nresp, np.int64)
        top_ids, top_lp, top_text = _read_top(t, t.num_rows)
        table = TokenTable(
            ptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            token_id=t.column("token_id").to_numpy().astype(np.int32),
            token=t.column("token").to_pylist(),
            offsets=np.stack([t.column("start").to_numpy(), t.column("end").to_numpy()], axis=1).astype(np.int32).reshape(-1, 2),
            logprob=t.column("logprob").to_numpy().astype(np.float32),
            entropy=t.column("entropy").to_numpy().astype(np.float32),
            keys=list(md["keys"]),
            top_ids=top_ids,
            top_logprob=top_lp,
            top_text=top_text,
        )
        if len(table.keys) != nresp:
            return None
        return table, md
    except Exception:  # a corrupt or foreign file is just a cache miss
        return None


def score_with_cache(
    records: Sequence[dict],
    keys: Sequence[str],
    score_fn: Callable[[Sequence[dict]], TokenTable],
    cache: TokenTable | None = None,
    *,
    chunk_records: int = 256,
    progress: Callable[[int], None] | None = None,
) -> tuple[TokenTable, int]:
    """Token table for ``records`` in order, taking cached responses by key and scoring the rest
    with ``score_fn`` in chunks of ``chunk_records`` (memory stays bounded by one chunk's
    scorer batch). Returns ``(table, number_reused)``."""
    where: dict[str, int] = {}
    if cache is not None:
        for i, k in enumerate(cache.keys):
            where.setdefault(k, i)
    parts: list[TokenTable] = []
    reused = 0
    for c0 in range(0, len(records), chunk_records):
        idx = list(range(c0, min(len(records), c0 + chunk_records)))
        missing = [i for i in idx if keys[i] not in where]
        scored = score_fn([records[i] for i in missing]) if missing else None
        pos_new = {i: j for j, i in enumerate(missing)}
        pieces = []
        for i in idx:
            if i in pos_new:
                pieces.append(scored.select([pos_new[i]]))
            else:
                pieces.append(cache.select([where[keys[i]]]))
                reused += 1
                if progress is not None:
                    progress(1)
        part = TokenTable.concat(pieces)
        part.keys = [keys[i] for i in idx]
        parts.append(part)
    table = TokenTable.concat(parts)
    return table, reused
