"""What a sample is, without torch: sampling settings, a completion, per-sample seeds, and what
each backend can do.

Split from `entropykit.generation` (which draws the samples) so that configs, CLIs and the
backends themselves use these names without importing torch or each other.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from entropykit.errors import UserError

# The paper's evaluation sampling (section 5: temperature 0.6, top-p 0.95), used by `passk` and by
# the trainer's periodic evaluation; rollouts sample at temperature 1.
PAPER_EVAL_TEMPERATURE = 0.6
PAPER_EVAL_TOP_P = 0.95
PAPER_MAX_TOKENS = 8192  # the paper's response limit (8K tokens), for rollouts and evaluation
BACKENDS = ("auto", "hf", "vllm")  # entropykit.generation.choose_backend decides "auto"


@dataclass(frozen=True)
class BackendInfo:
    """What callers may ask of a sampling backend, before or without building it (they never
    ask which backend it is)."""

    name: str
    # records per-token log-probs and full-vocabulary entropies while sampling (SamplingConfig.token_stats)
    token_stats: bool
    # a sample's float rounding depends on the batch it was drawn in: a run that must come out
    # the same when resumed or sharded feeds fixed chunks of `batch_size` samples
    fixed_batches: bool
    # generation keeps this machine's CPU cores busy (work beside it, e.g. answer checking, takes half)
    uses_host_cores: bool


BACKEND_INFO = {
    "hf": BackendInfo("hf", token_stats=True, fixed_batches=True, uses_host_cores=True),
    # vLLM gives the full distribution only as O(vocabulary) Python objects per token: no token_stats
    "vllm": BackendInfo("vllm", token_stats=False, fixed_batches=False, uses_host_cores=False),
}


def backend_info(backend: str) -> BackendInfo:
    """The capabilities of a chosen backend ("hf" or "vllm"; "auto" is decided by choose_backend)."""
    if backend not in BACKEND_INFO:
        raise UserError(f"unknown backend '{backend}' (use {', '.join(BACKEND_INFO)})")
    return BACKEND_INFO[backend]


def batch_unit(backend: str, batch_size: int) -> int:
    """Samples drawn together (and so sharded together) on `backend`: its fixed chunk, or 1."""
    return max(1, int(batch_size)) if backend_info(backend).fixed_batches else 1


def check_sampling(*, temperature: float, top_p: float, max_tokens: int, n: int = 1, flags: bool = False) -> None:
    """UserError for settings no backend can sample with. `flags=True` names the CLI options
    (``--top-p``) instead of the fields (``top_p``)."""

    def name(field: str) -> str:
        return "--" + field.replace("_", "-") if flags else field

    if n < 1:
        raise UserError(f"{name('n')} must be >= 1, got {n}")
    for field, value in (("temperature", temperature), ("top_p", top_p)):
        if not math.isfinite(value):
            raise UserError(f"{name(field)} must be a finite number, got {value}")
    if temperature < 0:
        raise UserError(f"{name('temperature')} must be >= 0, got {temperature}")
    if not 0 < top_p <= 1:
        raise UserError(f"{name('top_p')} must be in (0, 1], got {top_p}")
    if max_tokens < 1:
        raise UserError(f"{name('max_tokens')} must be >= 1, got {max_tokens}")


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling settings (paper evaluation: temperature 0.6, top-p 0.95; rollouts: temperature 1)."""

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 512
    seed: int = 0
    token_stats: bool = False  # also return per-token log-probs and entropies (temperature 1)

    def __post_init__(self) -> None:
        check_sampling(temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens, n=self.n)


@dataclass
class Completion:
    """One sampled response; see the module docstring for the `token_ids` rule."""

    text: str
    token_ids: list[int]
    finish_reason: str  # "stop" (sampled an end-of-sequence token) or "length" (hit max_tokens)
    seed: int
    # with SamplingConfig.token_stats, one value per token of token_ids (nats, temperature 1):
    logprobs: list[float] | None = None  # log p(token | prefix)
    entropies: list[float] | None = None  # H of the next-token distribution at that position


def derive_seed(*keys: object) -> int:
    """A stable 63-bit seed from any keys, e.g. derive_seed(seed, benchmark, problem_id, sample_idx).

    SHA-256 of the keys' reprs: independent of Python's hash randomization and of run order.
    """
    digest = hashlib.sha256("\x1f".join(repr(k) for k in keys).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def default_seeds(num_prompts: int, sampling: SamplingConfig) -> list[list[int]]:
    """`sampling.n` seeds per prompt, derived from `sampling.seed`."""
    return [[derive_seed(sampling.seed, i, j) for j in range(sampling.n)] for i in range(num_prompts)]


def check_seeds(prompts: Sequence[str], sampling: SamplingConfig, seeds) -> list[list[int]]:
    """`seeds` as lists (default: `sampling.n` derived seeds per prompt); one list per prompt."""
    seeds = [list(s) for s in (seeds if seeds is not None else default_seeds(len(prompts), sampling))]
    if len(seeds) != len(prompts):
        raise ValueError("seeds must hold one list of seeds per prompt")
    return seeds


def gather(stream: Iterator[tuple[int, int, Completion]], seeds: list[list[int]],
           progress: Callable[[int], None] | None = None) -> list[list[Completion]]:
    """`Generator.generate` from `Generator.stream`: the completions nested like `seeds`."""
    out: list[list[Completion | None]] = [[None] * len(s) for s in seeds]
    for i, j, comp in stream:
        out[i][j] = comp
        if progress is not None:
            progress(1)
    return out  # type: ignore[return-value]
