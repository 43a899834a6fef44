"""A `passk` run folder: its settings file, its sample files (one per shard) and how jobs are
shared among shards.

- `run.json`: the settings the samples were made with; a folder made with other settings is
  refused (only n and the benchmarks may change), and, for a sharded run, the shard layout.
- `samples.jsonl` (a run without --shard) and `samples.shard-I-of-N.jsonl` (shard I of N): each
  written by one process only, appended record by record. Readers take the union of all of
  them and only complete lines: another shard may be writing its last line right now, so no
  file but one's own is ever repaired or rewritten.
- Shard I of N takes every N-th block of `unit` consecutive jobs of the run's full job list
  (problem-major, sample index minor). The transformers backend uses unit = its batch size, so
  every batch holds exactly the samples an unsharded run batches together and the merged result
  is the same, bit for bit, on the same hardware; vLLM (which batches on its own) uses unit = 1,
  the most even split, with every problem's prompt in every shard for prefix caching.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator, Sequence

from entropykit.errors import UserError
from entropykit.io import atomic_write_json, parse_record, read_json_object

SAMPLES = "samples.jsonl"
RUN_JSON = "run.json"
# the per-token arrays of --token-entropies (the field names of `entropykit score`'s output)
TOKEN_FIELDS = ("token_ids", "tokens", "offsets", "logprobs", "entropies")
_SHARD_FILE = re.compile(r"samples\.shard-(\d+)-of-(\d+)\.jsonl")
# settings added after run folders existed: what an older run.json without them means
_SETTING_DEFAULTS = {"token_entropies": False}


def samples_file(out: Path, shard: tuple[int, int] | None) -> Path:
    """The file this process appends to."""
    return out / (SAMPLES if shard is None else f"samples.shard-{shard[0]}-of-{shard[1]}.jsonl")


def sample_files(out: Path) -> list[Path]:
    """Every sample file of a run folder: samples.jsonl first, then shard files by (N, I)."""
    out = Path(out)
    shards = []
    if out.is_dir():
        for p in out.iterdir():
            m = _SHARD_FILE.fullmatch(p.name)
            if m:
                shards.append((int(m.group(2)), int(m.group(1)), p))
    main = [out / SAMPLES] if (out / SAMPLES).exists() else []
    return main + [p for _, _, p in sorted(shards)]


def read_complete_records(path: Path, required: Sequence[str] = (), drop: Sequence[str] = ()) -> Iterator[dict]:
    """The records on the complete lines of a JSONL file, streamed (a last line without its
    newline is being written, or was torn by a kill: it is skipped, and the file is not touched).
    Fields in `drop` are removed from each record (e.g. per-token arrays nobody needs here).

    Not `entropykit.io.iter_jsonl`: that one reads text, and a line torn inside a multi-byte
    character is a decoding error there; here lines are split as bytes first."""
    try:
        fh = open(path, "rb")
    except OSError as e:
        raise UserError(f"{path}: cannot read ({e.strerror})") from None
    with fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.endswith(b"\n"):
                return
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark
                raw = raw[3:]
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise UserError(f"{path}:{lineno}: not UTF-8 text") from None
            rec = parse_record(line, path, lineno, required)  # the core's one per-line check
            for k in drop:
                rec.pop(k, None)
            yield rec


def sample_key(rec: dict) -> tuple[str, str, int]:
    return (str(rec.get("benchmark", "")), str(rec["problem_id"]), int(rec.get("sample_idx", 0)))


def load_samples(out: Path, drop: Sequence[str] = TOKEN_FIELDS) -> dict[tuple[str, str, int], dict]:
    """Every saved sample of the folder, all shards merged, by (benchmark, problem_id, sample_idx);
    a sample saved twice (overlapping shards) counts once: the first file's record. The per-token
    arrays of --token-entropies are left out unless `drop=()`."""
    done: dict[tuple[str, str, int], dict] = {}
    for path in sample_files(out):
        for rec in read_complete_records(path, required=("problem_id", "sample_idx", "response"), drop=drop):
            done.setdefault(sample_key(rec), rec)
    return done


def shard_of(job_index: int, count: int, unit: int) -> int:
    """Which of `count` shards owns the job at `job_index` of the full job list (module docstring)."""
    return (job_index // max(1, unit)) % count


def check_run_json(out: Path, settings: dict, shard: tuple[int, int] | None, unit: int,
                   incomplete: bool) -> None:
    """Create `run.json`, or refuse a folder whose samples were made with other settings.

    `incomplete`: some jobs of this run are not saved yet. While that is so, every shard must use
    the same shard count and unit (batch size); otherwise shares would overlap or leave gaps.
    """
    path = out / RUN_JSON
    has_samples = any(p.stat().st_size > 0 for p in sample_files(out))
    layout = {"count": shard[1], "unit": int(unit)} if shard is not None else None
    fresh = {"settings": settings, **({"shards": layout} if layout else {})}
    if not path.exists():
        if has_samples:
            raise UserError(f"{out} holds samples but no {RUN_JSON}: cannot tell how they were sampled; "
                            f"use another --out, or score them with --from-samples")
        atomic_write_json(path, fresh)
        return
    saved = read_json_object(path, damaged=None)
    old = saved.get("settings") if saved is not None else None
    if not isinstance(old, dict) or not isinstance(saved.get("shards", {}), (dict, type(None))):
        raise UserError(f"{path}: unreadable run settings; remove it or use another --out")
    if not has_samples:  # nothing sampled yet (e.g. the model failed to load): start over
        atomic_write_json(path, fresh)
        return
    diffs = [f"{k}={old.get(k, _SETTING_DEFAULTS.get(k))!r} (now {settings[k]!r})"
             for k in settings if old.get(k, _SETTING_DEFAULTS.get(k)) != settings[k]]
    if diffs:
        raise UserError(
            f"{out} holds samples made with other settings: {'; '.join(diffs)}. "
            f"Use another --out folder or the same settings (only --n and --benchmark may change)"
        )
    if layout is None:
        return
    before = saved.get("shards")
    if before is not None and before != layout and incomplete:
        raise UserError(
            f"{out}: its shards were started as --shard I/{before['count']} with unit {before['unit']} "
            f"(--batch-size on the transformers backend); while the run is incomplete every shard must "
            f"use the same (or finish it without --shard)"
        )
    if before != layout:
        atomic_write_json(path, {**saved, "shards": layout})
