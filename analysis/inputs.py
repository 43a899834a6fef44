"""Reading `entropykit analyze` inputs and choosing the scorer.

A record needs ``prompt`` and ``response``; ``id``, ``source``, ``model`` and the prompt's
identity (``benchmark`` + ``problem_id``) are used when present. A record may already carry its
per-token arrays in the format of `entropykit score` (and of `passk` samples that record
entropy): ``offsets`` ([start, end] character offsets into ``response``), ``entropies``,
``logprobs``, optionally ``token_ids``, ``tokens``, ``top_k`` (per token ``[[id, text,
logprob], ...]``) and ``entropy_temperature``. Such records are used as they are: no model is
loaded for them.

Scorer rule (the entropies must come from the model that wrote the text):
- no ``--model``: the records' ``model``; records naming several models are refused; records
  naming none are scored with the embedded default, with a warning;
- ``--model M`` that differs from the records' model(s) is refused unless
  ``--scorer-differs-ok``, and then every record is scored with M (its own arrays ignored).
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from entropykit.embedded import DEFAULT_MODEL
from entropykit.errors import UserError

ARRAY_FIELDS = ("offsets", "entropies")  # a record "carries arrays" when it has both
DEFAULT_SCORER = DEFAULT_MODEL  # the embedded model, when the records name none
UNNAMED = "(unnamed model: entropies from the records)"


@dataclass
class Inputs:
    records: list[dict]
    skipped_empty: int = 0
    total_lines: int = 0
    format: str = "entropykit"  # the shape the file was read as (entropykit.formats)
    notes: list = field(default_factory=list)  # what the reader assumed, for the user


def prompt_key(rec: dict) -> str:
    """Identity of a record's prompt: ``benchmark/problem_id`` when given (passk samples), else a
    hash of the prompt text. Responses with the same key are samples of one prompt."""
    if rec.get("problem_id") is not None:
        return f"{rec.get('benchmark') or ''}/{rec['problem_id']}"
    return "sha1:" + hashlib.sha1(str(rec.get("prompt", "")).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _check_arrays(rec: dict, where: str) -> dict:
    """Validated per-token arrays of one record (see the module docstring); UserError otherwise."""
    resp = rec["response"]
    off, ent = rec["offsets"], rec["entropies"]
    if not isinstance(off, list) or not isinstance(ent, list):
        raise UserError(f"{where}: 'offsets' and 'entropies' must be lists")
    n = len(ent)
    if len(off) != n:
        raise UserError(f"{where}: 'offsets' has {len(off)} entries but 'entropies' has {n}")
    for name in ("logprobs", "token_ids", "tokens", "top_k"):
        if rec.get(name) is not None and (not isinstance(rec[name], list) or len(rec[name]) != n):
            raise UserError(f"{where}: '{name}' must be a list of {n} entries (one per token)")
    pairs = []
    for s_e in off:
        if not (isinstance(s_e, (list, tuple)) and len(s_e) == 2 and all(isinstance(x, int) for x in s_e)):
            raise UserError(f"{where}: 'offsets' must hold [start, end] integer pairs")
        s, e = s_e
        if not 0 <= s <= e <= len(resp):
            raise UserError(f"{where}: offset [{s}, {e}] is outside the response ({len(resp)} characters)")
        pairs.append((s, e))
    for x in ent:
        if not isinstance(x, (int, float)) or not math.isfinite(x) or x < -1e-4:
            raise UserError(f"{where}: 'entropies' must be finite non-negative numbers, got {x!r}")
    lps = rec.get("logprobs") or [float("nan")] * n
    top = rec.get("top_k")
    if top is not None:
        try:
            top = [[(int(a[0]), str(a[1]), float(a[2])) for a in alts] for alts in top]
        except (TypeError, ValueError, IndexError):
            raise UserError(f"{where}: 'top_k' must hold, per token, [id, text, logprob] triples") from None
    temp = rec.get("entropy_temperature", 1.0)
    if not isinstance(temp, (int, float)) or not temp > 0:
        raise UserError(f"{where}: 'entropy_temperature' must be a positive number")
    return {
        "token_ids": rec.get("token_ids") or [-1] * n,
        "tokens": [resp[s:e] for s, e in pairs],
        "offsets": pairs,
        "logprobs": [float(x) for x in lps],
        "entropies": [float(x) for x in ent],
        "top_k": top,
        "temperature": float(temp),
    }


def load_records(path: str, *, base: bool = False, limit: int | None = None, fmt: str = "auto",
                 fields: str | None = None, batch_input: str | None = None) -> Inputs:
    """Read `path` (entropykit's records or another tool's: `entropykit.formats.read_records`)
    into dicts with ``prompt, response, id, source, model, prompt_key, num_tokens`` (and the
    prompt's form, chat turns, training step and the file's own verdict where given) and, when
    the record carries them, validated per-token ``arrays``.

    Malformed files / lines, missing fields and non-string values raise UserError (exit 2);
    records whose response is empty or whitespace-only are skipped and counted. A file with no
    usable record is a UserError.
    """
    from entropykit.formats import read_records

    read = read_records(path, fmt=fmt, fields=fields, batch_input=batch_input)
    recs: list[dict] = []
    skipped = 0
    for n, rec in enumerate(read.records, 1):
        resp = rec.get("response")
        prompt = rec.get("prompt")
        if resp is None:
            raise UserError(f"{path}: record {n}: missing field 'response'")
        if not isinstance(resp, str):
            raise UserError(f"{path}: record {n}: 'response' must be a string, got {type(resp).__name__}")
        if prompt is None and not base:
            raise UserError(f"{path}: record {n}: missing field 'prompt'")
        if prompt is None:
            prompt = ""
        if not isinstance(prompt, str):
            raise UserError(f"{path}: record {n}: 'prompt' must be a string, got {type(prompt).__name__}")
        if not resp.strip():
            skipped += 1
            continue
        src = rec.get("source")
        model = rec.get("model")
        out = {
            "prompt": prompt,
            "prompt_form": rec.get("prompt_form") or "plain",
            "messages": rec.get("messages"),
            "response": resp,
            "id": rec.get("id", n - 1),
            "source": str(src) if src is not None else ("base" if base else "outputs"),
            "model": str(model) if model not in (None, "") else None,
            "prompt_key": prompt_key(rec),
            "num_tokens": rec.get("num_tokens") if isinstance(rec.get("num_tokens"), int) else None,
            "correct": rec.get("correct") if isinstance(rec.get("correct"), bool) else
            (rec["reported"]["correct"] if rec.get("reported") else None),
            "step": rec.get("step") if isinstance(rec.get("step"), int) and not isinstance(rec.get("step"), bool) else None,
        }
        if out["id"] is None:
            out["id"] = n - 1
        if not base and all(rec.get(f) is not None for f in ARRAY_FIELDS):
            out["arrays"] = _check_arrays(rec, f"{path}: record {n}")
        recs.append(out)
        if limit is not None and len(recs) >= limit:
            break
    if not recs:
        raise UserError(f"{path}: all {len(read.records)} records have an empty response")
    return Inputs(recs, skipped, len(read.records), read.format, read.notes)


def same_model(a: str | None, b: str | None) -> bool:
    """Same model spec: equal strings, or two paths to the same place on disk."""
    if a is None or b is None:
        return a == b
    if a == b:
        return True
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    return pa.exists() and pb.exists() and pa.resolve() == pb.resolve()


@dataclass
class ScorerChoice:
    """Which model's entropies the analysis uses, and why."""

    model: str  # the scorer spec (or the records' model when every record carries arrays)
    source: str  # "records" | "option" | "default"
    record_models: dict = field(default_factory=dict)  # model named by records -> count ("(none)" for missing)
    use_arrays: bool = True  # take records' own arrays where present
    warnings: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"model": self.model, "source": self.source, "record_models": self.record_models}


def choose_scorer(records: list[dict], named: str | None, differs_ok: bool = False) -> ScorerChoice:
    """Apply the scorer rule of the module docstring."""
    counts = Counter(r["model"] or "(none)" for r in records)
    models = sorted(m for m in counts if m != "(none)")
    listing = ", ".join(f"{m} ({counts[m]})" for m in models)
    if named is None:
        if len(models) > 1:
            raise UserError(f"the records were written by {len(models)} models: {listing}; analyze each model's records "
                            "separately, or name one scorer with --model M --scorer-differs-ok")
        if not models and all("arrays" in r for r in records):
            return ScorerChoice(UNNAMED, "records", dict(counts), warnings=[
                "the records carry their own entropies but do not name the model that computed them"])
        if not models:
            return ScorerChoice(DEFAULT_SCORER, "default", dict(counts), warnings=[
                f"the records do not say which model wrote them (no 'model' field): entropies come from the default "
                f"scorer {DEFAULT_SCORER}; pass --model with the model that wrote the text"])
        choice = ScorerChoice(models[0], "records", dict(counts))
        if counts.get("(none)"):
            choice.warnings.append(f"{counts['(none)']} record(s) name no model; they are scored with {models[0]} like the rest")
        return choice
    differing = [m for m in models if not same_model(m, named)]
    if differing and not differs_ok:
        raise UserError(f"--model {named} is not the model that wrote the records ({listing}): its entropies would "
                        "describe another model's uncertainty; drop --model, or pass --scorer-differs-ok to score anyway")
    choice = ScorerChoice(named, "option", dict(counts), use_arrays=not differing)
    if differing:
        choice.warnings.append(f"scorer {named} differs from the model(s) that wrote the records ({listing}) "
                               "(--scorer-differs-ok): entropies are the scorer's, not the writer's")
    return choice
