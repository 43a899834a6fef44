"""Scale check for `entropykit analyze`: time and peak memory on synthetic reasoning traces,
and the report's size and load time in headless Chromium.

The bars: 2,000 responses x 1K tokens analyze on a 2-core / 24 GiB machine without running out
of memory; a report of 50 responses x 2K tokens under 6 MB that opens in under 3 s. The default
size is quick; pass the full size explicitly:

    python bench/analysis.py --page                            # report of 50 x 2K tokens: size, load time vs a plotly-only page
    python bench/analysis.py --page --scorer smollm2-135m      # the same with real entropies and top-5 alternatives (slow on CPU)
    python bench/analysis.py                                   # quick: 200 x 256, synthetic scores
    python bench/analysis.py --responses 2000 --tokens 1024    # full size, synthetic scores
    python bench/analysis.py --responses 2000 --tokens 1024 --base   # + rare behaviors (SBERT, kNN, UMAP)
    python bench/analysis.py --scorer tiny  --responses 64 --tokens 1024   # real scorer, tiny random Llama
    python bench/analysis.py --scorer smollm2-135m --responses 32 --tokens 1024  # the embedded model

`--scorer synthetic` tokenizes with the real SmolLM2 tokenizer (true offsets, true token
counts) but draws entropies from a fixed-seed gamma distribution (and top-5 alternatives: the
token itself or a Zipf-drawn id, probabilities that fall off with the entropy) instead of
running the LM, so
it measures everything *around* the scorer (alignment, segmentation, statistics, embeddings,
kNN, UMAP, report, parquet cache) at full size in minutes. The LM's own cost is measured by
`--scorer tiny|smollm2-135m|PATH` (CPU forward passes dominate: ~minutes per 100K tokens for
SmolLM2-135M on 2 cores), and it grows linearly in tokens: scoring is batched by
`--max-batch-tokens` and runs in chunks of 128 records, so its memory does not grow with N.

Prints wall time per stage, tokens/s and peak RSS (ru_maxrss of this process); with --page,
the report's size and its load time (ms from navigation until the page says it is ready: all
plots drawn and the text view rendered) over 3 loads, against a page holding only plotly.js
and one small chart, loaded in the same browser (the ratio is what to compare across machines).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

SENTENCES = [
    "First, we compute {a} + {b} = {c}.",
    "Then we substitute $x = {a}$ into the equation $x^2 + {b}x = {c}$.",
    "Therefore the sum is \\frac{{{a}}}{{{b}}} \\approx {a}.{b}.",
    "However, this does not satisfy the condition, so we try another value.",
    "Wait, let me double-check the previous step.",
    "Let me verify: {a} \\times {b} = {c}, which matches.",
    "Since {a} is odd, {c} must be even, thus the parity argument works.",
    "Next, consider the case where $n > {a}$.",
    "Recall that the area of a circle is $\\pi r^2$, e.g. for r = {a} it is {c}.",
    "Note that {a}% of {c} equals {b}.",
    "We note that the remainder when {c} is divided by {a} is {b}.",
    "Finally, the answer is $\\boxed{{{c}}}$.",
    "Hmm, I made a mistake: {a} - {b} is not {c}.",
    "The naïve estimate gives {a}·{b} ≈ {c}.",
    "Because the function is increasing, the minimum is at x = {a}.",
    "Assume that the sequence converges; then the limit L satisfies L = {a}L + {b}.",
]


def make_records(n: int, approx_tokens: int, seed: int, source: str) -> list[dict]:
    rng = random.Random(seed)
    recs = []
    for i in range(n):
        parts, chars = [], 0
        while chars < approx_tokens * 2.6:  # ~2.6 characters per SmolLM2 token on this text
            s = rng.choice(SENTENCES).format(a=rng.randint(2, 99), b=rng.randint(2, 99), c=rng.randint(100, 9999))
            parts.append(s)
            chars += len(s) + 1
            if rng.random() < 0.15:
                parts.append("\n")
        recs.append({"id": f"{source}-{i}", "source": source, "prompt": f"Problem {i}: compute something.", "response": " ".join(parts).replace(" \n ", "\n")})
    return recs


def math_records(n: int, approx_tokens: int, seed: int) -> list[dict]:
    """Responses of real LaTeX-heavy text: MATH-500 reference solutions concatenated to ~approx_tokens
    (page-size realism: template sentences would compress far better than model output)."""
    from entropykit.benchmarks import data_path

    sols = [json.loads(line)["solution"] for line in data_path("math500.jsonl").read_text().splitlines()]
    rng = random.Random(seed)
    recs = []
    for i in range(n):
        parts, chars = [], 0
        while chars < approx_tokens * 2.1:  # ~2.1 characters per SmolLM2 token on this text
            s = rng.choice(sols)
            parts.append(s)
            chars += len(s) + 2
        recs.append({"id": f"page-{i}", "source": "rl", "prompt": f"Problem {i}", "response": "\n\n".join(parts)})
    return recs


def page_load_ms(report: Path, loads: int = 3) -> dict:
    """Median ms from navigation to the page's ready status (plots drawn, text view rendered), for the
    report and for a baseline page with only plotly.js (loaded the same way) and one small chart, in one browser."""
    import statistics

    import plotly.graph_objects as go

    from entropykit.analysis.headless import Chromium
    from entropykit.html import fig_html, page

    fig = go.Figure()
    fig.add_bar(x=["a", "b"], y=[1, 2])
    baseline = report.parent / "baseline.html"
    baseline.write_text(page("baseline", fig_html(fig, "ek-plot-1", 300) + "<p id='ek-status'>loading</p>"))
    ready = "(function(){var t=document.getElementById('ek-status').textContent; return t.startsWith('loading') ? '' : t;})()"
    res: dict = {}
    with Chromium() as browser:
        for name, path in (("baseline", baseline), ("report", report)):
            times, status = [], ""
            for _ in range(loads):
                pg = browser.open(path.resolve().as_uri())
                status = pg.wait_for(ready, timeout=120)
                times.append(int(status.rsplit("ms=", 1)[1]))
                browser.send("Target.closeTarget", {"targetId": pg.send("Target.getTargetInfo")["targetInfo"]["targetId"]})
            res[name] = {"median_ms": statistics.median(times), "loads_ms": times, "status": status}
    res["ratio_report_over_baseline"] = round(res["report"]["median_ms"] / max(1, res["baseline"]["median_ms"]), 2)
    return res


def synthetic_scorer(tokenizer, seed: int):
    import numpy as np

    from entropykit.scoring import ScoredResponse

    rng = np.random.default_rng(seed)

    vocab = len(tokenizer)
    zipf = np.minimum(rng.zipf(1.3, size=1_000_000), vocab) - 1  # a pool of plausible alternative ids
    text_of: dict[int, str] = {}

    def alternatives(ids, ent, k):
        pool = zipf[rng.integers(0, zipf.size, size=(len(ids), k))]
        pool[:, 0] = np.where(rng.random(len(ids)) < 0.7, ids, pool[:, 0])
        p1 = np.exp(-ent / 1.5)  # confident where entropy is low
        rest = np.sort(rng.dirichlet(np.ones(k - 1), size=len(ids)), axis=1)[:, ::-1] * (1 - p1)[:, None] * 0.8
        lp = np.log(np.concatenate([p1[:, None], rest], axis=1))
        return [[(int(i), text_of.setdefault(int(i), tokenizer.decode([int(i)])), float(l)) for i, l in zip(row, lrow)]
                for row, lrow in zip(pool, lp)]

    def score(lm, records, progress=None, top_k=0, **kw):
        out = []
        for r in records:
            enc = tokenizer(r["response"], add_special_tokens=False, return_offsets_mapping=True)
            offs = [tuple(o) for o in enc["offset_mapping"]]
            ent = rng.gamma(0.6, 1.5, size=len(offs)).astype(float)
            ids = list(enc["input_ids"])
            out.append(ScoredResponse(ids, [r["response"][s:e] for s, e in offs], offs, (-ent * 0.8).tolist(), ent.tolist(),
                                      alternatives(np.array(ids), ent, top_k) if top_k else None))
        if progress is not None:
            progress(len(records))
        return out

    return score


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--responses", type=int, default=200)
    ap.add_argument("--tokens", type=int, default=256, help="approximate tokens per response")
    ap.add_argument("--scorer", default="synthetic", help="synthetic | tiny | smollm2-135m | model path/id")
    ap.add_argument("--base", action="store_true", help="also generate BASE responses (same count) and run rare behaviors")
    ap.add_argument("--embedder", default="minilm")
    ap.add_argument("--out", default=None, help="output folder (default: a temp folder)")
    ap.add_argument("--no-report", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--page", action="store_true", help="report size and load time: 50 responses x 2K tokens of real LaTeX text, all in the text view")
    args = ap.parse_args(argv)
    if args.page:
        args.responses, args.tokens = (args.responses if args.responses != 200 else 50), (args.tokens if args.tokens != 256 else 2048)

    import entropykit.models
    import entropykit.scoring
    from entropykit.analysis import AnalyzeConfig, run_analysis

    work = Path(tempfile.mkdtemp(prefix="ek-bench-"))
    out = Path(args.out) if args.out else work / "out"
    t0 = time.time()
    outputs = (math_records if args.page else make_records)(args.responses, args.tokens, args.seed, *([] if args.page else ["rl"]))
    (work / "outputs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in outputs))
    base_path = None
    if args.base:
        base = make_records(args.responses, args.tokens, args.seed + 1, "base")
        base_path = work / "base.jsonl"
        base_path.write_text("".join(json.dumps(r) + "\n" for r in base))
    del outputs
    print(f"generated inputs in {time.time() - t0:.1f}s ({work})", flush=True)

    model = args.scorer
    if args.scorer in ("synthetic", "tiny"):
        model = entropykit.models.build_tiny_model(str(work / "tiny"))
    if args.scorer == "synthetic":
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model)
        entropykit.scoring.score_responses = synthetic_scorer(tok, args.seed)
        entropykit.models.load_model = lambda *a, **k: type("LM", (), {"tokenizer": tok})()

    cfg = AnalyzeConfig(outputs=str(work / "outputs.jsonl"), base=str(base_path) if base_path else None, out=str(out),
                        model=model, embedder=args.embedder, progress=sys.stderr.isatty(), report=not args.no_report,
                        text_responses=max(50, args.responses) if args.page else 50)
    rss0 = peak_rss_mib()
    t0 = time.time()
    s = run_analysis(cfg)
    wall = time.time() - t0
    print(json.dumps({
        "responses": s["num_responses"], "tokens": s["num_tokens"], "scorer": args.scorer, "base": args.base,
        "wall_s": round(wall, 1), "tokens_per_s": round(s["num_tokens"] / wall), "peak_rss_mib": round(peak_rss_mib()),
        "peak_rss_before_run_mib": round(rss0), "stages_s": s["timings"],
        "report_mib": round((out / "report.html").stat().st_size / 2**20, 1) if not args.no_report else None,
        "tokens_parquet_mib": round((out / "tokens.parquet").stat().st_size / 2**20, 1),
    }, indent=1), flush=True)
    if args.page:
        from plotly.offline import get_plotlyjs

        size = (out / "report.html").stat().st_size
        print(json.dumps({
            "page": f"{s['num_responses']} responses x {s['num_tokens'] / s['num_responses']:.0f} tokens in the text view",
            "report_mb": round(size / 1e6, 2), "plotly_js_mb": round(len(get_plotlyjs()) / 1e6, 2),
            "top_k": s["scorer"]["top_k"], **page_load_ms(out / "report.html"),
        }, indent=1))


if __name__ == "__main__":
    main()
