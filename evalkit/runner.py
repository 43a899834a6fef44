"""`entropykit passk`: sample, verify, score — resumable, shardable.

Flow of `run_passk(cfg)`:

1. `cfg.validate()`; load the benchmarks; check the output folder is writable.
2. Check `DIR/run.json` (model, backend, sampling settings, prompt template, chat, token
   entropies): a DIR made with other settings is refused; `n` may grow (existing samples are
   reused). Sharded runs also record their layout there (`evalkit.run_folder`).
3. Read every sample file of DIR (`samples.jsonl`, `samples.shard-I-of-N.jsonl`; complete lines
   only) and list this process's missing (benchmark, problem_id, sample_idx) jobs: all of them,
   or with `--shard I/N` its share. Each sample's seed is
   ``derive_seed(seed, benchmark, problem_id, sample_idx)``: its text does not depend on which
   other samples are generated with it.
4. Generate them with the backend's `stream`, which hands over each sample as soon as it is
   finished (transformers: fixed chunks of the job list, so a resumed or sharded run batches
   exactly like an uninterrupted one; a chunk with some samples already saved is generated whole
   again and only the missing ones are kept; vLLM: all requests at once). Each sample goes to the
   verifier pool at once, and a background thread appends (fsync) each verified record, in the
   order they finished: a kill loses at most the samples being generated or verified. Ctrl-C
   saves what is verified, then raises `PasskInterrupted`.
5. When every job of the run is saved (all shards), score the records of this run's
   (benchmark, problem, sample_idx < n) and write `summary.json`, `problems.jsonl` and
   `passk.html`. A shard that finishes before the others says what is missing instead: the last
   shard to finish (or a rerun of any shard) writes the summary.

`score_samples(path, ks, out)` (the `--from-samples` mode) verifies and scores existing
records without a model, with a verdict cache in `DIR/verdicts.jsonl`.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from entropykit.benchmarks import Benchmark, load_benchmark
from entropykit.errors import UserError
from entropykit.evalkit.config import PasskConfig  # noqa: F401 (public name)
from entropykit.evalkit.majority import PAIRS_CACHE
from entropykit.evalkit.metrics import default_ks, parse_ks
from entropykit.evalkit.report import score_records, write_outputs
from entropykit.evalkit.run_folder import (
    TOKEN_FIELDS, check_run_json, load_samples, read_complete_records, sample_files, sample_key, samples_file, shard_of,
)
from entropykit.io import JsonlAppender, atomic_write_text, ensure_writable_dir, iter_jsonl, repair_jsonl_tail, run_lock
from entropykit.prompts import render_prompt, template_text

VERDICTS = "verdicts.jsonl"


class PasskInterrupted(KeyboardInterrupt):
    """Ctrl-C during sampling, after the verified samples were saved."""

    def __init__(self, saved: int, total: int):
        super().__init__(f"interrupted: {saved} of {total} samples saved; rerun the same command to resume")
        self.saved, self.total = saved, total


@dataclass
class _Job:
    """One sample to draw: sample `sample_idx` of problem `problem_id` of `benchmark`."""

    benchmark: str
    problem_id: str
    sample_idx: int
    prompt: str
    gold: str
    seed: int

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.benchmark, self.problem_id, self.sample_idx)


def _settings(cfg: PasskConfig, backend: str) -> dict:
    return {
        "model": cfg.model,
        "backend": backend,
        "temperature": float(cfg.temperature),
        "top_p": float(cfg.top_p),
        "max_tokens": int(cfg.max_tokens),
        "seed": int(cfg.seed),
        "prompt_template": template_text(cfg.prompt_template),  # the text: "math" and its string are one setting
        "chat": cfg.chat,
        "token_entropies": bool(cfg.token_entropies),
        "grader": cfg.grader,
    }


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


class _VerifiedAppender:
    """Verify each finished sample in the pool and append its record as soon as its verdict is in.

    Records are appended in the order the samples were handed in (deterministic on the
    transformers backend), by a background thread: the main thread is busy generating and may
    not come back for a whole batch. Errors of that thread (a full disk) are raised in the
    caller at the next `put` or at `close`.
    """

    def __init__(self, appender: JsonlAppender, verifier, make_record: Callable):
        self._app, self._verifier, self._make_record = appender, verifier, make_record
        self._cv = threading.Condition()
        self._write_lock = threading.Lock()
        self._queue: deque = deque()  # (job, completion, extra fields, future)
        self._closing = self._abandoned = False
        self._error: BaseException | None = None
        self.saved = 0
        self._thread = threading.Thread(target=self._run, name="entropykit-passk-writer", daemon=True)
        self._thread.start()

    def put(self, job: _Job, comp, extra: dict) -> None:
        if self._error is not None:
            raise self._error
        fut = self._verifier.submit([job.gold], [comp.text], [comp.finish_reason])
        with self._cv:
            self._queue.append((job, comp, extra, fut))
        fut.add_done_callback(self._wake)

    def _wake(self, _fut=None) -> None:
        with self._cv:
            self._cv.notify_all()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not (self._queue and self._queue[0][3].done()):
                    if self._closing and not self._queue:
                        return
                    self._cv.wait()
                ready = []
                while self._queue and self._queue[0][3].done():
                    ready.append(self._queue.popleft())
            try:
                records = [self._make_record(job, c, fut.result()[0], extra) for job, c, extra, fut in ready]
                with self._write_lock:
                    if self._abandoned:
                        return
                    self._app.write_many(records)
                    self.saved += len(records)
            except BaseException as e:  # noqa: BLE001 - handed to the main thread
                self._error = e
                return

    def close(self, timeout: float | None = None) -> None:
        """Wait until every sample handed in is saved (at most `timeout` seconds), then stop."""
        with self._cv:
            self._closing = True
            self._cv.notify_all()
        self._thread.join(timeout)
        with self._write_lock:  # after this, nothing more is written (the appender closes next)
            self._abandoned = True
        if self._error is not None:
            raise self._error


def _load_benchmarks(cfg: PasskConfig) -> list[Benchmark]:
    benches: list[Benchmark] = []
    for spec in cfg.benchmarks:
        b = load_benchmark(spec, cfg.columns, limit=cfg.limit)
        if any(x.name == b.name for x in benches):
            raise UserError(f"benchmark '{b.name}' given twice")
        benches.append(b)
    return benches


def run_passk(cfg: PasskConfig, *, generator=None, log: Callable[[str], None] | None = None) -> dict:
    """Run (or resume) a pass@k evaluation, or this process's shard of it; returns the summary
    dict (`"complete": False` and what is missing when other shards have not finished). See the
    module docstring.

    `generator`: an already built generator (tests, benchmarks); else one is made from
    `cfg.model`/`cfg.backend` only when samples are missing.
    """
    from entropykit.generation import SamplingConfig, choose_backend

    cfg.validate()
    log = log or (lambda s: None)
    n, ks = cfg.sample_count(), cfg.k_values()
    shard = cfg.shard_spec()
    sampling = SamplingConfig(n=1, temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_tokens,
                              seed=cfg.seed, token_stats=cfg.token_entropies)
    benches = _load_benchmarks(cfg)
    out = ensure_writable_dir(cfg.out)
    backend = generator.info.name if generator is not None else choose_backend(cfg.backend)
    cfg.check_backend(backend)
    with run_lock(out, command="entropykit passk", shard=None if shard is None else f"{shard[0]}/{shard[1]}", log=log):
        return _run_locked(cfg, out, benches, backend, shard, generator, sampling, n, ks, log)


def _run_locked(cfg: PasskConfig, out: Path, benches: list[Benchmark], backend: str, shard, generator, sampling,
                n: int, ks: list[int], log: Callable[[str], None]) -> dict:
    """`run_passk` while this process holds the run folder (or its shard of it)."""
    from entropykit.generation import derive_seed
    from entropykit.sampling import batch_unit

    unit = batch_unit(backend, cfg.batch_size)  # samples drawn together are sharded together

    all_jobs: list[_Job] = []
    for bench in benches:
        for problem in bench.problems:
            prompt = render_prompt(cfg.prompt_template, problem.problem)
            for sample_idx in range(n):
                seed = derive_seed(cfg.seed, bench.name, problem.id, sample_idx)
                all_jobs.append(_Job(bench.name, problem.id, sample_idx, prompt, problem.answer, seed))
    done = load_samples(out)
    check_run_json(out, _settings(cfg, backend), shard, unit,
                   incomplete=any(job.key not in done for job in all_jobs))
    mine = all_jobs if shard is None else [job for i, job in enumerate(all_jobs) if shard_of(i, shard[1], unit) == shard[0]]
    missing = [job for job in mine if job.key not in done]
    what = "samples" if shard is None else f"samples of shard {shard[0]}/{shard[1]}"
    stats = {"generated": 0, "reused": len(mine) - len(missing), "gen_time_s": 0.0, "tokens": 0, "shard_jobs": len(mine)}
    t_start = time.perf_counter()
    if not missing:
        log(f"all {len(mine)} {what} reused (already saved in {out})")
    else:
        _sample(cfg, backend, generator, mine, missing, done, sampling, samples_file(out, shard), stats, log, what)
    stats["wall_time_s"] = time.perf_counter() - t_start

    done = load_samples(out)
    absent = [(i, job) for i, job in enumerate(all_jobs) if job.key not in done]
    if absent:
        if shard is None:  # pragma: no cover - a generator that dropped samples
            raise UserError(f"{len(absent)} samples are missing after sampling")
        by_shard = Counter(shard_of(i, shard[1], unit) for i, _ in absent)
        return {"complete": False, "missing": {f"{s}/{shard[1]}": c for s, c in sorted(by_shard.items())},
                "num_missing": len(absent), "num_jobs": len(all_jobs), "_stats": stats}
    # score exactly this run's samples
    records = [done[job.key] for job in all_jobs]
    meta = {"model": cfg.model, "sampling": {**_settings(cfg, backend), "n": n}}
    summary, problems = score_records(records, ks, order=[b.name for b in benches], vote_cache=out / PAIRS_CACHE,
                                      verify_timeout=cfg.timeout_s, verify_workers=cfg.workers, log=log)
    summary.update(meta)
    write_outputs(out, summary, problems, html=cfg.html, records=records)
    summary["_stats"] = stats
    return summary


def sample_record(cfg: PasskConfig, job: _Job, comp, verdict, extra: dict) -> dict:
    """The samples.jsonl record of one graded sample: id, benchmark, problem_id, sample_idx, prompt,
    response, answer, correct, model, seed, finish_reason, num_tokens, plus the graded answer
    (`pred`), the grader, `timed_out`, and the per-token arrays of --token-entropies (`extra`)."""
    return {
        "id": f"{job.benchmark}/{job.problem_id}/{job.sample_idx}",
        "benchmark": job.benchmark,
        "problem_id": job.problem_id,
        "sample_idx": job.sample_idx,
        "prompt": job.prompt,
        "response": comp.text,
        "answer": job.gold,
        "pred": verdict.pred,  # the answer that was graded (None: no stated answer)
        "grader": cfg.grader,
        "correct": bool(verdict.correct),
        "timed_out": bool(verdict.timed_out),
        "model": cfg.model,
        "seed": job.seed,
        "finish_reason": comp.finish_reason,
        "num_tokens": len(comp.token_ids),
        **extra,
    }


def _sample(cfg: PasskConfig, backend: str, generator, mine: list[_Job], missing: list[_Job], done: dict,
            sampling, path: Path, stats: dict, log: Callable[[str], None], what: str) -> None:
    """Generate, verify and append the missing samples of this process (module docstring, step 4)."""
    from entropykit.sampling import backend_info
    from entropykit.verify import Verifier, default_workers

    # start the verifier processes first: their start-up overlaps the model load
    # Checking answers must not slow down the generation it overlaps with: niced workers, and
    # half the cores beside a backend that already keeps them busy.
    workers = cfg.workers
    if workers is None:
        workers = max(1, default_workers() // 2) if backend_info(backend).uses_host_cores else default_workers()
    verifier = Verifier(timeout_s=cfg.timeout_s, workers=workers, nice=5, grader=cfg.grader)
    owned = generator is None
    if owned:
        log(f"loading {cfg.model} ({backend} backend)")
        from entropykit.generation import make_generator

        try:
            generator = make_generator(cfg.model, backend=backend, chat=cfg.chat, batch_size=cfg.batch_size,
                                       chunk_workers=None,  # transformers on a CPU: two chunks side by side
                                       tensor_parallel_size=cfg.tensor_parallel_size, data_parallel_size=cfg.data_parallel_size,
                                       engine_kwargs=cfg.engine_kwargs)
        except BaseException:
            verifier.close()
            raise
    log(f"sampling {len(missing)} of {len(mine)} {what} ({stats['reused']} reused)")
    prog = _Progress(len(mine), stats["reused"], cfg.quiet)

    def token_fields(comp) -> dict:
        if not cfg.token_entropies:
            return {}
        from entropykit.token_text import sampled_token_fields

        return sampled_token_fields(generator.tokenizer, comp.token_ids, comp.text, comp.logprobs,
                                    comp.entropies, comp.finish_reason)

    try:
        generator.check_fits([job.prompt for job in missing], cfg.max_tokens, cfg.model)
        with JsonlAppender(path) as app:
            saver = _VerifiedAppender(app, verifier, functools.partial(sample_record, cfg))
            t = time.perf_counter()
            try:
                for job, comp in _finished_samples(generator, mine, done, sampling, cfg.batch_size):
                    saver.put(job, comp, token_fields(comp))
                    stats["generated"] += 1
                    stats["tokens"] += len(comp.token_ids)
                    prog.update(1, len(comp.token_ids))
            except KeyboardInterrupt:
                prog.close()
                # what is generated gets its verdict (hard time limit per answer) and is saved
                saver.close(timeout=cfg.timeout_s + 5.0)
                saved = sum(1 for job in mine if job.key in done) + saver.saved
                raise PasskInterrupted(saved, len(mine)) from None
            stats["gen_time_s"] += time.perf_counter() - t
            saver.close()
    finally:
        prog.close()
        verifier.close()
        if owned:
            generator.close()


def _finished_samples(generator, jobs: list[_Job], done: dict, sampling, batch_size: int) -> Iterator[tuple[_Job, object]]:
    """Yield (job, completion) for every job not in `done`, each as soon as it is finished."""
    if generator.info.fixed_batches:
        # Fixed chunks of the job list: a chunk is batched the same way in every run, resumed,
        # sharded or not, so its samples come out the same (batch shapes change float rounding).
        B = max(1, int(batch_size))
        chunks = [jobs[start : start + B] for start in range(0, len(jobs), B)]
        pending = [chunk for chunk in chunks if not all(job.key in done for job in chunk)]
        for c, i, comp in generator.stream_chunks([[(job.prompt, job.seed) for job in chunk] for chunk in pending], sampling):
            if pending[c][i].key not in done:
                yield pending[c][i], comp
        return
    # independent requests (vLLM): every one at once, one prompt per problem (prefix caching), results as they finish
    prompts: list[str] = []
    seeds: list[list[int]] = []
    owners: list[list[_Job]] = []
    index: dict[tuple[str, str], int] = {}
    for job in jobs:
        if job.key in done:
            continue
        i = index.get((job.benchmark, job.problem_id))
        if i is None:
            i = index[(job.benchmark, job.problem_id)] = len(prompts)
            prompts.append(job.prompt)
            seeds.append([])
            owners.append([])
        seeds[i].append(job.seed)
        owners[i].append(job)
    for i, jj, comp in generator.stream(prompts, sampling, seeds):
        yield owners[i][jj], comp


# ---------------------------------------------------------------------------------------------
# --from-samples


def _without(rec: dict, fields) -> dict:
    for k in fields:  # per-token arrays (--token-entropies) are not needed to grade: free them
        rec.pop(k, None)
    return rec


def n_distribution(per_problem: dict[tuple[str, str], int]) -> dict:
    """{"all": {n: problems}, "by_benchmark": {name: {n: problems}}} from samples per problem."""
    by: dict[str, Counter] = {}
    for (bench, _), n in per_problem.items():
        by.setdefault(bench, Counter())[n] += 1
    return {"all": dict(Counter(per_problem.values())), "by_benchmark": {k: dict(v) for k, v in by.items()}}


def describe_n(dist: dict[int, int]) -> str:
    """"n=4 (3 problems), n=8 (37 problems)"."""
    return ", ".join(f"n={n} ({c} problem{'s' if c != 1 else ''})" for n, c in sorted(dist.items()))


def load_verdict_cache(path: Path, log: Callable[[str], None]) -> dict:
    """The verdicts cached in DIR/verdicts.jsonl by `verdict_key`. A torn last line is dropped; a
    damaged cache (not UTF-8, not JSON lines, records without key/correct) is a cache: it is
    emptied, said so, and rebuilt by grading again."""
    from entropykit.verify import Verdict

    if not path.exists():
        return {}
    try:
        repair_jsonl_tail(path)
        return {c["key"]: Verdict.from_dict(c) for c in iter_jsonl(path, required=("key", "correct"))}
    except (UserError, KeyError, TypeError, ValueError) as e:
        log(f"{path} is damaged ({str(e)[:120]}): it is only a cache, so it is rebuilt by grading again")
        atomic_write_text(path, "")
        return {}


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
    fmt: str = "auto",
    fields: str | None = None,
    batch_input: str | None = None,
) -> dict:
    """Verify and score existing records (problem_id, response, answer; benchmark and
    finish_reason optional), or another tool's outputs (`entropykit.formats`: veRL dumps,
    lm-eval, lighteval, TRL, vLLM batches, chat files, generation datasets). Verdicts are cached in DIR/verdicts.jsonl by `verdict_key`
    (timeouts never: a rerun, maybe with a longer --verify-timeout, tries them again).

    `samples_path`: a JSONL file, or a `passk` run folder (all its sample files, every shard).
    Problems may have different numbers of samples n: each problem's pass@k uses its own n, so k
    can go up to the smallest n; the n distribution is logged and kept in the summary.
    """
    from entropykit.verify import GRADERS

    log = log or (lambda s: None)
    if grader not in GRADERS:
        raise UserError(f"unknown --grader {grader!r} (use one of: {', '.join(GRADERS)})")
    src = Path(samples_path)
    if src.is_dir() and sample_files(src) and fmt in ("auto", "entropykit") and not fields:
        records = [r for f in sample_files(src)
                   for r in read_complete_records(f, required=("problem_id", "response", "answer"), drop=TOKEN_FIELDS)]
        default_bench = src.name
    else:
        records, default_bench = outside_samples(src, fmt=fmt, fields=fields, batch_input=batch_input, log=log)
    if not records:
        raise UserError(f"{src}: empty file, no records")
    outp = ensure_writable_dir(out)
    with run_lock(outp, command="entropykit passk --from-samples", log=log):
        return _score_locked(src, records, default_bench, ks, outp, timeout_s=timeout_s, workers=workers, html=html, log=log,
                             grader=grader)


def _score_locked(src: Path, records: list[dict], default_bench: str, ks, outp: Path, *, timeout_s: float,
                  workers: int | None, html: bool, log: Callable[[str], None], grader: str) -> dict:
    """`score_samples` while this process holds the output folder."""
    from entropykit.verify import Verifier, verdict_key

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
    # sample indices: given or by order of appearance within a problem; samples per problem
    counters: dict = {}
    per_problem: dict = {}
    for r in records:
        key = (str(r["benchmark"]), str(r["problem_id"]))
        if "sample_idx" not in r:
            r["sample_idx"] = counters.get(key, 0)
        counters[key] = max(counters.get(key, 0), int(r["sample_idx"]) + 1)
        per_problem[key] = per_problem.get(key, 0) + 1
        k = sample_key(r)
        if k in seen:
            raise UserError(f"{src}: duplicate sample {k}")
        seen.add(k)
    try:
        kl = parse_ks(ks) if ks else None
    except ValueError as e:
        raise UserError(str(e)) from None
    n_dist = n_distribution(per_problem)
    min_n = min(per_problem.values())
    if len(n_dist["all"]) > 1:
        log(f"uneven n: samples per problem {describe_n(n_dist['all'])}; pass@k uses each problem's own n, "
            f"so k goes up to the smallest n={min_n}")
    kl = kl or default_ks(min_n)
    if max(kl) > min_n:
        worst = min(per_problem, key=per_problem.get)
        raise UserError(f"k={max(kl)} is larger than the number of samples n={min_n} of the problem with the "
                        f"fewest (benchmark {worst[0]!r}, problem {worst[1]!r}; samples per problem: "
                        f"{describe_n(n_dist['all'])}): use k up to {min_n}")

    cache_path = outp / VERDICTS
    cache = load_verdict_cache(cache_path, log)
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
        with JsonlAppender(cache_path) as app:  # a timeout is never cached: a longer limit must retry it
            app.write_many([{"key": keys[i], **vd.to_dict()} for i, vd in zip(idx, verdicts) if not vd.timed_out])
        for i, vd in zip(idx, verdicts):
            cache[keys[i]] = vd
    for r, k in zip(records, keys):
        vd = cache[k]
        r["correct"], r["timed_out"] = bool(vd.correct), bool(vd.timed_out)
        r["pred"], r["grader"] = vd.pred, grader
    order = list(dict.fromkeys(str(r["benchmark"]) for r in records))
    summary, problems = score_records(records, kl, order=order, vote_cache=outp / PAIRS_CACHE,
                                      verify_timeout=timeout_s, verify_workers=workers, log=log)
    models = sorted({str(r["model"]) for r in records if r.get("model")})
    # without a model field the run is named after its file, so reports never say "None"
    summary["model"] = models[0] if len(models) == 1 else (models or f"{src.name} (no model field)")
    summary["sampling"] = {"from_samples": str(src), "grader": grader}
    for name, b in summary["benchmarks"].items():
        dist = n_dist["by_benchmark"].get(name, {})
        if len(dist) > 1:  # "n" alone would hide that problems have different n
            b["n_per_problem"] = {str(k): v for k, v in sorted(dist.items())}
    reported = reported_agreement(records)
    if reported:
        summary["reported_verdicts"] = reported
        log(f"the file's own verdicts ({', '.join(reported['fields'])}) agree with {grader} on {reported['agree']} of "
            f"{reported['total']} samples; they call {reported['only_theirs_correct']} right that {grader} calls wrong, "
            f"and {reported['only_ours_correct']} wrong that it calls right")
    write_outputs(outp, summary, problems, html=html, records=records)
    return summary


NO_GOLD_HINT = {"vllm-batch": "; vLLM batch files hold no gold: put it in each request's metadata.answer in the batch input",
                "trl": "; TRL's completion logs hold no gold (its reward functions read it from the dataset): pass@k "
                       "needs the answers beside the completions"}


def outside_samples(src: Path, *, fmt: str, fields: str | None, batch_input: str | None,
                    log: Callable[[str], None]) -> tuple[list[dict], str]:
    """Samples from any file `entropykit.formats` reads, as passk's sample records; several
    training steps in one dump become one benchmark per step (each step is another policy)."""
    from entropykit.formats import read_records

    read = read_records(src, fmt=fmt, fields=fields, batch_input=batch_input)
    for note in read.notes:
        log(note)
    if read.format == "entropykit":  # our own shape: the fields passk samples have
        for n, r in enumerate(read.records, 1):
            for key in ("problem_id", "response", "answer"):
                if key not in r:
                    raise UserError(f"{src}: record {n}: missing field '{key}'")
        return [_without(r, TOKEN_FIELDS) for r in read.records], src.stem
    name = src.name if src.is_dir() else src.stem
    steps = {r["step"] for r in read.records if r["step"] is not None}
    out = []
    for n, r in enumerate(read.records, 1):
        if r["answer"] is None:
            raise UserError(f"{src}: record {n} ({read.format}) has no gold answer to grade against: name its field with "
                            "--fields answer=FIELD (with prompt= and response=)" + NO_GOLD_HINT.get(read.format, ""))
        bench = r["benchmark"] or name
        if len(steps) > 1:
            bench = f"{bench} step {r['step']}"
        out.append({"benchmark": bench, "problem_id": r["problem_id"], "sample_idx": r["sample_idx"], "prompt": r["prompt"],
                    "response": r["response"], "answer": r["answer"], "model": r["model"], "finish_reason": r["finish_reason"],
                    "reported": r["reported"], "source_format": read.format})
    log(f"{src}: read {len(out)} samples as {read.format}" + (f", {len(steps)} training steps (one benchmark each)" if len(steps) > 1 else ""))
    return out, name


def reported_agreement(records: Sequence[dict], examples: int = 50) -> dict | None:
    """The file's own verdicts beside ours: how often they agree, and the samples where not
    (a reward that a stricter grader disagrees with is what an RL user needs to see)."""
    rows = [r for r in records if isinstance(r.get("reported"), dict) and r["reported"].get("correct") is not None]
    if not rows:
        return None
    theirs = [r for r in rows if r["reported"]["correct"] and not r["correct"]]
    ours = [r for r in rows if r["correct"] and not r["reported"]["correct"]]
    differ = theirs + ours
    return {
        "fields": sorted({r["reported"]["field"] for r in rows}),
        "total": len(rows), "agree": len(rows) - len(differ),
        "only_theirs_correct": len(theirs), "only_ours_correct": len(ours),
        "rule": "a numeric verdict counts as correct when >= 0.5 (rewards 1/0 and +1/-1, exact_match 1.0/0.0)",
        "differ": [{"benchmark": r["benchmark"], "problem_id": r["problem_id"], "sample_idx": r["sample_idx"],
                    "field": r["reported"]["field"], "value": r["reported"]["value"], "theirs": bool(r["reported"]["correct"]),
                    "ours": bool(r["correct"]), "pred": r.get("pred"), "answer": r["answer"],
                    "response_end": r["response"][-300:]} for r in differ[:examples]],
    }
