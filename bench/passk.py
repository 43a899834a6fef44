"""Benchmarks of the eval engine, printed as ratios measured in one run.

1. Pipeline overhead: `run_passk` wall time (fresh folder: verification, fsync'd records,
   scoring, summary/problems/HTML) over the backend's raw generate time for exactly the same
   requests (same prompts, seeds and batches). Goals: <= 1.10 (transformers), <= 1.05 (vLLM).
2. Verification throughput: verdicts/s of the process pool (all cores) vs one process on
   simple answers (the cache off, so every item is judged), by `bench/grading.py`'s own
   measurement, which also runs it on the grading corpus, with agreement tables. Goals: >= 1.8x
   and >= 2,500/s on 2 cores.
3. The cost of `--token-entropies` (transformers backend): the same requests (prompts, seeds,
   batches) generated with and without per-token entropies and log-probs, including the token
   spans (`entropykit.token_text`) passk records; alternated runs, best of each. Also checks that
   the samples are the same either way.

    python bench/passk.py                        # transformers, embedded SmolLM2-135M
    python bench/passk.py --model tiny           # a tiny random Llama (fast, for smoke runs)
    python bench/passk.py --sections token-entropies --max-tokens 128
    .venv-vllm/bin/python bench/passk.py --backend vllm --model tiny
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def bench_verify(num: int, workers: int | None) -> dict:
    """bench/grading.py's simple-answers workload, measured by its `throughput` (one method for
    both scripts' figures); the pool must give the one-process verdicts."""
    from grading import simple_workload, throughput  # bench/ is sys.path[0] when this runs as a script

    from entropykit.verify import default_workers

    out = throughput(*simple_workload(num), workers or default_workers())
    assert out["differences"] == 0, out
    return out


def _model_and_jobs(args, tmp: Path):
    """(model, jobs): run_passk's job list, (prompt, seed) problem-major with args.n samples each."""
    from entropykit.benchmarks import load_benchmark
    from entropykit.prompts import render_prompt
    from entropykit.generation import derive_seed

    model = args.model
    if model == "tiny":
        from entropykit.models import build_tiny_model

        kw_tok = {"tokenizer_from": args.tiny_tokenizer} if args.tiny_tokenizer else {}
        model = build_tiny_model(tmp / "tiny", **kw_tok)
    bench = load_benchmark(args.benchmark, limit=args.problems)
    jobs = [(render_prompt("math", p.problem), derive_seed(0, bench.name, p.id, j))
            for p in bench.problems for j in range(args.n)]
    return model, jobs


def bench_pipeline(args) -> dict:
    from entropykit.evalkit.runner import PasskConfig, run_passk
    from entropykit.generation import SamplingConfig, make_generator

    tmp = Path(tempfile.mkdtemp(prefix="bench-passk-"))
    model, jobs = _model_and_jobs(args, tmp)
    kw = {"batch_size": args.batch_size, "device": args.device, "chunk_workers": None, "engine_kwargs": {"max_model_len": 1024, "enforce_eager": True}}
    t = time.perf_counter()
    gen = make_generator(model, backend=args.backend, **kw)
    load_s = time.perf_counter() - t
    sp = SamplingConfig(n=1, temperature=args.temperature, top_p=0.95, max_tokens=args.max_tokens, seed=0)

    def raw() -> tuple[float, int]:
        t0 = time.perf_counter()
        ntok = 0
        if args.backend == "hf":  # the same fixed chunks as run_passk, handed over the same way
            chunks = [jobs[s : s + args.batch_size] for s in range(0, len(jobs), args.batch_size)]
            ntok += sum(len(c.token_ids) for _, _, c in gen.stream_chunks(chunks, sp))
        else:  # one call for everything, one prompt per problem, as run_passk streams it
            per_problem = [jobs[s : s + args.n] for s in range(0, len(jobs), args.n)]
            prompts = [group[0][0] for group in per_problem]
            seeds = [[sd for _, sd in group] for group in per_problem]
            for row in gen.generate(prompts, sp, seeds=seeds):
                ntok += sum(len(c.token_ids) for c in row)
        return time.perf_counter() - t0, ntok

    def passk(i: int) -> float:
        cfg = PasskConfig(model=str(model), benchmarks=[args.benchmark], out=str(tmp / f"run{i}"), n=args.n,
                          limit=args.problems, temperature=args.temperature, top_p=0.95, max_tokens=args.max_tokens,
                          backend=args.backend, batch_size=args.batch_size, quiet=True)
        t0 = time.perf_counter()
        s = run_passk(cfg, generator=gen)
        dt = time.perf_counter() - t0
        assert s["_stats"]["generated"] == len(jobs)
        return dt

    raw(), passk(-1)  # warm-up: allocator, verifier imports, plotly
    raws, runs = [], []
    ntok = 0
    for i in range(args.repeats):
        r, ntok = raw()
        raws.append(r)
        runs.append(passk(i))
    return {"model": str(args.model), "backend": args.backend, "samples": len(jobs), "tokens": ntok,
            "load_s": load_s, "raw_s": min(raws), "passk_s": min(runs), "ratio": min(runs) / min(raws),
            "raw_all": raws, "passk_all": runs}


def bench_token_entropies(args) -> dict:
    from entropykit.generation import SamplingConfig, make_generator
    from entropykit.token_text import sampled_token_fields

    model, jobs = _model_and_jobs(args, Path(tempfile.mkdtemp(prefix="bench-passk-te-")))
    gen = make_generator(model, backend="hf", batch_size=args.batch_size, device=args.device)

    def run(stats: bool) -> tuple[float, list]:
        sp = SamplingConfig(n=1, temperature=args.temperature, top_p=0.95, max_tokens=args.max_tokens, seed=0,
                            token_stats=stats)
        t0 = time.perf_counter()
        comps = []
        for s in range(0, len(jobs), args.batch_size):  # passk's fixed chunks
            chunk = jobs[s : s + args.batch_size]
            for row in gen.generate([p for p, _ in chunk], sp, seeds=[[sd] for _, sd in chunk]):
                c = row[0]
                if stats:
                    sampled_token_fields(gen.tokenizer, c.token_ids, c.text, c.logprobs, c.entropies, c.finish_reason)
                comps.append(c)
        return time.perf_counter() - t0, comps

    run(False), run(True)  # warm-up
    plain, stats = [], []
    for _ in range(args.repeats):
        dt, a = run(False)
        plain.append(dt)
        dt, b = run(True)
        stats.append(dt)
    same = sum(x.token_ids == y.token_ids for x, y in zip(a, b))
    return {"model": str(args.model), "samples": len(jobs), "tokens": sum(len(c.token_ids) for c in a),
            "plain_s": min(plain), "token_entropies_s": min(stats), "ratio": min(stats) / min(plain),
            "same_samples": same, "plain_all": plain, "token_entropies_all": stats}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m", help="model spec, or 'tiny' for a tiny random Llama")
    ap.add_argument("--tiny-tokenizer", default=None, help="tokenizer folder for --model tiny (default: the embedded model's)")
    ap.add_argument("--device", default=None, help="transformers device (default: cuda when available, else cpu)")
    ap.add_argument("--backend", default="hf", choices=["hf", "vllm"])
    ap.add_argument("--benchmark", default="easy")
    ap.add_argument("--problems", type=int, default=4)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=0.6)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--verify-n", type=int, default=6000)
    ap.add_argument("--verify-workers", type=int, default=None)
    ap.add_argument("--skip-pipeline", action="store_true")
    ap.add_argument("--sections", default="verify,pipeline,token-entropies",
                    help="comma-separated: verify, pipeline, token-entropies")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    sections = {x.strip() for x in args.sections.split(",")} - ({"pipeline"} if args.skip_pipeline else set())
    res = {}
    if "verify" in sections:
        v = res["verify"] = bench_verify(args.verify_n, args.verify_workers)
        print(f"verification: pool({v['workers']}) {v['pool_per_s']:.0f} verdicts/s, one process {v['single_per_s']:.0f}/s "
              f"-> ratio {v['ratio']:.2f}x  (goal >= 1.8x and >= 2500/s)", flush=True)
    if "token-entropies" in sections and args.backend == "hf":
        t = res["token_entropies"] = bench_token_entropies(args)
        print(f"--token-entropies ({t['model']}, {t['samples']} samples, {t['tokens']} tokens): "
              f"{t['token_entropies_s']:.2f}s with / {t['plain_s']:.2f}s without -> ratio {t['ratio']:.3f}; "
              f"same samples {t['same_samples']}/{t['samples']}", flush=True)
    if "pipeline" in sections:
        p = res["pipeline"] = bench_pipeline(args)
        goal = 1.10 if args.backend == "hf" else 1.05
        print(f"pipeline ({p['backend']}, {p['model']}, {p['samples']} samples, {p['tokens']} tokens): "
              f"passk {p['passk_s']:.2f}s / raw generate {p['raw_s']:.2f}s -> ratio {p['ratio']:.3f}  (goal <= {goal})",
              flush=True)
    res["cpus"] = os.cpu_count()
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
