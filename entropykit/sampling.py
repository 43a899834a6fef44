"""What a sample is, without torch: sampling settings, a completion, per-sample seeds.

Split from `entropykit.generation` (which draws the samples) so that configs and CLIs can use
these names without importing torch.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from entropykit.errors import UserError

# The paper's evaluation sampling (section 5: temperature 0.6, top-p 0.95), used by `passk` and by
# the trainer's periodic evaluation; rollouts sample at temperature 1.
PAPER_EVAL_TEMPERATURE = 0.6
PAPER_EVAL_TOP_P = 0.95
BACKENDS = ("auto", "hf", "vllm")  # entropykit.generation.choose_backend decides "auto"


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
