"""One reader for model outputs written by other tools: `read_records`.

`analyze`, `analyze --base`, `score` and `passk --from-samples` read their inputs here, so a file
that one of them reads, all of them read. What it takes:

- a JSONL file, a JSON array (or an object holding one), a parquet file, or a folder of such
  files, one per training step, as veRL's `rollout_data_dir` and TRL's completion logs are
  (files ordered by the step number in their name);
- the shapes of `format_adapters.ADAPTERS`: entropykit's own records, veRL rollout and
  validation dumps, lm-eval `--log_samples`, lighteval details, TRL completion logs, vLLM
  `run_batch` output (joined with its input file), OpenAI-style `messages`, Qwen2.5-Math
  evaluation files and Hugging Face datasets with a list column of generations. The shape is
  detected from the fields of the first record (`--format` overrides), and a list column
  (several samples of one problem) becomes one record per sample with its `sample_idx`;
- `--fields prompt=...,response=...,answer=...,id=...` for anything else: dotted paths reach
  into nested fields (`doc.question`), and a list-valued response field gives one record per
  element.

Every record comes out in one normalized shape (`NORMALIZED`), in file order. Bad input is a
`UserError` naming the file and record: the fields found and the option to use for an unknown
shape, missing or mistyped fields, an empty folder, mixed formats in one folder.

Why parquet through pyarrow (a dependency of `datasets`): it is what veRL, TRL, lighteval and
the Hub write, and it reads 100,000 rows in well under a second.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from entropykit.errors import UserError

# the normalized record: every reader returns dicts with these keys (None where the file has nothing)
NORMALIZED = ("prompt", "prompt_form", "messages", "response", "answer", "problem_id", "sample_idx", "benchmark",
              "step", "model", "reported", "finish_reason")
FIELD_ROLES = ("prompt", "response", "answer", "id", "messages", "step", "verdict", "benchmark", "model")
_SUFFIXES = (".jsonl", ".json", ".parquet")
_PASSK_SAMPLES = re.compile(r"samples(\.shard-\d+-of-\d+)?\.jsonl")  # a passk run folder's sample files


@dataclass
class ReadResult:
    records: list[dict]
    format: str  # the detected (or given) format's name
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # lines for the user (what was assumed)


def parse_fields(spec: str | None) -> dict[str, str]:
    """`prompt=question,response=outputs.text` -> {"prompt": "question", "response": "outputs.text"}."""
    if not spec:
        return {}
    out = {}
    for part in spec.split(","):
        role, eq, path = part.partition("=")
        role, path = role.strip(), path.strip()
        if not eq or not path or role not in FIELD_ROLES:
            raise UserError(f"--fields: {part.strip()!r} is not ROLE=FIELD with ROLE one of {', '.join(FIELD_ROLES)}")
        out[role] = path
    return out


def get_path(row: Any, path: str) -> Any:
    """`row["a"]["b"]` for "a.b" (list indices allowed: "choices.0.text"); None when absent."""
    cur = row
    for part in path.split("."):
        if isinstance(cur, dict):
            cur = cur.get(part)
        elif isinstance(cur, (list, tuple)) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
    return cur


# ---- raw rows from files ------------------------------------------------------------------------

_STEP_NAME = re.compile(r"(?:(?:completions|generations|rollout|validation|val|step|global_step)[_-]?)?(\d+)")


def _step_of(path: Path) -> int | None:
    """The training step in a per-step file's name (veRL `12.jsonl`, TRL `completions_00012.parquet`)."""
    m = _STEP_NAME.fullmatch(path.stem)
    return int(m.group(1)) if m else None


def data_files(path: Path) -> list[Path]:
    """The data files of a folder, ordered by the step number in their names (then by name)."""
    samples = sorted(p for p in path.iterdir() if _PASSK_SAMPLES.fullmatch(p.name))
    if samples:  # a passk run folder: its sample files (every shard), not its summaries
        return samples
    files = [p for p in path.rglob("*") if p.is_file() and p.suffix in _SUFFIXES and not p.name.startswith(".")]
    return sorted(files, key=lambda p: (_step_of(p) is None, _step_of(p) or 0, str(p)))


def _rows_jsonl(path: Path) -> Iterator[dict]:
    from entropykit.io import iter_jsonl

    yield from iter_jsonl(path)


def _rows_json(path: Path) -> Iterator[dict]:
    from entropykit.io import lone_surrogate, may_hold_lone_surrogate

    try:
        text = path.read_text(encoding="utf-8")
        escapes = may_hold_lone_surrogate(text)
        data = json.loads(text)
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    except ValueError:  # JSON lines in a .json file
        yield from _rows_jsonl(path)
        return
    if isinstance(data, dict):  # {"data": [...]} / {"samples": [...]}: the one list of records inside
        lists = [v for v in data.values() if isinstance(v, list) and v and all(isinstance(x, dict) for x in v)]
        if len(lists) != 1:
            yield data
            return
        data = lists[0]
    if not isinstance(data, list):
        raise UserError(f"{path}: a JSON file must hold a list of records")
    for i, row in enumerate(data, 1):
        if not isinstance(row, dict):
            raise UserError(f"{path}: record {i} is not an object")
        hit = lone_surrogate(row) if escapes else None
        if hit is not None:
            raise UserError(f"{path}: record {i}: {hit[0]} holds a lone surrogate ({hit[1]}), which is not Unicode text; "
                            "fix or drop this record")
        yield row


def _rows_parquet(path: Path) -> Iterator[dict]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises many kinds for a damaged file
        raise UserError(f"{path}: not a readable parquet file ({type(e).__name__})") from None
    yield from table.to_pylist()


def raw_rows(path: Path) -> Iterator[dict]:
    reader = {".parquet": _rows_parquet, ".json": _rows_json}.get(path.suffix, _rows_jsonl)
    yield from reader(path)


# ---- reading ------------------------------------------------------------------------------------

def read_records(path: str | Path, *, fmt: str = "auto", fields: dict[str, str] | str | None = None,
                 batch_input: str | Path | None = None) -> ReadResult:
    """Every record of `path` (file or folder) in the normalized shape; see the module docstring."""
    from .format_adapters import ADAPTERS, detect, fields_adapter, join_batch

    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: no such file or folder")
    fields = parse_fields(fields) if isinstance(fields, str) or fields is None else fields
    if fmt not in ("auto", *ADAPTERS):
        raise UserError(f"--format must be auto or one of {', '.join(ADAPTERS)} (got {fmt!r})")
    files = data_files(p) if p.is_dir() else [p]
    if not files:
        raise UserError(f"{p}: a folder without data files ({', '.join(_SUFFIXES)})")
    joined = join_batch(batch_input) if batch_input is not None else None
    records: list[dict] = []
    formats: dict[str, str] = {}
    skipped: list[tuple[Path, UserError]] = []
    empty_rows = 0
    for f in files:
        rows: Iterator[dict] = iter(raw_rows(f))
        if joined is not None:
            rows = (joined.merge(r, f) for r in rows)
        head = next(rows, None)
        if head is None:
            continue
        try:
            name = "fields" if fields else (detect(head, f) if fmt == "auto" else fmt)
        except UserError as e:
            if not p.is_dir():
                raise
            skipped.append((f, e))  # a folder's other files (configs, trainer state) are not records
            continue
        formats[str(f)] = name
        adapter = fields_adapter(fields) if fields else ADAPTERS[name]
        file_step = _step_of(f) if p.is_dir() else None
        for n, row in enumerate(_chain(head, rows), 1):
            got = adapter(row, where=f"{f}: record {n}", file=f)
            empty_rows += not got
            for rec in got:
                if name != "entropykit":  # entropykit's own records come out exactly as they went in
                    rec = _normalized(rec)
                    if rec["step"] is None:
                        rec["step"] = file_step
                records.append(rec)
    if not formats and skipped:
        raise skipped[0][1]
    records = _first_filter(records)
    if len(set(formats.values())) > 1:
        kinds = sorted(set(formats.values()))
        example = {v: Path(k).name for k, v in formats.items()}
        raise UserError(f"{p}: files of different formats in one folder ({', '.join(f'{k}: {example[k]}' for k in kinds)}); "
                        "read each format separately")
    if not records:
        raise UserError(f"{p}: empty file, no records")
    name = next(iter(formats.values()))
    if name != "entropykit":
        _number_samples(records)
    notes = [f"{p}: {len(skipped)} file(s) in the folder are not records and were left out ({', '.join(f.name for f, _ in skipped[:5])})"] if skipped else []
    if empty_rows:
        notes.append(f"{p}: {empty_rows} row(s) hold no response (a request that failed in the batch) and were left out")
    if name in FORMAT_NOTES:
        notes.append(FORMAT_NOTES[name])
    return ReadResult(records, name, list(formats), notes)


# what a user should know about a format's prompts
FORMAT_NOTES = {
    "generations": "the file holds the bare questions, not the prompts the generations were sampled with: each is "
                   "templated as a user turn with the scoring model's chat template",
    "verl": "veRL logs prompts as chat templates decoded without special tokens: each is recovered with the scoring "
            "model's template and accepted only if it reproduces the logged text exactly",
}


def _first_filter(records: list[dict]) -> list[dict]:
    """lm-eval writes each document once per filter, with the same responses: keep the first
    filter's lines (its verdicts are the ones reported)."""
    filters = list(dict.fromkeys(r.get("lm_eval_filter") for r in records))
    if len(filters) < 2:
        return records
    return [r for r in records if r.get("lm_eval_filter") == filters[0]]


def _chain(first: dict, rest: Iterable[dict]) -> Iterator[dict]:
    yield first
    yield from rest


def _normalized(rec: dict) -> dict:
    out = dict(rec)  # entropykit's own records keep every field (ids, sources, per-token arrays)
    for k in NORMALIZED:
        out.setdefault(k, None)
    if out["prompt_form"] is None:
        out["prompt_form"] = "messages" if out["messages"] else "plain"
    if out["prompt"] is None and out["messages"]:
        out["prompt"] = render_messages(out["messages"])
    return out


def prompt_identity(rec: dict) -> str:
    """The prompt as the scorer sees it, as one string (cache keys): the same text in another
    form (raw, decoded, chat turns) is another prompt."""
    form = rec.get("prompt_form") or "plain"
    if form == "plain":
        return rec.get("prompt") or ""
    body = json.dumps(rec.get("messages"), ensure_ascii=False) if form == "messages" else rec.get("prompt") or ""
    return f"[{form}] {body}"


def render_messages(messages: list[dict]) -> str:
    """A readable, unambiguous text of chat turns (reports show it; the scorer templates the turns)."""
    return "\n".join(f"[{m.get('role')}] {m.get('content')}" for m in messages)


def _number_samples(records: list[dict]) -> None:
    """Another tool's records: a problem without an id is named by a hash of its prompt, and
    samples get indices by order of appearance within (step, benchmark, problem) where not given."""
    import hashlib

    counters: dict[tuple, int] = {}
    for r in records:
        if r["problem_id"] is None:
            text = prompt_identity(r)
            r["problem_id"] = "sha1:" + hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        key = (r["step"], r["benchmark"], str(r["problem_id"]))
        if r["sample_idx"] is None:
            r["sample_idx"] = counters.get(key, 0)
        counters[key] = max(counters.get(key, 0), int(r["sample_idx"]) + 1)
