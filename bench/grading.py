"""Grading agreement and verifier speed, measured in one run.

1. Agreement: every case of the grading corpus (``evalkit/data/grading_cases.jsonl``: a model
   response, its gold answer, the expected verdict and why) graded by ``entropykit`` and by
   ``mathverify-default`` (Math-Verify's own extraction) side by side, overall and by category,
   with every disagreement listed. Goal: entropykit >= Math-Verify defaults on every category.
2. Paths: the entropykit verdicts of `grade()` (one item, in process), `Verifier(workers=0)`,
   `Verifier(workers=1)` and the full pool must be identical. Goal: 0 differences.
3. Speed (measured first, so both sides run in fresh processes): verdicts/s of one process vs
   the pool (all cores), the cache off so every item is judged, on two workloads: simple
   distinct boxed answers and the corpus's ordinary cases repeated; and the CPU per verdict of
   each side (wall-clock ratios on a shared machine depend on the other load; CPU per verdict
   much less). Goals: pool >= 1.8x one process and >= 2,500 verdicts/s on 2 cores.

    python bench/grading.py                  # everything (about a minute on 2 cores)
    python bench/grading.py --markdown       # the agreement table as markdown (for the README)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "evalkit" / "data" / "grading_cases.jsonl"


def load_cases(path: Path = CORPUS) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run_pool(cases: list[dict], grader: str, workers: int, timeout_s: float):
    from entropykit.verify import Verifier

    with Verifier(timeout_s=timeout_s, workers=workers, grader=grader) as v:
        return v.verify([c["gold"] for c in cases], [c["response"] for c in cases],
                        [c.get("finish_reason") for c in cases])


def agreement(cases: list[dict], workers: int, timeout_s: float) -> dict:
    from entropykit.verify import GRADERS

    verdicts = {g: run_pool(cases, g, workers, timeout_s) for g in GRADERS}
    cats: dict[str, dict] = {}
    disagreements = []
    for i, c in enumerate(cases):
        row = cats.setdefault(c["category"], {"n": 0, **{g: 0 for g in GRADERS}})
        row["n"] += 1
        for g in GRADERS:
            v = verdicts[g][i]
            if v.correct == c["expected"]:
                row[g] += 1
            else:
                disagreements.append({"id": c["id"], "grader": g, "expected": c["expected"], "got": v.correct,
                                      "pred": v.pred, "timed_out": v.timed_out, "why": c["why"]})
    total = {"n": len(cases), **{g: sum(r[g] for r in cats.values()) for g in GRADERS}}
    return {"categories": cats, "total": total, "disagreements": disagreements, "verdicts": verdicts}


def path_differences(cases: list[dict], pooled, workers: int, timeout_s: float) -> dict:
    """entropykit verdicts of grade() / workers=0 / workers=1 against the full pool's."""
    from entropykit.verify import Verifier, grade

    fast = [i for i, c in enumerate(cases) if not c.get("slow")]  # in process there is no time limit
    single = {i: grade(cases[i]["gold"], cases[i]["response"], finish_reason=cases[i].get("finish_reason"))
              for i in fast}
    with Verifier(workers=0) as v:
        w0 = v.verify([cases[i]["gold"] for i in fast], [cases[i]["response"] for i in fast],
                      [cases[i].get("finish_reason") for i in fast])
    w1 = run_pool(cases, "entropykit", 1, timeout_s)
    diffs = {"grade()": [cases[i]["id"] for i in fast if single[i] != pooled[i]],
             "workers=0": [cases[i]["id"] for i, v in zip(fast, w0) if v != pooled[i]],
             "workers=1": [c["id"] for c, a, b in zip(cases, w1, pooled) if a != b]}
    return {"compared": {"grade()": len(fast), "workers=0": len(fast), "workers=1": len(cases)}, "differences": diffs,
            "pool_workers": workers}


def _children_cpu_s() -> float:
    """CPU seconds (user + system) used so far by the running child processes of this one (Linux)."""
    me, total = str(os.getpid()), 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            fields = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:  # ppid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def throughput(golds, responses, reasons, workers: int, grader: str = "entropykit") -> dict:
    """Wall-clock verdicts/s of one process and of the pool, and the CPU each spends per verdict.

    On a shared machine the wall-clock ratio depends on what else runs; the CPU seconds per
    verdict do not, so `projected_ratio` = workers x (single CPU/verdict) / (pool CPU/verdict,
    parent and workers together) is what the pool would reach on idle cores.
    """
    from entropykit.verify import Verifier

    with Verifier(workers=0, cache=False, grader=grader) as v:
        v.verify(golds[:20], responses[:20], reasons[:20])  # imports, parser caches
        t, c = time.perf_counter(), time.process_time()
        single = v.verify(golds, responses, reasons)
        single_s, single_cpu = time.perf_counter() - t, time.process_time() - c
    with Verifier(workers=1, cache=False, grader=grader) as v:  # the pool's own cost, without a second worker
        v.wait_ready()
        v.verify(golds[:20], responses[:20], reasons[:20])
        c, k = time.process_time(), _children_cpu_s()
        v.verify(golds, responses, reasons)
        one_worker_cpu = time.process_time() - c + _children_cpu_s() - k
    with Verifier(workers=workers, cache=False, grader=grader) as v:
        v.wait_ready()  # a worker still importing would count its start-up as grading time
        v.verify(golds[:20 * workers], responses[:20 * workers], reasons[:20 * workers])
        t, c, k = time.perf_counter(), time.process_time(), _children_cpu_s()
        pooled = v.verify(golds, responses, reasons)
        pool_s = time.perf_counter() - t
        parent_cpu, workers_cpu = time.process_time() - c, _children_cpu_s() - k
        timeouts = v.stats["timeouts"]
    diff = sum(a != b for a, b in zip(single, pooled))
    n = len(golds)
    pool_cpu = parent_cpu + workers_cpu
    return {"n": n, "single_per_s": n / single_s, "pool_per_s": n / pool_s, "ratio": single_s / pool_s,
            "single_cpu_us": 1e6 * single_cpu / n, "pool_cpu_us": 1e6 * pool_cpu / n,
            "parent_cpu_us": 1e6 * parent_cpu / n, "single_cpu_share": single_cpu / single_s,
            "one_worker_cpu_us": 1e6 * one_worker_cpu / n,
            "projected_ratio": workers * single_cpu / pool_cpu if pool_cpu > 0 else float("nan"),
            "projected_per_s": workers * n / pool_cpu if pool_cpu > 0 else float("nan"),
            "workers": workers, "differences": diff, "pool_timeouts": timeouts}


def simple_workload(num: int):
    golds = [str(i) for i in range(num)]
    responses = [f"so the total is \\boxed{{{i if i % 3 else i + 1}}}." for i in range(num)]
    return golds, responses, [None] * num


def corpus_workload(cases: list[dict], num: int):
    ordinary = [c for c in cases if c["category"] != "hostile"]
    reps = [ordinary[i % len(ordinary)] for i in range(num)]
    return [c["gold"] for c in reps], [c["response"] for c in reps], [c.get("finish_reason") for c in reps]


def format_agreement(ag: dict, markdown: bool) -> str:
    from entropykit.verify import GRADERS

    head = ["category", "cases"] + [f"{g} agrees" for g in GRADERS]
    rows = [[cat, str(r["n"])] + [f"{r[g]}/{r['n']}" for g in GRADERS] for cat, r in ag["categories"].items()]
    t = ag["total"]
    rows.append(["**overall**" if markdown else "OVERALL", str(t["n"])]
                + [f"{t[g]}/{t['n']} ({100 * t[g] / t['n']:.1f}%)" for g in GRADERS])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    fmt = lambda r: "  ".join(x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def main() -> None:
    from entropykit.verify import default_workers

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=None, help="pool size (default: all cores)")
    ap.add_argument("--timeout", type=float, default=5.0, help="per-answer limit in the pools, seconds")
    ap.add_argument("--speed-n", type=int, default=4000, help="items per throughput workload")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--markdown", action="store_true", help="agreement table as markdown")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    workers = args.workers or default_workers()
    cases = load_cases()
    print(f"grading corpus: {len(cases)} cases, {len({c['category'] for c in cases})} categories; "
          f"pool of {workers} workers, {args.timeout:g}s per answer; cpus {os.cpu_count()}", flush=True)

    speed: dict = {}
    if not args.skip_speed:  # first: fresh processes on both sides (the agreement runs warm this one up)
        for name, (g, r, f) in (("simple boxed answers", simple_workload(args.speed_n)),
                                ("corpus responses (no hostile)", corpus_workload(cases, args.speed_n))):
            s = throughput(g, r, f, workers)
            speed[name] = s
            print(f"\nspeed, {name} ({s['n']} items, cache off): one process {s['single_per_s']:.0f} verdicts/s, "
                  f"pool({workers}) {s['pool_per_s']:.0f} verdicts/s -> {s['ratio']:.2f}x  "
                  f"(goal >= 1.8x and >= 2500/s); differences {s['differences']}", flush=True)
            print(f"  CPU per verdict: one process {s['single_cpu_us']:.0f} us (it got {100 * s['single_cpu_share']:.0f}% "
                  f"of a core), pool {s['pool_cpu_us']:.0f} us of which the coordinator {s['parent_cpu_us']:.0f} us "
                  f"-> on {workers} idle cores: {s['projected_ratio']:.2f}x, {s['projected_per_s']:.0f} verdicts/s; "
                  f"a 1-worker pool {s['one_worker_cpu_us']:.0f} us (the pool's own overhead, without a second "
                  f"process competing for the machine)", flush=True)

    ag = agreement(cases, workers, args.timeout)
    print("\n" + format_agreement(ag, args.markdown))
    worse = [cat for cat, r in ag["categories"].items() if r["entropykit"] < r["mathverify-default"]]
    print(f"\ncategories where entropykit agrees less than mathverify-default: {worse or 'none'}")
    print(f"\nevery disagreement with the expected verdict ({len(ag['disagreements'])}):")
    for d in ag["disagreements"]:
        pred = "no answer" if d["pred"] is None else repr(d["pred"] if len(d["pred"]) < 50 else d["pred"][:47] + "...")
        print(f"  {d['id']:<28} {d['grader']:<19} expected {str(d['expected']):<5} got {str(d['got']):<5}"
              f"{' (timeout)' if d['timed_out'] else ''} pred {pred}  -- {d['why']}")

    paths = path_differences(cases, ag["verdicts"]["entropykit"], workers, args.timeout)
    n_diff = sum(len(v) for v in paths["differences"].values())
    print(f"\npaths vs the {workers}-worker pool (entropykit): "
          + ", ".join(f"{k}: {len(v)} differences of {paths['compared'][k]}" for k, v in paths["differences"].items())
          + f"  -> total {n_diff} (goal 0)")
    for k, v in paths["differences"].items():
        if v:
            print(f"  {k} differs on {v}")

    res = {"cases": len(cases), "workers": workers, "agreement": {k: v for k, v in ag.items() if k != "verdicts"},
           "paths": paths, "speed": speed, "cpus": os.cpu_count()}
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, default=str))
    sys.exit(0)


if __name__ == "__main__":
    main()
