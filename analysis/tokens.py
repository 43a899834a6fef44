"""Token table: scored response tokens as flat arrays, with an on-disk cache (tokens.parquet).

All tokens of all responses live in flat arrays (``entropy[N]``, ``offsets[N, 2]``, ...) and
``ptr[R + 1]`` marks where response r starts, so 2,000 x 1K tokens cost ~60 MB plus the token
strings. The scorer runs in chunks of records and each chunk is turned into arrays at once.

Cache: ``tokens.parquet`` in the output folder holds one row per token (response index,
position, token id, token string, start, end, logprob, entropy); its schema metadata lists
each response's cache key, ``sha256(model, chat, temperature, prompt, response)``. A rerun into
the same folder takes every response whose key is there from the file and scores only the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
from entropykit.io import atomic_path
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

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
    ) -> "TokenTable":
        """Build from per-response lists (e.g. the fields of ``ScoredResponse`` objects)."""
        lens = np.array([len(x) for x in token_ids], dtype=np.int64)
        ptr = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)

        def flat(parts, dtype):
            return np.concatenate([np.asarray(p, dtype=dtype) for p in parts]) if len(parts) else np.zeros(0, dtype)

        off = np.concatenate([np.asarray(o, dtype=np.int32).reshape(-1, 2) for o in offsets]) if len(offsets) else np.zeros((0, 2), np.int32)
        return TokenTable(
            ptr=ptr,
            token_id=flat(token_ids, np.int32),
            token=[t for ts in tokens for t in ts],
            offsets=off.reshape(-1, 2),
            logprob=flat(logprobs, np.float32),
            entropy=flat(entropies, np.float32),
            keys=list(keys),
        )

    @staticmethod
    def concat(parts: Sequence["TokenTable"]) -> "TokenTable":
        if not parts:
            return TokenTable.from_lists([], [], [], [], [])
        sizes = [p.num_tokens for p in parts]
        base = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        ptr = np.concatenate([[0]] + [p.ptr[1:] + b for p, b in zip(parts, base)]).astype(np.int64)
        return TokenTable(
            ptr=ptr,
            token_id=np.concatenate([p.token_id for p in parts]),
            token=[t for p in parts for t in p.token],
            offsets=np.concatenate([p.offsets for p in parts]).reshape(-1, 2),
            logprob=np.concatenate([p.logprob for p in parts]),
            entropy=np.concatenate([p.entropy for p in parts]),
            keys=[k for p in parts for k in p.keys],
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
        }
    )
    md = dict(meta)
    md["keys"] = list(table.keys)
    md["num_responses"] = table.num_responses
    t = t.replace_schema_metadata({_META_KEY: json.dumps(md).encode("utf-8")})
    with atomic_path(path) as tmp:
        pq.write_table(t, tmp, compression="zstd")


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
        table = TokenTable(
            ptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            token_id=t.column("token_id").to_numpy().astype(np.int32),
            token=t.column("token").to_pylist(),
            offsets=np.stack([t.column("start").to_numpy(), t.column("end").to_numpy()], axis=1).astype(np.int32).reshape(-1, 2),
            logprob=t.column("logprob").to_numpy().astype(np.float32),
            entropy=t.column("entropy").to_numpy().astype(np.float32),
            keys=list(md["keys"]),
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
