"""Chunked entropy/log-prob scoring vs the naive full-logits path: time and peak-memory ratios.

CPU (default): the embedded SmolLM2-135M, one response of 256 / 2K / 8K tokens after a short
prompt. Each (path, length) runs in a fresh child process so that peak memory is its own:
"extra" = peak RSS during scoring - peak RSS after the model is loaded, its (memory-mapped)
weights paged in by a 16-token warm-up, and the inputs built.
  naive:   model(ids).logits (float32, all positions) -> log_softmax -> entropy, gather
  chunked: the scorer's path: final hidden states -> LM head in `--chunk-size` rows -> entropy
Both give per-token (logp, H); the max abs difference must be < 1e-4 nats.

GPU (--device cuda): synthetic 8,192 x hidden 3,584, vocab 151,936, bf16 (a 7B Qwen2.5 head):
time and extra CUDA memory of the plain LM-head matmul, the naive float32 path, eager
chunks and torch.compile'd chunks; ratios against the matmul.

    python bench/entropy.py                       # CPU, all lengths
    python bench/entropy.py --lengths 256,2048    # quicker
    python bench/entropy.py --device cuda         # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time


def _rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_child(path: str, length: int, chunk_size: int, repeats: int) -> dict:
    import torch

    from entropykit.entropy import chunked_entropy_and_logprobs, entropy_and_logprobs
    from entropykit.models import load_model
    from entropykit.scoring import final_hidden_states, lm_head_params

    torch.manual_seed(0)
    lm = load_model("smollm2-135m", device="cpu", dtype="float32")
    tok = lm.tokenizer
    text = open(__file__.replace("bench/entropy.py", "entropykit/data/sample_responses.jsonl")).read()
    base = tok(text, add_special_tokens=False)["input_ids"]
    prompt = tok("Solve the problem step by step.", add_special_tokens=False)["input_ids"]
    resp = (base * (length // len(base) + 1))[:length]
    ids = torch.tensor([prompt + resp])
    mask = torch.ones_like(ids)
    p = len(prompt)
    targets = torch.tensor(resp)
    weight, bias, _ = lm_head_params(lm.model)

    def naive():
        logits = lm.model(input_ids=ids, attention_mask=mask).logits[0, p - 1 : p - 1 + length]
        return entropy_and_logprobs(logits.float(), targets)

    def chunked():
        hidden = final_hidden_states(lm.model, ids, mask)[0, p - 1 : p - 1 + length]
        return chunked_entropy_and_logprobs(hidden, weight, targets, chunk_size=chunk_size, bias=bias)

    fn = naive if path == "naive" else chunked
    with torch.no_grad():
        # Page in the memory-mapped weights first, so "extra" counts only what scoring allocates.
        lm.model(input_ids=ids[:, :16]).logits.sum()
        before = _rss_peak_mb()
        t0 = time.perf_counter()
        logp, ent = fn()
        times = [time.perf_counter() - t0]
        peak = _rss_peak_mb()
        for _ in range(repeats - 1):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return {"time_s": statistics.median(times), "extra_mb": max(0.0, peak - before),
            "logp": logp.tolist(), "entropy": ent.tolist()}


def run_cpu(lengths: list[int], chunk_size: int, repeats: int) -> None:
    print(f"CPU, embedded smollm2-135m, chunk_size={chunk_size}, median of {repeats} runs")
    print(f"{'tokens':>7} {'naive s':>9} {'chunked s':>10} {'time ratio':>11} {'naive MB':>9} {'chunked MB':>11} {'mem ratio':>10} {'max|dH|':>9} {'max|dlogp|':>10}")
    for length in lengths:
        res = {}
        for path in ("naive", "chunked"):
            out = subprocess.run([sys.executable, __file__, "--child", path, "--lengths", str(length),
                                  "--chunk-size", str(chunk_size), "--repeats", str(repeats)],
                                 capture_output=True, text=True, check=True)
            res[path] = json.loads(out.stdout.strip().splitlines()[-1])
        n, c = res["naive"], res["chunked"]
        dh = max(abs(a - b) for a, b in zip(n["entropy"], c["entropy"]))
        dl = max(abs(a - b) for a, b in zip(n["logp"], c["logp"]))
        print(f"{length:>7} {n['time_s']:>9.3f} {c['time_s']:>10.3f} {c['time_s'] / n['time_s']:>10.2f}x "
              f"{n['extra_mb']:>9.0f} {c['extra_mb']:>11.0f} {n['extra_mb'] / max(c['extra_mb'], 1):>9.1f}x {dh:>9.2e} {dl:>10.2e}")
        assert dh < 1e-4 and dl < 1e-4, "chunked and naive paths disagree"


def run_gpu(chunk_sizes: list[int], repeats: int, n: int = 8192, d: int = 3584, v: int = 151936) -> None:
    import torch

    from entropykit.entropy import chunked_entropy_and_logprobs, entropy_and_logprobs

    dev = torch.device("cuda")
    torch.manual_seed(0)
    hidden = torch.randn(n, d, device=dev, dtype=torch.bfloat16)
    weight = (torch.randn(v, d, device=dev, dtype=torch.float32) * d**-0.5 * 2).to(torch.bfloat16)
    targets = torch.randint(0, v, (n,), device=dev)
    print(f"GPU {torch.cuda.get_device_name()}: {n} tokens x hidden {d} x vocab {v}, bf16, median of {repeats}")

    def timed(fn, warmup=2):
        for _ in range(warmup):
            out = fn()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        ts = []
        for _ in range(repeats):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            out = fn()
            end.record()
            torch.cuda.synchronize()
            ts.append(start.elapsed_time(end))
        extra = (torch.cuda.max_memory_allocated() - base) / 1e9
        return statistics.median(ts), extra, out

    rows = []
    with torch.no_grad():
        t_mm, m_mm, _ = timed(lambda: hidden @ weight.T)
        rows.append(("matmul only", t_mm, m_mm))
        t, m, ref = timed(lambda: entropy_and_logprobs((hidden @ weight.T).float(), targets))
        rows.append(("naive float32", t, m))
        for cs in chunk_sizes:
            for compiled in (False, True):
                name = f"{'compiled' if compiled else 'eager'} chunk {cs}"
                t, m, out = timed(lambda: chunked_entropy_and_logprobs(hidden, weight, targets, chunk_size=cs, compile=compiled),
                                  warmup=3 if compiled else 2)
                dh = (out[1] - ref[1]).abs().max().item()
                dl = (out[0] - ref[0]).abs().max().item()
                assert dh < 1e-3 and dl < 1e-3, f"{name} disagrees with the naive path: {dh} {dl}"
                rows.append((name, t, m))
    print(f"{'path':>20} {'ms':>8} {'x matmul':>9} {'extra GB':>9}")
    for name, t, m in rows:
        print(f"{name:>20} {t:>8.2f} {t / t_mm:>8.2f}x {m:>9.2f}")
    print("all chunked paths agree with the naive float32 path (max abs diff < 1e-3 nats)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--lengths", default="256,2048,8192")
    ap.add_argument("--chunk-size", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--child", choices=["naive", "chunked"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    lengths = [int(x) for x in a.lengths.split(",")]
    if a.child:
        print(json.dumps(_cpu_child(a.child, lengths[0], a.chunk_size or 1024, a.repeats or 3)))
    elif a.device == "cpu":
        run_cpu(lengths, a.chunk_size or 1024, a.repeats or 3)
    else:
        run_gpu([a.chunk_size] if a.chunk_size else [512, 768, 1024, 2048], a.repeats or 10)


if __name__ == "__main__":
    main()
