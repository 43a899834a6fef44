"""`entropykit passk`: sample, verify, score — resumable.

Flow of `run_passk(cfg)`:

1. Load the benchmarks; check every k <= n before any work.
2. Check `DIR/run.json` (model, backend, sampling settings, prompt template, chat): a DIR made
   with other settings is refused; `n` may grow (existing samples are reused).
3. Read `DIR/samples.jsonl` (a torn last line from a kill is cut off) and list the missing
   (benchmark, problem_id, sample_idx) keys. Each sample's seed is
   ``derive_seed(seed, benchmark, problem_id, sample_idx)``: its text does not depend on which
   other samples are generated with it.
4. Generate the missing samples in a fixed order and fixed chunks (the transformers backend: the
   chunks of the full job list, so a resumed run batches exactly like an uninterrupted one;
   vLLM: streamed as requests finish). Each chunk's answers go to the verifier pool while the
   next chunk generates; verified records are appended (fsync) in generation order.
5. Score all records of this run's (benchmark, problem, sample_idx < n) and write
   `summary.json`, `problems.jsonl` and `passk.html`.

`score_samples(path, ks, out)` (the `--from-samples` mode) verifies and scores existing
records without a model, with a verdict cache in `DIR/verdicts.jsonl`.
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from entropykit.errors import UserError
from entropykit.sampling import PAPER_EVAL_TEMPERATURE, PAPER_EVAL_TOP_P
from entropykit.benchmarks import Benchmark, load_benchmark
from entropykit.evalkit.metrics import default_ks, parse_ks
from entropykit.evalkit.report import score_records, write_outputs
from entropykit.io import JsonlAppender, iter_jsonl, repair_jsonl_tail, atomic_write_json

DEFAULT_TEMPLATE = "{problem}\nPlease reason step by step, and put your final answer within \\boxed{{}}."
SAMPLES = "samples.jsonl"
RUN_JSON = "run.json"
VERDICTS = "verdicts.jsonl"


@dataclass
class PasskConfig:
    model: str
    benchmarks: list[str]
    out: str
    n: int | None = None
    ks: list[int] | None = None
    temperature: float = PAPER_EVAL_TEMPERATURE
    top_p: float = PAPER_EVAL_TOP_P
    max_tokens: int = 8192
    seed: int = 0
    backend: str = "auto"
    prompt_template: str = DEFAULT_TEMPLATE
    chat: bool | None = None
    columns: str | dict | None = None
    limit: int | None = None  # first N problems of each benchmark
    timeout_s: float = 5.0
    workers: int | None = None
    grader: str = "entropykit"  # entropykit | mathverify-default (see entropykit.verify.GRADERS)
    batch_size: int = 16  # transformers backend
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    engine_kwargs: dict = field(default_factory=dict)
    html: bool = True
    quiet: bool = False


@dataclass
class _Job:
    bench: str
    pid: str
    j: int
    prompt: str
    gold: str
    seed: int


def format_problem(template: str, problem: str) -> str:
    try:
        return template.format(problem=problem)
    except (KeyError, IndexError, ValueError) as e:
        raise UserError(
            f"--prompt-template must contain {{problem}} and escape other braces as {{{{ }}}}: {e}"
        ) from None


def _check_template(template: str) -> None:
    if "{problem}" not in template:
        raise UserError("--prompt-template must contain {problem}")
    format_problem(template, "x")


def sample_key(rec: dict) -> tuple[str, str, int]:
    return (str(rec.get("benchmark", "")), str(rec["problem_id"]), int(rec.get("sample_idx", 0)))


def _settings(cfg: PasskConfig, backend: str) -> dict:
    return {
        "model": cfg.model,
        "backend": backend,
        "temperature": float(cfg.temperature),
        "top_p": float(cfg.top_p),
        "max_tokens": int(cfg.max_tokens),
        "seed": int(cfg.seed),
        "prompt_template": cfg.prompt_template,
        "chat": cfg.chat,
        "grader": cfg.grader,
    }


def _check_run_json(out: Path, settings: dict) -> None:
    path = out / RUN_JSON
    samples = out / SAMPLES
    has_samples = samples.exists() and samples.stat().st_size > 0
    if path.exists() and not has_samples:  # nothing sampled yet (e.g. the model failed to load): start over
        atomic_write_json(path, {"settings": settings})
    elif path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))["settings"]
        except (OSError, ValueError, KeyError, TypeError):
            raise UserError(f"{path}: unreadable run settings; remove it or use another --out") from None
        diffs = [f"{k}={old.get(k)!r} (now {settings[k]!r})" for k in settings if old.get(k) != settings[k]]
        if diffs:
            raise UserError(
                f"{out} holds samples made with other settings: {'; '.join(diffs)}. "
                f"Use another --out folder or the same settings (only --n and --benchmark may change)"
            )
    elif has_samples:
        raise UserError(f"{out}/{SAMPLES} exists but {RUN_JSON} does not: cannot tell how it was sampled; "
                        f"use another --out, or score it with --from-samples")
    else:
        atomic_write_json(path, {"settings": settings})


def _load_existing(path: Path) -> dict[tuple[str, str, int], dict]:
    done: dict[tuple[str, str, int], dict] = {}
    if not path.exists():
        return done
    repair_jsonl_tail(path)
    for rec in iter_jsonl(path, required=("problem_id", "sample_idx", "response")):
        done.setdefault(sample_key(rec), rec)
    return done


class _Progress:
    """rich progress bar with samples/s and tokens/s (silent when quiet)."""

    def __init__(self, total: int, done: int, quiet: bool):
        self.quiet = quiet
        self.total, self.start_done = total, done
        self.samples = 0
        self.tokens = 0
        self.t0 = time.perf_counter()
        self._p = None
        if not quiet and total > done:
            from rich.progress import TextColumn

            from entropykit.progress import make_progress

            self._p = make_progress(TextColumn("{task.fields[rate]}"))
            self._task = self._p.add_task("sampling", total=total, completed=done, rate="")
            self._p.start()

    def update(self, samples: int, tokens: int) -> None:
        self.samples += samples
        self.tokens += tokens
        if self._p is not None:
            dt = max(1e-9, time.perf_counter() - self.t0)
            rate = f"{self.samples / dt:.2f} samples/s  {self.tokens / dt:.0f} tok/s"
            self._p.update(self._task, advance=samples, rate=rate)

    def close(self) -> None:
        if self._p is not None:
            self._p.stop()


def run_passk(cfg: PasskConfig, *, generator=None, log: Callable[[str], None] | None = None) -> dict:
    """Run (or resume) a pass@k evaluation; returns the summary dict. See module docstring.

    `generator`: an already built generator (tests, benchmarks); else one is made from
    `cfg.model`/`cfg.backend` only when samples are missing.
    """
    from entropykit.generation import SamplingConfig, derive_seed
    from entropykit.verify import Verifier, default_workers

    log = log or (lambda s: None)
    _check_grader(cfg.grader)
    if not cfg.benchmarks:
        raise UserError("give at least one --benchmark")
    try:
        ks = parse_ks(cfg.ks) if cfg.ks else None
    except ValueError as e:
        raise UserError(str(e)) from None
    n = int(cfg.n) if cfg.n is not None else (max(ks) if ks else 1)
    if n < 1:
        raise UserError(f"--n must be >= 1, got {n}")
    ks = ks or default_ks(n)
    if max(ks) > n:
        raise UserError(f"k={max(ks)} is larger than the number of samples n={n}")
    _check_template(cfg.prompt_template)
    sampling = SamplingConfig(n=1, temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_tokens, seed=cfg.seed)
    benches: list[Benchmark] = []
    for spec in cfg.benchmarks:
        b = load_benchmark(spec, cfg.columns, limit=cfg.limit)
        if any(x.name == b.name for x in benches):
            raise UserError(f"benchmark '{b.name}' given twice")
        benches.append(b)

    out = Path(cfg.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create output folder {out}: {e.strerror}") from None
    from entropykit.generation import choose_backend

    backend = generator.backend_name if generator is not None else choose_backend(cfg.backend)
    _check_run_json(out, _settings(cfg, backend))
    samples_path = out / SAMPLES
    done = _load_existing(samples_path)

    jobs_all: list[_Job] = []
    for b in benches:
        for p in b.problems:
            prompt = format_problem(cfg.prompt_template, p.problem)
            for j in range(n):
                jobs_all.append(_Job(b.name, p.id, j, prompt, p.answer, derive_seed(cfg.seed, b.name, p.id, j)))
    missing = [jb for jb in jobs_all if (jb.bench, jb.pid, jb.j) not in done]
    stats = {"generated": 0, "reused": len(jobs_all) - len(missing), "gen_time_s": 0.0, "tokens": 0}
    t_start = time.perf_counter()
    if missing:
        # start the verifier processes first: their start-up overlaps the model load
        # Checking answers must not slow down the generation it overlaps with: niced workers, and
        # with the transformers backend (which already uses every core) half the cores.
        workers = cfg.workers
        if workers is None:
            workers = default_workers() if backend == "vllm" else max(1, default_workers() // 2)
        verifier = Verifier(timeout_s=cfg.timeout_s, workers=workers, nice=5, grader=cfg.grader)
        if generator is None:
            log(f"loading {cfg.model} ({backend} backend)")
            from entropykit.generation import make_generator

            kw = dict(cfg.engine_kwargs)
            if backend == "vllm":
                kw.update(tensor_parallel_size=cfg.tensor_parallel_size, data_parallel_size=cfg.data_parallel_size)
            else:
                kw.update(batch_size=cfg.batch_size)
            try:
                generator = make_generator(cfg.model, backend=backend, chat=cfg.chat, **kw)
            except BaseException:
                verifier.close()
                raise
        log(f"sampling {len(missing)} of {len(jobs_all)} samples ({stats['reused']} reused)")
        prog = _Progress(len(jobs_all), stats["reused"], cfg.quiet)
        pending: deque = deque()

        def record(jb: _Job, comp, verdict) -> dict:
            return {
                "id": f"{jb.bench}/{jb.pid}/{jb.j}",
                "benchmark": jb.bench,
                "problem_id": jb.pid,
                "sample_idx": jb.j,
                "prompt": jb.prompt,
                "response": comp.text,
                "answer": jb.gold,
                "pred": verdict.pred,
                "grader": cfg.grader,
                "correct": bool(verdict.correct),
                "timed_out": bool(verdict.timed_out),
                "model": cfg.model,
                "seed": jb.seed,
                "finish_reason": comp.finish_reason,
                "num_tokens": len(comp.token_ids),
            }

        def submit(pairs):
            fut = verifier.submit([jb.gold for jb, _ in pairs], [c.text for _, c in pairs],
                                  [c.finish_reason for _, c in pairs])
            pending.append((pairs, fut))
            ntok = sum(len(c.token_ids) for _, c in pairs)
            stats["generated"] += len(pairs)
            stats["tokens"] += ntok
            prog.update(len(pairs), ntok)

        def drain(appender, block: bool) -> None:
            while pending and (block or pending[0][1].done()):
                pairs, fut = pending.popleft()
                verdicts = fut.result()
                appender.write_many([record(jb, c, v) for (jb, c), v in zip(pairs, verdicts)])

        try:
            with JsonlAppender(samples_path) as app:
                if backend == "vllm":
                    _run_stream(generator, missing, sampling, submit, lambda: drain(app, False), stats)
                else:
                    _run_chunks(generator, jobs_all, done, sampling, cfg.batch_size, submit,
                                lambda: drain(app, False), stats)
                drain(app, True)
        finally:
            prog.close()
            verifier.close()
        done = _load_existing(samples_path)
    stats["wall_time_s"] = time.perf_counter() - t_start

    # score exactly this run's samples
    records = [done[(jb.bench, jb.pid, jb.j)] for jb in jobs_all if (jb.bench, jb.pid, jb.j) in done]
    if len(records) != len(jobs_all):  # pragma: no cover - a generator that dropped samples
        raise UserError(f"{len(jobs_all) - len(records)} samples are missing after sampling")
    meta = {"model": cfg.model, "sampling": {**_settings(cfg, backend), "n": n}}
    summary, problems = score_records(records, ks, order=[b.name for b in benches])
    summary.update(meta)
    write_outputs(out, summary, problems, html=cfg.html, records=records)
    summary["_stats"] = stats
    return summary


def _run_chunks(generator, jobs_all, done, sampling, batch_size, submit, drain, stats) -> None:
    """Transformers path: fixed chunks of the full job list (same batches when resumed)."""
    B = max(1, int(batch_size))
    for start in range(0, len(jobs_all), B):
        chunk = [jb for jb in jobs_all[start : start + B] if (jb.bench, jb.pid, jb.j) not in done]
        if not chunk:
            continue
        t = time.perf_counter()
        comps = generator.generate([jb.prompt for jb in chunk], sampling, seeds=[[jb.seed] for jb in chunk])
        stats["gen_time_s"] += time.perf_counter() - t
        submit([(jb, c[0]) for jb, c in zip(chunk, comps)])
        drain()


def _run_stream(generator, missing, sampling, submit, drain, stats, flush_every: int = 64, flush_s: float = 1.0) -> None:
    """vLLM path: all missing requests at once, results streamed as they finish.

    Records are appended in completion order (their content does not depend on it).
    """
    prompts: list[str] = []
    seeds: list[list[int]] = []
    owners: list[list[_Job]] = []
    index: dict[tuple[str, str], int] = {}
    for jb in missing:
        i = index.get((jb.bench, jb.pid))
        if i is None:
            i = index[(jb.bench, jb.pid)] = len(prompts)
            prompts.append(jb.prompt)
            seeds.append([])
            owners.append([])
        seeds[i].append(jb.seed)
        owners[i].append(jb)
    buf = []
    last = time.perf_counter()
    t = time.perf_counter()
    for i, jj, comp in generator.stream(prompts, sampling, seeds):
        buf.append((owners[i][jj], comp))
        now = time.perf_counter()
        if len(buf) >= flush_every or now - last >= flush_s:
            submit(buf)
            buf = []
            last = now
            drain()
    stats["gen_time_s"] += time.perf_counter() - t
    if buf:
        submit(buf)


# ---------------------------------------------------------------------------------------------
# --from-samples


def _check_grader(grader: str) -> None:
    from entropykit.verify import GRADERS

    if grader not in GRADERS:
        raise UserError(f"unknown --grader {grader!r} (use one of: {', '.join(GRADERS)})")


def score_samples(
    samples_path: str,
    ks: Sequence[int] | str | None,
    out: str,
    *,
    timeout_s: float = 5.0,
    workers: int | None = None,
    html: bool = True,
    log: Callable[[str], None] | None = None,
    grader: str = "entropykit",
) -> dict:
    """Verify and score existing records (problem_id, response, answer; benchmark and
    finish_reason optional). Verdicts are cached in DIR/verdicts.jsonl by `verdict_key`
    (timeouts never: a rerun, maybe with a longer --verify-timeout, tries them again)."""
    from entropykit.verify import Verdict, Verifier, verdict_key

    log = log or (lambda s: None)
    _check_grader(grader)
    src = Path(samples_path)
    records = list(iter_jsonl(src, required=("problem_id", "response", "answer")))
    if not records:
        raise UserError(f"{src}: empty file, no records")
    default_bench = src.stem
    seen: set = set()
    for r in records:
        r.setdefault("benchmark", default_bench)
        if r["benchmark"] is None:
            r["benchmark"] = default_bench
        if r.get("response") is None:
            r["response"] = ""
        if not isinstance(r["response"], str) or not isinstance(r["answer"], (str, int, float)):
            raise UserError(f"{src}: 'response' must be a string and 'answer' a string or number "
                            f"(problem {r['problem_id']!r})")
        r["answer"] = str(r["answer"])
    # sample indices: given or by order of appearance within a problem
    counters: dict = {}
    for r in records:
        key = (str(r["benchmark"]), str(r["problem_id"]))
        if "sample_idx" not in r:
            r["sample_idx"] = counters.get(key, 0)
        counters[key] = max(counters.get(key, 0), int(r["sample_idx"]) + 1)
        k = sample_key(r)
        if k in seen:
            raise UserError(f"{src}: duplicate sample {k}")
        seen.add(k)
    try:
        kl = parse_ks(ks) if ks else None
    except ValueError as e:
        raise UserError(str(e)) from None
    per_problem: dict = {}
    for r in records:
        key = (str(r["benchmark"]), str(r["problem_id"]))
        per_problem[key] = per_problem.get(key, 0) + 1
    min_n = min(per_problem.values())
    kl = kl or default_ks(min_n)
    if max(kl) > min_n:
        worst = min(per_problem, key=per_problem.get)
        raise UserError(f"k={max(kl)} is larger than the number of samples n={min_n} "
                        f"(benchmark {worst[0]!r}, problem {worst[1]!r})")

    outp = Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    cache_path = outp / VERDICTS
    cache: dict[str, Verdict] = {}
    if cache_path.exists():
        repair_jsonl_tail(cache_path)
        for c in iter_jsonl(cache_path, required=("key", "correct")):
            cache[c["key"]] = Verdict.from_dict(c)
    keys = [verdict_key(r["answer"], r["response"], r.get("finish_reason"), grader) for r in records]
    todo: dict[str, int] = {}
    for i, k in enumerate(keys):
        if k not in cache and k not in todo:
            todo[k] = i
    log(f"verifying {len(todo)} distinct answers ({len(records) - len(todo)} cached or repeated)")
    if todo:
        idx = list(todo.values())
        with Verifier(timeout_s=timeout_s, workers=workers, grader=grader) as v:
            verdicts = v.verify([records[i]["answer"] for i in idx], [records[i]["response"] for i in idx],
                                [records[i].get("finish_reason") for i in idx])
        with JsonlAppender(cache_path) as app:  # a timeout is never cached (defect: reused after a longer limit)
            app.write_many([{"key": keys[i], **vd.to_dict()} for i, vd in zip(idx, verdicts) if not vd.timed_out])
        for i, vd in zip(idx, verdicts):
            cache[keys[i]] = vd
    for r, k in zip(records, keys):
        vd = cache[k]
        r["correct"], r["timed_out"] = bool(vd.correct), bool(vd.timed_out)
        r["pred"], r["grader"] = vd.pred, grader
    order = list(dict.fromkeys(str(r["benchmark"]) for r in records))
    summary, problems = score_records(records, kl, order=order)
    models = sorted({str(r["model"]) for r in records if r.get("model")})
    summary["model"] = models[0] if len(models) == 1 else (models or None)
    summary["sampling"] = {"from_samples": str(src), "grader": grader}
    write_outputs(outp, summary, problems, html=html, records=records)
    return summary
