"""Sampling: one interface, two backends.

- "hf": transformers with our own incremental decoding loop (KV cache). Each sample draws
  from its own `torch.Generator` seeded with that sample's seed, so a sample's text depends
  on its seed, not on which other requests shared its batch; any subset of samples can be
  regenerated. (Batched CPU matmuls can differ in the last float bit between batch shapes,
  which very rarely flips a near-tied draw.)
- "vllm": vLLM's offline engine (`entropykit.vllm_backend`), one request per sample with its
  own `SamplingParams.seed`, the prompt prefix shared through prefix caching.

`backend="auto"` picks vLLM when it is importable and a GPU is present, else transformers.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import torch

from entropykit.errors import UserError
from entropykit.models import LoadedModel, format_prompt, load_model, resolve_model_path


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling settings (paper evaluation: temperature 0.6, top-p 0.95; rollouts: temperature 1)."""

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 512
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n < 1:
            raise UserError(f"n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise UserError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise UserError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise UserError(f"max_tokens must be >= 1, got {self.max_tokens}")


@dataclass
class Completion:
    text: str
    token_ids: list[int]
    finish_reason: str  # "stop" (end of sequence) or "length" (hit max_tokens)
    seed: int


def derive_seed(*keys: object) -> int:
    """A stable 63-bit seed from any keys, e.g. derive_seed(seed, benchmark, problem_id, sample_idx).

    SHA-256 of the keys' reprs: independent of Python's hash randomization and of run order.
    """
    digest = hashlib.sha256("\x1f".join(repr(k) for k in keys).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class Generator(Protocol):
    def generate(
        self,
        prompts: Sequence[str],
        sampling: SamplingConfig,
        seeds: Sequence[Sequence[int]] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[list[Completion]]: ...


def default_seeds(num_prompts: int, sampling: SamplingConfig) -> list[list[int]]:
    return [[derive_seed(sampling.seed, i, j) for j in range(sampling.n)] for i in range(num_prompts)]


def sample_rows(probs: torch.Tensor, top_p: float, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """One token id per row of `probs` [B, V] with nucleus (top-p) truncation, vectorized.

    Nucleus: the smallest set of most likely tokens whose mass reaches top_p (at least one),
    renormalized. Draw: inverse CDF, token = first i with cdf_i > u * cdf_V, where u ~ U[0, 1)
    comes from the row's own generator, so a row's draw does not depend on the other rows.
    Tokens with probability 0 are never drawn. Returns int64 [B] on probs' device.
    """
    u = torch.cat([torch.rand(1, generator=g, device=probs.device) for g in generators])
    order = None
    if top_p < 1.0:
        probs, order = torch.sort(probs, dim=-1, descending=True)
        probs = torch.where(probs.cumsum(-1) - probs < top_p, probs, torch.zeros_like(probs))
    cdf = probs.cumsum(-1)
    idx = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(-1), right=True).clamp_(max=probs.shape[-1] - 1)
    return idx.squeeze(-1) if order is None else order.gather(-1, idx).squeeze(-1)


def sample_next(probs_row: torch.Tensor, top_p: float, generator: torch.Generator) -> int:
    """`sample_rows` for a single probability row, as a Python int."""
    return int(sample_rows(probs_row.unsqueeze(0), top_p, [generator])[0])


class HFGenerator:
    """Batched sampling with transformers; see module docstring."""

    def __init__(self, lm: LoadedModel, *, chat: bool | None = None, batch_size: int = 16):
        self.lm = lm
        self.chat = chat
        self.batch_size = batch_size
        tok = lm.tokenizer
        eos = {tok.eos_token_id}
        gen_eos = getattr(getattr(lm.model, "generation_config", None), "eos_token_id", None)
        eos |= set(gen_eos) if isinstance(gen_eos, (list, tuple)) else {gen_eos}
        self.eos_ids = {e for e in eos if e is not None}

    def generate(self, prompts, sampling, seeds=None, progress=None):
        seeds = [list(s) for s in (seeds or default_seeds(len(prompts), sampling))]
        if len(seeds) != len(prompts) or any(len(s) != sampling.n for s in seeds):
            raise ValueError("seeds must hold sampling.n seeds for each prompt")
        texts = [format_prompt(self.lm.tokenizer, p, self.chat) for p in prompts]
        jobs = [(i, j, texts[i], seeds[i][j]) for i in range(len(prompts)) for j in range(sampling.n)]
        out: list[list[Completion | None]] = [[None] * sampling.n for _ in prompts]
        for start in range(0, len(jobs), self.batch_size):
            chunk = jobs[start : start + self.batch_size]
            for (i, j, _, seed), comp in zip(chunk, self._generate_batch([c[2] for c in chunk], [c[3] for c in chunk], sampling)):
                out[i][j] = comp
            if progress is not None:
                progress(len(chunk))
        return out  # type: ignore[return-value]

    @torch.no_grad()
    def _generate_batch(self, texts: list[str], seeds: list[int], sp: SamplingConfig) -> list[Completion]:
        lm, tok = self.lm, self.lm.tokenizer
        with_special = not (bool(getattr(tok, "chat_template", None)) if self.chat is None else self.chat)
        encoded = [tok(t, add_special_tokens=with_special)["input_ids"] for t in texts]
        width = max(len(e) for e in encoded)
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        b = len(encoded)
        ids = torch.full((b, width), pad, dtype=torch.long)
        mask = torch.zeros((b, width), dtype=torch.long)
        for r, e in enumerate(encoded):  # left padding so every row's next token is at the end
            ids[r, width - len(e):] = torch.tensor(e)
            mask[r, width - len(e):] = 1
        ids, mask = ids.to(lm.device), mask.to(lm.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        # Sampling stays on the model's device (no per-step logits copy to the host on GPUs);
        # one generator per sample keeps each sample a function of its own seed.
        gens = [torch.Generator(device=lm.device).manual_seed(s) for s in seeds]
        generated: list[list[int]] = [[] for _ in range(b)]
        done = [False] * b
        finish = ["length"] * b
        out = lm.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1)
        for _ in range(sp.max_tokens):
            logits = out.logits[:, -1, :].float()
            if sp.temperature == 0:
                next_ids = logits.argmax(-1).tolist()  # one host sync per step
            else:
                probs = torch.softmax(logits / sp.temperature, dim=-1)
                next_ids = sample_rows(probs, sp.top_p, gens).tolist()  # one host sync per step
            for r in range(b):
                if done[r]:
                    continue
                tid = next_ids[r]
                if tid in self.eos_ids:
                    done[r], finish[r] = True, "stop"
                else:
                    generated[r].append(tid)
            if all(done):
                break
            step = torch.tensor([[t if not d else pad] for t, d in zip(next_ids, done)], device=lm.device)
            mask = torch.cat([mask, torch.ones((b, 1), dtype=mask.dtype, device=lm.device)], dim=1)
            positions = positions[:, -1:] + 1
            out = lm.model(input_ids=step, attention_mask=mask, position_ids=positions,
                           use_cache=True, **_cache_kwargs(lm.model, out))
        return [
            Completion(text=tok.decode(g, skip_special_tokens=True), token_ids=g, finish_reason=f, seed=s)
            for g, f, s in zip(generated, finish, seeds)
        ]


def _cache_kwargs(model, out) -> dict:
    """Pass the KV cache back under the name this transformers version uses (`cache` in 5.x)."""
    if getattr(out, "cache", None) is not None:
        return {"cache": out.cache}
    return {"past_key_values": out.past_key_values}


def vllm_available() -> bool:
    return importlib.util.find_spec("vllm") is not None and torch.cuda.is_available()


def make_generator(
    model: str | LoadedModel,
    *,
    backend: str = "auto",
    chat: bool | None = None,
    device: str | None = None,
    dtype: str | None = None,
    batch_size: int = 16,
    **engine_kwargs,
) -> Generator:
    """A generator for `model` (a spec or an already loaded model) on the chosen backend."""
    if backend not in ("auto", "hf", "vllm"):
        raise UserError(f"unknown backend '{backend}' (use auto, hf or vllm)")
    if backend == "auto":
        backend = "vllm" if vllm_available() and not isinstance(model, LoadedModel) else "hf"
    if backend == "vllm":
        if importlib.util.find_spec("vllm") is None:
            raise UserError("backend 'vllm' requested but vllm is not installed (pip install 'entropykit[vllm]')")
        from entropykit.vllm_backend import VLLMGenerator

        path = model.path if isinstance(model, LoadedModel) else resolve_model_path(model)
        if dtype is not None:
            engine_kwargs["dtype"] = dtype
        return VLLMGenerator(path, chat=chat, **engine_kwargs)
    lm = model if isinstance(model, LoadedModel) else load_model(model, device=device, dtype=dtype)
    return HFGenerator(lm, chat=chat, batch_size=batch_size)
