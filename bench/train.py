"""Throughput of a training step of `entropykit train` (rollout + scoring + update).

    python bench/train.py                           # CPU: the embedded SmolLM2-135M on the bundled easy problems
    python bench/train.py --device cuda --compare   # GPU: a 0.5B-class Qwen2 model, with and without the entropy advantage
    python bench/train.py --qwen --layers 2 --vocab 4096 --compare --max-tokens 16   # CPU smoke test of the GPU path
    python bench/train.py --methods plain,entropy_adv,clip_cov,kl_cov,mask   # each entropy-control method vs plain GRPO

Runs the real loop (`entropykit.train.loop.train`) for a few GRPO steps with the entropy
advantage (`--compare`: also without it, same model, data and seeds, in the same process) and
reports, for the steps after the first (warm-up): generated tokens/s of the whole step, trained
tokens/s of the update (prompt + response tokens through forward + backward), and the share of
the step spent in rollout / scoring / update (the loop's phase timer; on CUDA each phase waits
for its kernels). With --compare a last line gives the ratios entropy-adv / plain (the cost of
the paper's term: one min() per token, the entropies come from the same forward); --methods
runs any of the entropy-control methods (`METHODS`) in one process and prints each one's ratios
to plain GRPO. Rewards: on CPU math-verify runs
(and is timed) on the responses; so that every sample carries a gradient (the worst case for the
update), the verified rewards are then replaced by alternating +1/-1 within each group. The GPU
model is random, so its rewards are alternating +1/-1 outright and responses run to
--max-tokens. Prints one JSON line per section (ratios, never asserted anywhere).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _ensure_importable() -> None:
    """Import entropykit from the source tree when it is not installed (e.g. a bare GPU box)."""
    try:
        import entropykit.train.loop  # noqa: F401

        return
    except ImportError:
        pass
    sys.path.insert(0, str(ROOT))
    import entropykit

    for tool in ("train", "evalkit"):
        name = f"entropykit.{tool}"
        if name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(name, ROOT / tool / "__init__.py", submodule_search_locations=[str(ROOT / tool)])
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        setattr(entropykit, tool, mod)


def alternating(prompts, completions, answers):
    return [1.0 if i % 2 == 0 else -1.0 for i in range(len(completions))]


class TimedMathThenAlternating:
    """Verify with math-verify (so its cost is in the scoring time), then return +1/-1 alternating."""

    def __init__(self):
        from entropykit.train.data import MathReward

        self.math = MathReward()
        self.accuracy = []

    def __call__(self, prompts, completions, answers):
        r = self.math(prompts, completions, answers)
        self.accuracy.append(sum(x > 0 for x in r) / len(r))
        return alternating(prompts, completions, answers)

    def close(self):
        self.math.close()


def build_qwen2_05b(path: Path, vocab: int = 151936, layers: int = 24) -> str:
    """A random model of Qwen2.5-0.5B's shape (hidden 896, 24 layers, 14 heads / 2 KV heads, MLP 4864,
    vocab 151,936, tied embeddings; 494M params) + a word-level tokenizer, saved in bf16.

    Built as a Llama architecture with attention biases (Qwen2 = Llama + q/k/v biases; this also
    biases o_proj, +0.8M params): transformers maps a qwen2 config to its BPE tokenizer class,
    which cannot load a synthetic word-level tokenizer, and no hub is reachable for the real one.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = ["<pad>", "<eos>"] + [f"w{i}" for i in range(vocab - 2)]
    tk = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(words)}, unk_token="w0"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tk.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<eos>", pad_token="<pad>", unk_token="w0")
    cfg = LlamaConfig(
        vocab_size=vocab, hidden_size=896, intermediate_size=4864, num_hidden_layers=layers, num_attention_heads=14,
        num_key_value_heads=2, max_position_embeddings=4096, tie_word_embeddings=True, eos_token_id=1, pad_token_id=0,
        bos_token_id=None, attention_bias=True, rope_theta=1000000.0, rms_norm_eps=1e-6,
    )
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = LlamaForCausalLM(cfg)
    model.to(torch.bfloat16).save_pretrained(path)
    tok.save_pretrained(path)
    tc = path / "tokenizer_config.json"  # loadable by transformers 4.x too
    conf = json.loads(tc.read_text())
    conf["tokenizer_class"] = "PreTrainedTokenizerFast"
    tc.write_text(json.dumps(conf))
    return str(path)


# the entropy-control methods, each a GRPO run that differs from "plain" only in these settings
METHODS = {
    "plain": dict(entropy_adv=False),
    "entropy_adv": dict(entropy_adv=True),
    "entropy_reg": dict(entropy_adv=False, entropy_coef=0.001),
    "clip_cov": dict(entropy_adv=False, loss_mode="clip_cov"),
    "kl_cov": dict(entropy_adv=False, loss_mode="kl_cov"),
    "mask": dict(entropy_adv=False, top_entropy_quantile=0.2),
}


def summarize(run: Path, warmup: int, extra: dict) -> dict:
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    timed = recs[warmup:] or recs
    tot = sum(r["time_step"] for r in timed)
    out = {
        **extra,
        "steps_timed": len(timed),
        "step_s": round(tot / len(timed), 3),
        "gen_tokens_per_s": round(sum(r["tokens_per_s"] * r["time_step"] for r in timed) / tot, 1),
        "share_rollout": round(sum(r["time_rollout"] for r in timed) / tot, 3),
        "share_scoring": round(sum(r["time_scoring"] for r in timed) / tot, 3),
        "share_update": round(sum(r["time_update"] for r in timed) / tot, 3),
        "update_s": round(sum(r["time_update"] for r in timed) / len(timed), 3),
        # prompt + response tokens through forward + backward, per second of update time
        "update_tokens_per_s": round(sum(r["seq_tokens"] * r["policy_updates"] / 2 for r in timed) / sum(r["time_update"] for r in timed), 1),
        "response_length": round(sum(r["response_length"] for r in timed) / len(timed), 1),
        "mean_entropy": round(sum(r["entropy"] for r in timed) / len(timed), 3),
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=None, help="steps (the first is warm-up)")
    ap.add_argument("--prompts", type=int, default=None)
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--max-tokens", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--qwen", action="store_true", help="use the Qwen2 0.5B-shape model (default on cuda)")
    ap.add_argument("--layers", type=int, default=24, help="Qwen2 layers (smaller for a dry run)")
    ap.add_argument("--vocab", type=int, default=151936, help="Qwen2 vocabulary (smaller for a dry run)")
    ap.add_argument("--compare", action="store_true", help="also run without the entropy advantage and print the ratios")
    ap.add_argument("--methods", default=None, help=f"comma-separated, of {', '.join(METHODS)}: ratios of each to plain")
    ap.add_argument("--rollout-backend", default="hf", help="hf (default: the on-device transformers sampler), vllm or auto")
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _ensure_importable()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from entropykit.train.config import TrainConfig
    from entropykit.train.loop import train

    gpu = args.device.startswith("cuda")
    qwen = gpu or args.qwen
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if qwen:
            t0 = time.perf_counter()
            model = build_qwen2_05b(tmp / "qwen2-05b", vocab=args.vocab, layers=args.layers)
            build_s = time.perf_counter() - t0
            data = tmp / "prompts.jsonl"
            data.write_text("".join(json.dumps({"problem": " ".join(f"w{(7 * i + j) % 5000}" for j in range(64)), "answer": "0"}) + "\n" for i in range(64)))
            steps, prompts, n, mt = args.steps or 3, args.prompts or 4, args.n or 8, args.max_tokens or 64
            reward = alternating
            extra = {"device": torch.cuda.get_device_name(0) if gpu else "cpu",
                     "model": f"random Qwen2.5-0.5B-shape Llama ({args.layers} layers, vocab {args.vocab}), bf16 autocast on GPU, fp32 master",
                     "build_s": round(build_s, 1)}
            cfg_kw = dict(prompt_template="raw", chat=False, micro_batch_size=min(32, prompts * n // 2))
        else:
            model, data = "smollm2-135m", "easy"
            steps, prompts, n, mt = args.steps or 3, args.prompts or 2, args.n or 4, args.max_tokens or 64
            reward = TimedMathThenAlternating()
            extra = {"device": "cpu", "threads": torch.get_num_threads(), "model": "smollm2-135m (float32)"}
            cfg_kw = {}
        results = {}
        variants = (["plain", *[m for m in args.methods.split(",") if m != "plain"]] if args.methods
                    else ["entropy_adv", "plain"] if args.compare else ["entropy_adv"])
        unknown = set(variants) - set(METHODS)
        if unknown:
            raise SystemExit(f"--methods: unknown {', '.join(sorted(unknown))} (known: {', '.join(METHODS)})")
        for variant in variants:
            cfg = TrainConfig(
                model=str(model), data=str(data), out=str(tmp / f"run-{variant}"), steps=steps, prompts_per_step=prompts,
                n_samples=n, max_tokens=mt, mini_batch_size=prompts * n // 2, lr=1e-6, save_every=0, tensorboard=False,
                device=args.device, seed=0, gen_batch_size=prompts * n, rollout_backend=args.rollout_backend,
                **METHODS[variant], **cfg_kw,
            )
            if gpu:
                torch.cuda.reset_peak_memory_stats()
            if isinstance(reward, TimedMathThenAlternating):
                reward.accuracy = []
            t0 = time.perf_counter()
            run = train(cfg, reward_fn=reward)
            wall = time.perf_counter() - t0
            res = summarize(run, 1, {**extra, "variant": variant, "rollout_backend": args.rollout_backend})
            res.update(prompts_per_step=prompts, n_samples=n, max_tokens=mt, updates_per_step=2, wall_s=round(wall, 1))
            if isinstance(reward, TimedMathThenAlternating):
                res["true_accuracy"] = round(sum(reward.accuracy) / len(reward.accuracy), 3)
            if gpu:
                res["peak_gpu_mem_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
            results[variant] = res
            print(json.dumps(res), flush=True)
        b = results.get("plain")
        for name, a in results.items():
            if b is not None and name != "plain":
                print(json.dumps({"ratio": f"{name} / plain", "step_s": round(a["step_s"] / b["step_s"], 3),
                                  "update_s": round(a["update_s"] / b["update_s"], 3),
                                  "update_tokens_per_s": round(a["update_tokens_per_s"] / b["update_tokens_per_s"], 3)}))
        if isinstance(reward, TimedMathThenAlternating):
            reward.close()


if __name__ == "__main__":
    main()
