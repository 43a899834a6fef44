"""What the trainer tells the user while it runs: the plan, progress bars, phase timings, the
per-step line, running statistics and TensorBoard. Nothing here changes what is trained."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Callable, Iterator

import torch

from .config import TrainConfig


class PhaseTimer:
    """Seconds spent in each named phase of a step: `with timer("rollout"): ...`.

    On CUDA the queued kernels are waited for at the end of each phase, so that a phase is
    charged for the GPU work it launched rather than the next phase that happens to sync.
    """

    def __init__(self, device: torch.device):
        self.seconds: dict[str, float] = {}
        self._sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0


class StepProgress:
    """Rich progress bars (on stderr): steps, and within a step the current phase (rollout
    samples, scored samples, update mini-batches). Does nothing when disabled."""

    def __init__(self, enabled: bool, steps: int, done: int):
        self._p = self._phase = None
        if enabled:
            from entropykit.progress import make_progress

            self._p = make_progress()
            self._steps = self._p.add_task("steps", total=steps, completed=done)
            self._p.start()

    def phase(self, name: str, total: int) -> Callable[[int], None]:
        """Start the bar of a phase; returns `advance(n)`."""
        if self._p is None:
            return lambda n=1: None
        if self._phase is not None:
            self._p.remove_task(self._phase)
        self._phase = self._p.add_task(name, total=total)
        p, task = self._p, self._phase
        return lambda n=1: p.advance(task, n)

    def step_done(self) -> None:
        if self._p is not None:
            self._p.advance(self._steps)

    def close(self) -> None:
        if self._p is not None:
            self._p.stop()


class TensorBoardLog:
    """TensorBoard writer when tensorboard is installed, else nothing."""

    def __init__(self, folder: Path, enabled: bool):
        self.w = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.w = SummaryWriter(str(folder))
            except Exception:
                self.w = None

    def log(self, rec: dict) -> None:
        if self.w is not None:
            for k, v in rec.items():
                if isinstance(v, (int, float)) and k != "step":
                    self.w.add_scalar(k, v, rec["step"])
            self.w.flush()

    def close(self) -> None:
        if self.w is not None:
            self.w.close()


class WeightedMeans:
    """Running weighted means of scalar statistics (weights: token counts, or 1 per update)."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.weights: dict[str, float] = {}
        self.counts: dict[str, int] = {}  # events (e.g. optimizer steps skipped), summed not averaged

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def add(self, key: str, value: float, weight: float = 1.0) -> None:
        if weight > 0:
            self.sums[key] = self.sums.get(key, 0.0) + value * weight
            self.weights[key] = self.weights.get(key, 0.0) + weight

    def mean(self, key: str) -> float | None:
        w = self.weights.get(key, 0.0)
        return self.sums[key] / w if w > 0 else None


def describe_plan(cfg: TrainConfig, *, device: torch.device, dtype: str, backend: str, num_problems: int,
                  prompt_tokens: float, start: int) -> list[str]:
    """What `train` is about to do, in a few lines (printed before the first rollout)."""
    method = f"{cfg.algo.upper()}" + (f" + entropy advantage (alpha {cfg.alpha_value:g}, kappa {cfg.kappa:g})" if cfg.entropy_adv else "")
    if cfg.entropy_coef > 0:
        method += f" + entropy regularization {cfg.entropy_coef:g}"
    if cfg.loss_mode == "clip_cov":
        method += f" + Clip-Cov (ratio {cfg.clip_cov_ratio:g}, cov in ({cfg.clip_cov_lb:g}, {cfg.clip_cov_ub:g}))"
    elif cfg.loss_mode == "kl_cov":
        method += f" + KL-Cov (ratio {cfg.kl_cov_ratio:g}, coef {cfg.kl_cov_coef:g})"
    if cfg.top_entropy_quantile < 1:
        method += f" + gradient through the top {cfg.top_entropy_quantile:g} of tokens by entropy"
    per_step = cfg.rollout_size * (prompt_tokens + cfg.max_tokens)
    gen_step = cfg.rollout_size * cfg.max_tokens
    reuse = cfg.prompts_per_step / num_problems
    data_use = (f"each used {reuse:.2g} times per step on average" if reuse >= 1
                else f"{cfg.prompts_per_step} per step, one pass over them every {1 / reuse:.3g} steps")
    micro = [f"<= {cfg.micro_batch_tokens} tokens" if cfg.micro_batch_tokens else "",
             f"<= {cfg.micro_batch_size} samples" if cfg.micro_batch_size else ""]
    lines = [
        f"plan: steps {start + 1}..{cfg.steps} of {method}",
        f"  rollout  {cfg.prompts_per_step} prompts x {cfg.n_samples} samples = {cfg.rollout_size} responses per step, "
        f"up to {cfg.max_tokens} tokens each, temperature {cfg.temperature:g}, top-p {cfg.top_p:g}; backend {backend}",
        f"  tokens   up to {_si(per_step)} per step (mean prompt {prompt_tokens:.0f} + {cfg.max_tokens} response tokens per "
        f"sample, {_si(gen_step)} generated); {num_problems} problems, {data_use}",
        f"  update   {cfg.updates_per_step} policy updates per step (mini-batch {cfg.mini_batch_size} samples; micro-batches "
        f"{' and '.join(x for x in micro if x) or 'whole mini-batches'})"
        + (f"; critic only for the first {cfg.critic_warmup} steps" if cfg.algo == "ppo" and cfg.critic_warmup else ""),
        f"  device   {device} ({dtype})",
    ]
    lines += _cov_selection_note(cfg)
    if device.type == "cpu" and gen_step > 200_000:
        lines.append(f"warning: up to {_si(gen_step)} generated tokens per step on a CPU take many hours per step; for a first "
                     "try: --prompts-per-step 4 --n-samples 4 --mini-batch-size 8 --max-tokens 256")
    return lines


def _cov_selection_note(cfg: TrainConfig) -> list[str]:
    """Clip-Cov / KL-Cov act on max(floor(ratio * tokens), 1) tokens of each loss call: veRL's
    ratio (2e-4) is sized for batches of 10^5-10^6 tokens, so on a small mini-batch the floor of
    one token is all the method does. Say so before the run rather than after."""
    ratio = {"clip_cov": cfg.clip_cov_ratio, "kl_cov": cfg.kl_cov_ratio}.get(cfg.loss_mode)
    most_tokens = cfg.mini_batch_size * cfg.max_tokens  # response tokens of one mini-batch, at most
    if ratio is None or ratio * most_tokens >= 1:
        return []
    flag = "--clip-cov-ratio" if cfg.loss_mode == "clip_cov" else "--kl-cov-ratio"
    return [f"note: {flag} {ratio:g} of at most {most_tokens:,} response tokens per mini-batch is under one token, so the "
            f"floor of one token per loss call applies: the method acts on a single token per update here (veRL's "
            f"default is sized for ~1e5-1e6 tokens per batch); {flag} R selects about R x the response tokens of each "
            "mini-batch (0.01: about 1% of them)"]


def _si(x: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= div:
            return f"{x / div:.3g}{unit}"
    return f"{x:.0f}"


def format_step_line(rec: dict, steps: int) -> str:
    """The one line printed after each step."""
    parts = [f"step {rec['step']}/{steps}", f"reward {rec['reward_mean']:+.3f}", f"acc {rec['accuracy']:.3f}",
             f"len {rec['response_length']:.1f}"]
    if rec.get("entropy") is not None:
        parts.append(f"H {rec['entropy']:.3f}")
    if rec.get("psi_ratio") is not None:
        parts.append(f"psi/|A| {rec['psi_ratio']:.3f}")
    if rec.get("zero_adv_group_frac"):
        parts.append(f"zero-adv groups {rec['zero_adv_group_frac']:.0%}")
    parts.append(f"{rec['tokens_per_s']:.0f} tok/s")
    return "  ".join(parts)
