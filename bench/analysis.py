"""Scale check for `entropykit analyze`: time and peak memory on synthetic reasoning traces.

The issue's bar: 2,000 responses x 1K tokens analyze on a 2-core / 24 GiB machine without
running out of memory. The default size is quick; pass the full size explicitly:

    python bench/analysis.py                                   # quick: 200 x 256, synthetic scores
    python bench/analysis.py --responses 2000 --tokens 1024    # full size, synthetic scores
    python bench/analysis.py --responses 2000 --tokens 1024 --base   # + rare behaviors (SBERT, kNN, UMAP)
    python bench/analysis.py --scorer tiny  --responses 64 --tokens 1024   # real scorer, tiny random Llama
    python bench/analysis.py --scorer smollm2-135m --responses 32 --tokens 1024  # the embedded model

`--scorer synthetic` tokenizes with the real SmolLM2 tokenizer (true offsets, true token
counts) but draws entropies from a fixed-seed gamma distribution instead of running the LM, so
it measures everything *around* the scorer (alignment, segmentation, statistics, embeddings,
kNN, UMAP, report, parquet cache) at full size in minutes. The LM's own cost is measured by
`--scorer tiny|smollm2-135m|PATH` (CPU forward passes dominate: ~minutes per 100K tokens for
SmolLM2-135M on 2 cores), and it grows linearly in tokens: scoring is batched by
`--max-batch-tokens` and runs in chunks of 128 records, so its memory does not grow with N.

Prints wall time per stage, tokens/s and peak RSS (ru_maxrss of this process).
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


def synthetic_scorer(tokenizer, seed: int):
    import numpy as np

    from entropykit.scoring import ScoredResponse

    rng = np.random.default_rng(seed)

    def score(lm, records, progress=None, **kw):
        out = []
        for r in records:
            enc = tokenizer(r["response"], add_special_tokens=False, return_offsets_mapping=True)
            offs = [tuple(o) for o in enc["offset_mapping"]]
            ent = rng.gamma(0.6, 1.5, size=len(offs)).astype(float)
            out.append(ScoredResponse(list(enc["input_ids"]), [r["response"][s:e] for s, e in offs], offs,
                                      (-ent * 0.8).tolist(), ent.tolist()))
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
    args = ap.parse_args(argv)

    import entropykit.models
    import entropykit.scoring
    from entropykit.analysis import AnalyzeConfig, run_analysis

    work = Path(tempfile.mkdtemp(prefix="ek-bench-"))
    out = Path(args.out) if args.out else work / "out"
    t0 = time.time()
    outputs = make_records(args.responses, args.tokens, args.seed, "rl")
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
                        model=model, embedder=args.embedder, progress=sys.stderr.isatty(), report=not args.no_report)
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
    }, indent=1))


if __name__ == "__main__":
    main()
