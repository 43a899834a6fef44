"""Sampling speed of the transformers backend: shared prefill vs the previous path vs `model.generate`.

Workload (issue 25): 4 MATH-500 prompts x 8 samples x 128 tokens, the paper's evaluation
sampling (temperature 0.6, top-p 0.95), passk's fixed chunks of 16 rows (2 prompts per chunk).

- "shared":   today's sampler as passk runs it: each distinct prompt of a chunk is prefilled
              once and its KV cache copied to its rows; the cache decodes into buffers allocated
              once; the nucleus is ranked among the top candidates only; on a CPU two chunks are
              sampled side by side, each on one of the two threads (`chunk_workers`).
- "previous": the same generator, one chunk at a time on all threads, with shared prefill off (`share_prefill=False`, the per-row
              prefill the fallback test checks bit for bit), the cache grown by torch.cat each
              step (`PREALLOCATE_CACHE=False`) and the previous `sample_rows` (a
              full vocabulary sort per row and step), kept below as it was.
- "generate": transformers' `model.generate(do_sample=True, num_return_sequences=8)`, the same
              prompts, chunks, temperature, top-p and length (it stops at EOS per row, as we do).

The three are alternated (rotated order per round) so machine load hits them alike; each prints
tokens/s (generated tokens over wall time, best round) and the ratio of shared to each, and the
same per CPU second of this process (steadier when other work shares the machine). Checks printed with
them: the shared path's samples are identical across rounds (rerun), a chunk generated on its
own (as a shard or a resumed run does) equals the same chunk in the whole run, and how many
samples are the same token for token as the previous path's.

    python bench/sampler.py                       # the workload above (about 5 minutes on 2 cores)
    python bench/sampler.py --rounds 2 --max-tokens 32
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from pathlib import Path


def previous_sample_rows(probs, top_p: float, generators):
    """`entropykit.generation.sample_rows` before the top-candidates nucleus (commit c4eb0a5)."""
    import torch

    u = torch.cat([torch.rand(1, generator=g, device=probs.device) for g in generators])
    order = None
    if top_p < 1.0:
        probs, order = torch.sort(probs, dim=-1, descending=True)
        probs = torch.where(probs.cumsum(-1) - probs < top_p, probs, torch.zeros_like(probs))
    cdf = probs.cumsum(-1)
    idx = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(-1), right=True).clamp_(max=probs.shape[-1] - 1)
    return idx.squeeze(-1) if order is None else order.gather(-1, idx).squeeze(-1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--benchmark", default="math500")
    ap.add_argument("--problems", type=int, default=4)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    import torch

    import entropykit.generation as g
    from entropykit.benchmarks import load_benchmark
    from entropykit.models import encode_prompt
    from entropykit.prompts import render_prompt

    gen = g.make_generator(args.model, backend="hf", batch_size=args.batch_size)
    lm, tok = gen.lm, gen.tokenizer
    bench = load_benchmark(args.benchmark, limit=args.problems)
    jobs = [(render_prompt("math", p.problem), g.derive_seed(0, bench.name, p.id, j)) for p in bench.problems for j in range(args.n)]
    chunks = [jobs[s : s + args.batch_size] for s in range(0, len(jobs), args.batch_size)]
    sp = g.SamplingConfig(n=1, temperature=0.6, top_p=0.95, max_tokens=args.max_tokens, seed=0)

    current_sample_rows = g.sample_rows

    def ours(shared: bool, only: list | None = None) -> tuple[int, list]:
        gen.share_prefill = g.PREALLOCATE_CACHE = shared
        gen.chunk_workers = None if shared else 1  # what passk uses (default_chunk_workers) / one chunk at a time
        g.sample_rows = current_sample_rows if shared else previous_sample_rows
        samples = []
        try:  # passk's fixed chunks, as passk hands them over
            samples = [comp.token_ids for _, _, comp in gen.stream_chunks(only or chunks, sp)]
        finally:
            gen.share_prefill, g.PREALLOCATE_CACHE, g.sample_rows = True, True, current_sample_rows
        return sum(map(len, samples)), samples

    def hf_generate() -> tuple[int, list]:
        samples = []
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        for chunk in chunks:
            counts = Counter(p for p, _ in chunk)  # one call per sample count (num_return_sequences is one number)
            for n in sorted(set(counts.values())):
                enc = [encode_prompt(tok, p, None) for p, c in counts.items() if c == n]
                width = max(map(len, enc))
                ids = torch.tensor([[pad] * (width - len(e)) + e for e in enc])
                mask = torch.tensor([[0] * (width - len(e)) + [1] * len(e) for e in enc])
                torch.manual_seed(chunk[0][1] % 2**31)
                with torch.no_grad():
                    out = lm.model.generate(input_ids=ids, attention_mask=mask, do_sample=True, temperature=0.6, top_p=0.95,
                                            top_k=0, max_new_tokens=args.max_tokens, num_return_sequences=n, pad_token_id=pad)
                for row in out[:, width:].tolist():  # up to and including the first EOS, as we count
                    eos = next((i for i, t in enumerate(row) if t in gen.eos_ids), None)
                    samples.append(row if eos is None else row[: eos + 1])
        return sum(map(len, samples)), samples

    methods = {"shared": lambda: ours(True), "previous": lambda: ours(False), "generate": hf_generate}
    ours(True, chunks[:1])  # warm-up: allocator, first-call overheads
    times = {m: [] for m in methods}
    cpu = {m: [] for m in methods}  # process CPU seconds: less sensitive to other work on the machine
    tokens, samples = {}, {}
    reruns_identical = True
    for r in range(args.rounds):
        order = list(methods)[r % 3:] + list(methods)[: r % 3]
        for m in order:
            t, c = time.perf_counter(), time.process_time()
            tokens[m], out = methods[m]()
            times[m].append(time.perf_counter() - t)
            cpu[m].append(time.process_time() - c)
            if m == "shared" and "shared" in samples:
                reruns_identical &= out == samples["shared"]
            samples[m] = out
            print(f"  round {r + 1}: {m:8s} {tokens[m]} tokens in {times[m][-1]:.1f}s ({cpu[m][-1]:.1f} CPU s)", flush=True)
    shard = ours(True, chunks[1:2])[1]
    shard_identical = shard == samples["shared"][args.batch_size : 2 * args.batch_size]
    same_as_previous = sum(a == b for a, b in zip(samples["shared"], samples["previous"]))
    rate = {m: tokens[m] / min(times[m]) for m in methods}
    cpu_rate = {m: tokens[m] / min(cpu[m]) for m in methods}
    res = {
        "model": args.model, "workload": f"{args.problems} {args.benchmark} prompts x {args.n} samples x {args.max_tokens} tokens, "
        f"chunks of {args.batch_size}", "cpus": os.cpu_count(), "threads": torch.get_num_threads(), "rounds": args.rounds,
        "tokens_per_s": rate, "seconds": times, "tokens": tokens, "tokens_per_cpu_s": cpu_rate, "cpu_seconds": cpu,
        "cpu_ratio_vs_previous": cpu_rate["shared"] / cpu_rate["previous"],
        "ratio_vs_previous": rate["shared"] / rate["previous"], "ratio_vs_generate": rate["shared"] / rate["generate"],
        "reruns_identical": reruns_identical, "shard_identical": shard_identical,
        "same_as_previous": f"{same_as_previous}/{len(jobs)}",
    }
    print(f"sampler ({res['workload']}, {res['threads']} threads, best of {args.rounds} alternated rounds): "
          f"shared {rate['shared']:.1f} tokens/s, previous {rate['previous']:.1f}, model.generate {rate['generate']:.1f} -> "
          f"{res['ratio_vs_previous']:.2f}x the previous path (goal >= 1.6x), {res['ratio_vs_generate']:.2f}x model.generate; "
          f"per CPU second {res['cpu_ratio_vs_previous']:.2f}x the previous path; "
          f"reruns identical: {reruns_identical}; a chunk alone (shard/resume) identical: {shard_identical}; "
          f"samples equal to the previous path's: {res['same_as_previous']}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
