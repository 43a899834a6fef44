"""Push a trainer's policy weights into a colocated vLLM engine after each update (`VLLMGenerator.sync_weights`).

vLLM runs its model in worker processes. A worker extension (`LLM(...,
worker_extension_cls=EXTENSION)`) adds a method there that loads a safetensors file of weights
in Hugging Face naming (vLLM's own `load_weights` maps them onto its fused q/k/v and gate/up
layouts). The trainer writes the file next to the run (same machine: colocated), calls the
method through `LLM.collective_rpc`, then drops the prefix cache, whose KV entries were
computed with the old weights. A file keeps the RPC message small and the path portable across
vLLM versions (CUDA IPC handles would avoid the copy on GPUs; not done).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable

import torch

EXTENSION = "entropykit.vllm_sync.WeightSyncExtension"


class WeightSyncExtension:
    """Mixed into vLLM's worker class; runs inside the worker process."""

    def entropykit_load_weights(self, path: str) -> int:
        from safetensors.torch import load_file

        weights = load_file(path)
        if hasattr(self, "reload_weights"):  # vLLM >= 0.2x: in-place reload incl. kernel repacking
            self.reload_weights(weights_iterator=iter(weights.items()))
        else:  # older vLLM: the model's own loader (fine where weights are not repacked)
            model = self.model_runner.model
            device = next(model.parameters()).device
            model.load_weights(weights=[(n, t.to(device)) for n, t in weights.items()])
        return len(weights)


def push_weights(llm, named: Iterable[tuple[str, torch.Tensor]], folder: str | os.PathLike | None = None) -> None:
    """Load `named` (HF parameter names -> tensors) into every worker of `llm`, then reset its cache."""
    from safetensors.torch import save_file

    # tied weights (lm_head = embed_tokens) are sent under both names: safetensors wants
    # distinct storage, hence the clone
    tensors = {n: t.detach().to("cpu").clone().contiguous() for n, t in named}
    fd, path = tempfile.mkstemp(suffix=".safetensors", dir=folder)
    os.close(fd)
    try:
        save_file(tensors, path)
        llm.collective_rpc("entropykit_load_weights", args=(path,))
    finally:
        Path(path).unlink(missing_ok=True)
    llm.reset_prefix_cache()
