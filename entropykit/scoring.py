"""Teacher-forced scoring: per-token log-probability and full-vocabulary entropy of a response.

For a prompt q and response o = (o_1..o_T), one forward pass over the concatenated ids gives
final hidden states h; the distribution of response token t is softmax(W h_{P+t-1}) where P is
the prompt length and W the LM head. We gather only the response positions and go through the
LM head in chunks (`entropykit.entropy.chunked_entropy_and_logprobs`), so float32 logits are
never held for a whole batch.

The prompt (after the chat template) and the response are tokenized separately, so each
response token maps to character offsets in the response string; this is what analysis
uses to align words and sentences with tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from entropykit.entropy import chunked_entropy_and_logprobs
from entropykit.errors import UserError
from entropykit.chat_prompts import prompt_token_ids
from entropykit.models import LoadedModel, backbone_and_head, context_window
from entropykit.scoring_config import SCORE_BATCH_TOKENS, ScoreConfig, read_score_records


@dataclass
class ScoredResponse:
    """Per-token results for one response (all lists have one entry per response token)."""

    token_ids: list[int]
    tokens: list[str]  # each token's text, response[start:end]
    offsets: list[tuple[int, int]]  # character offsets into the response string
    logprobs: list[float]  # log p(o_t | q, o_<t), nats
    entropies: list[float]  # H of the full next-token distribution at t, nats
    top_k: list[list[tuple[int, str, float]]] | None = None  # per token: k most likely (id, text, logprob)
    unscored_tokens: int = 0  # response tokens past the model's context window: not scored (the arrays stop before them)


@dataclass
class _Encoded:
    index: int
    prompt_ids: list[int]
    response_ids: list[int]
    offsets: list[tuple[int, int]]

    @property
    def length(self) -> int:
        return len(self.prompt_ids) + len(self.response_ids)


def _encode(lm: LoadedModel, record: dict, index: int, chat: bool | None) -> _Encoded:
    tok = lm.tokenizer
    prompt_ids = prompt_token_ids(tok, record, chat, where=f"record {index + 1}")
    enc = tok(record["response"], add_special_tokens=False, return_offsets_mapping=True)
    offsets = [tuple(o) for o in enc["offset_mapping"]]
    if not prompt_ids:  # a response token needs a position before it
        prompt_ids = [tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id]
    return _Encoded(index, list(prompt_ids), list(enc["input_ids"]), offsets)


def _fit_window(e: _Encoded, window: int | None) -> int:
    """Cut `e`'s response to the model's context window; returns how many tokens were cut.

    Past the window the positions are ones the model never trained on and its entropies mean
    nothing (SmolLM2-135M: 0.1-0.2 nats inside its 8,192 positions, 2.2 past them), so those
    tokens are left unscored and counted, never scored silently."""
    if window is None or e.length <= window:
        return 0
    if len(e.prompt_ids) >= window:
        raise UserError(f"record {e.index + 1}: the prompt alone is {len(e.prompt_ids):,} tokens, over the model's "
                        f"{window:,}-token context window: no response token can be scored")
    keep = window - len(e.prompt_ids)
    cut = len(e.response_ids) - keep
    e.response_ids, e.offsets = e.response_ids[:keep], e.offsets[:keep]
    return cut


def _batches(items: list[_Encoded], max_batch_tokens: int) -> list[list[_Encoded]]:
    """Group length-sorted items so that batch_size x longest <= max_batch_tokens (at least one)."""
    batches, cur = [], []
    for item in sorted(items, key=lambda e: e.length):
        if cur and (len(cur) + 1) * item.length > max_batch_tokens:
            batches.append(cur)
            cur = []
        cur.append(item)
    if cur:
        batches.append(cur)
    return batches


def final_hidden_states(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Final (normed) hidden states [B, L, D] of a causal LM, without computing logits."""
    backbone, _, _ = backbone_and_head(model)
    return backbone(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state


def lm_head_params(model) -> tuple[torch.Tensor, torch.Tensor | None, float | None]:
    """(weight [V, D], bias [V] or None, final logit soft-cap or None) of a causal LM's output layer."""
    _, head, softcap = backbone_and_head(model)
    return head.weight, getattr(head, "bias", None), softcap


@torch.no_grad()
def score_responses(
    lm: LoadedModel,
    records: Sequence[dict],
    *,
    chat: bool | None = None,
    chunk_size: int | None = None,
    max_batch_tokens: int = SCORE_BATCH_TOKENS,
    temperature: float = 1.0,
    compile: bool | None = None,
    progress: Callable[[int], None] | None = None,
    top_k: int = 0,
) -> list[ScoredResponse]:
    """Score each record's "response" given its "prompt"; results in input order.

    Entropy is of the temperature-`temperature` distribution (default 1, the model's own).
    `top_k > 0` also returns, per token, the k most likely next tokens of that distribution as
    (id, decoded text, log-prob) (one more pass through the LM head, in the same chunks).
    chunk_size / compile default to 768 rows with torch.compile on CUDA (measured best on an
    H200, bench/entropy.py) and 1024 rows eager on CPU.
    `progress(k)` is called after each batch with the number of records it finished.
    """
    on_cuda = lm.device.type == "cuda"
    chunk_size = chunk_size or (768 if on_cuda else 1024)
    compile = on_cuda if compile is None else compile
    model, tok = lm.model, lm.tokenizer
    encoded = [_encode(lm, r, i, chat) for i, r in enumerate(records)]
    window = context_window(model)
    cut = {e.index: _fit_window(e, window) for e in encoded}
    results: list[ScoredResponse | None] = [None] * len(encoded)
    weight, bias, softcap = lm_head_params(model)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0

    for batch in _batches(encoded, max_batch_tokens):
        width = max(e.length for e in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        rows, cols, targets = [], [], []
        for b, e in enumerate(batch):
            seq = e.prompt_ids + e.response_ids
            ids[b, : len(seq)] = torch.tensor(seq)
            mask[b, : len(seq)] = 1
            p, r = len(e.prompt_ids), len(e.response_ids)
            rows += [b] * r
            cols += range(p - 1, p + r - 1)  # logits at P+t-1 predict response token t
            targets += e.response_ids
        hidden = final_hidden_states(model, ids.to(lm.device), mask.to(lm.device))
        picked = hidden[torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long)]
        logp, ent = chunked_entropy_and_logprobs(
            picked, weight, torch.tensor(targets, dtype=torch.long, device=lm.device),
            chunk_size=chunk_size, bias=bias, temperature=temperature, softcap=softcap, compile=compile,
        )
        logp, ent = logp.cpu().tolist(), ent.cpu().tolist()
        alts = _top_k_alternatives(picked, weight, bias, softcap, temperature, top_k, chunk_size, tok) if top_k > 0 else None
        pos = 0
        for e in batch:
            r = len(e.response_ids)
            resp = records[e.index]["response"]
            results[e.index] = ScoredResponse(
                token_ids=e.response_ids,
                tokens=[resp[s:t] for s, t in e.offsets],
                offsets=e.offsets,
                logprobs=logp[pos : pos + r],
                entropies=ent[pos : pos + r],
                top_k=alts[pos : pos + r] if alts is not None else None,
                unscored_tokens=cut[e.index],
            )
            pos += r
        del hidden, picked
        if progress is not None:
            progress(len(batch))
    return results  # type: ignore[return-value]


def _top_k_alternatives(hidden, weight, bias, softcap, temperature, k, chunk_size, tok) -> list[list[tuple[int, str, float]]]:
    """Per row of ``hidden`` [N, D]: the k largest ``log softmax(z / T)`` entries as (id, text, logprob),
    z = hidden @ weight.T (+ bias, soft-capped): the same logits as the entropy, ``chunk_size`` rows at a time."""
    from entropykit.entropy import chunk_logits

    out: list[list[tuple[int, str, float]]] = []
    text: dict[int, str] = {}  # decode each id once
    k = min(int(k), weight.shape[0])
    for start in range(0, hidden.shape[0], chunk_size):
        z = chunk_logits(hidden[start : start + chunk_size], weight, bias, 1.0 / temperature, softcap)
        top = torch.topk(z, k, dim=-1)
        lp = (top.values - torch.logsumexp(z, dim=-1, keepdim=True)).cpu().tolist()
        ids = top.indices.cpu().tolist()
        for row_ids, row_lp in zip(ids, lp):
            out.append([(i, text[i] if i in text else text.setdefault(i, tok.decode([i])), p) for i, p in zip(row_ids, row_lp)])
    return out


def validate_records(records: Sequence[dict], path: str = "input") -> None:
    """UserError unless every record has string "prompt" and "response" fields."""
    for i, r in enumerate(records, 1):
        for key in ("prompt", "response"):
            if key not in r:
                raise UserError(f"{path}: record {i} has no '{key}' field")
            if not isinstance(r[key], str):
                raise UserError(f"{path}: record {i}: '{key}' must be a string, got {type(r[key]).__name__}")


def scored_record(record: dict, scored: ScoredResponse, model_name: str) -> dict:
    """The output record of `entropykit score`: the input fields plus per-token arrays."""
    ents = scored.entropies
    return {
        **record,
        "model": model_name,
        "num_tokens": len(ents),
        "mean_entropy": (sum(ents) / len(ents)) if ents else None,
        "token_ids": scored.token_ids,
        "tokens": scored.tokens,
        "offsets": [list(o) for o in scored.offsets],
        "logprobs": scored.logprobs,
        "entropies": ents,
        **({"top_k": [[list(a) for a in alts] for alts in scored.top_k]} if scored.top_k is not None else {}),
        **({"unscored_tokens": scored.unscored_tokens} if scored.unscored_tokens else {}),
    }


def summarize_scores(scored: Sequence[ScoredResponse], records: Sequence[dict]) -> dict:
    """Corpus-level entropy summary: overall and per `source` (records without one count as "all")."""
    import numpy as np

    def stats(ents: list[float]) -> dict:
        a = np.asarray(ents, dtype=np.float64)
        if a.size == 0:
            return {"num_tokens": 0, "mean_entropy": None}
        q = np.quantile(a, [0.5, 0.8, 0.95])
        return {"num_tokens": int(a.size), "mean_entropy": float(a.mean()), "median_entropy": float(q[0]),
                "p80_entropy": float(q[1]), "p95_entropy": float(q[2])}

    by_source: dict[str, list[float]] = {}
    for s, r in zip(scored, records):
        by_source.setdefault(str(r.get("source", "all")), []).extend(s.entropies)
    every = [e for s in scored for e in s.entropies]
    return {
        "num_responses": len(scored),
        "num_empty_responses": sum(1 for s in scored if not s.entropies),
        **stats(every),
        "by_source": {k: stats(v) for k, v in sorted(by_source.items())} if len(by_source) > 1 else {},
    }


def score_file(cfg: ScoreConfig, *, records: list[dict] | None = None, notes: Sequence[str] = ()) -> dict:
    """`entropykit score`: score every record of `cfg.input` (or the `records` already read from
    it) and write them, with per-token arrays, to `cfg.out` atomically. Returns the corpus
    summary (`summarize_scores`) with "warnings": lines for the user (empty responses)."""
    import json

    from entropykit.io import atomic_path, ensure_writable_parent
    from entropykit.models import load_model

    cfg.validate()
    if records is None:
        records, notes = read_score_records(cfg)
    ensure_writable_parent(cfg.out, create=False)  # before the model: a scoring run must not be lost at its last write
    validate_records(records, str(cfg.input))
    lm = load_model(cfg.model, device=cfg.device, dtype=cfg.dtype)
    kw = dict(chat=cfg.chat, chunk_size=cfg.chunk_size, max_batch_tokens=cfg.max_batch_tokens)
    if cfg.progress:
        from entropykit.progress import make_progress

        with make_progress() as bar:
            task = bar.add_task("scoring", total=len(records))
            scored = score_responses(lm, records, progress=lambda k: bar.advance(task, k), **kw)
    else:
        scored = score_responses(lm, records, **kw)
    with atomic_path(cfg.out) as tmp, open(tmp, "w", encoding="utf-8") as fh:  # whole file or nothing
        for rec, s in zip(records, scored):
            fh.write(json.dumps(scored_record(rec, s, cfg.model), ensure_ascii=False) + "\n")
    summary = summarize_scores(scored, records)
    summary["warnings"] = list(notes) + empty_response_warnings(records, [len(s.entropies) for s in scored], str(cfg.input))
    summary["warnings"] += window_warnings([s.unscored_tokens for s in scored], context_window(lm.model), str(cfg.input))
    summary["over_window"] = {"records": sum(1 for s in scored if s.unscored_tokens),
                              "unscored_tokens": sum(s.unscored_tokens for s in scored)}
    return summary


def window_warnings(unscored: Sequence[int], window: int | None, path: str) -> list[str]:
    """One line naming the records whose responses ran past the model's context window."""
    over = [i for i, n in enumerate(unscored, 1) if n]
    if not over:
        return []
    shown = ", ".join(map(str, over[:10])) + (", ..." if len(over) > 10 else "")
    return [f"{path}: {len(over)} of {len(unscored)} responses run past the model's {window:,}-token context window "
            f"(records {shown}): scored up to the window, the {sum(unscored):,} tokens after it left unscored "
            "(their arrays stop at the window; 'unscored_tokens' says how many)"]


def empty_response_warnings(records: list[dict], num_tokens: list[int], path: str) -> list[str]:
    """The warning (as `analyze` gives) for records whose response is empty or whitespace-only:
    they are kept, in input order, but an empty one has no tokens and `mean_entropy: null`."""
    empty = [i for i, (r, n) in enumerate(zip(records, num_tokens), 1) if n == 0 or not r["response"].strip()]
    if not empty:
        return []
    shown = ("record " if len(empty) == 1 else "records ") + ", ".join(map(str, empty[:10])) + (", ..." if len(empty) > 10 else "")
    return [f"{path}: {len(empty)} of {len(records)} records have an empty (or whitespace-only) response "
            f"({shown}); they are kept, with mean_entropy null where no token was scored"]
