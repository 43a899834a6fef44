"""`entropykit train --engine verl`: the same training, on veRL (Ray, FSDP, vLLM rollouts).

`launch_verl(cfg, launch)` turns a `TrainConfig` (the paper's defaults, the same options as the
native trainer) into a veRL run:

    RUN/verl/train.parquet   the problems, loaded as the native trainer loads them, in veRL's
                             row format: chat `prompt`, `data_source`, `reward_model.ground_truth`
    RUN/verl/val.parquet     the --eval-data problems (when --eval-every is set)
    RUN/verl/command.sh      the exact `python -m verl.trainer.main_ppo ...` command
    RUN/verl/launch.json     the TrainConfig and the launch options it came from
    RUN/verl/metrics.jsonl   veRL's per-step metrics (its `file` logger: {"step", "data": {...}})
    RUN/tb/                  the same as TensorBoard events
    RUN/checkpoints/         veRL checkpoints (running command.sh again resumes from the latest)

and runs the command (or prints it with --dry-run). The reward is `entropykit.train.verl_reward`
(the shared math-verify verifier), the entropy advantage `entropykit.train.verl_plugin`.

Translation of the native settings (paper, appendix B): veRL counts `ppo_mini_batch_size` in
prompts (it multiplies by rollout.n), so mini-batches of 256 samples with 8 samples per prompt
become 32 prompts, and 512 prompts x 8 samples / 256 = 16 policy updates per rollout, as in the
paper. Micro-batches are sized by tokens (`use_dynamic_bsz`); veRL normalizes the token-mean by
the whole mini-batch's token count, so micro-batching does not change the loss. veRL's
scheduler steps once per training step, so a warm-up given in optimizer updates is divided by
the updates per step.

Where veRL's own defaults differ from the native trainer (read in veRL 0.9.1's source):
- critic warm-up: veRL counts `global_steps` from 1 and updates the actor once
  `critic_warmup <= global_steps`, so N critic-only steps are `trainer.critic_warmup = N + 1`;
- mini-batches: `actor.shuffle` defaults to false (in-order slices); it is turned on (veRL's
  seeded permutation of each GPU's share, the same order every step: the native trainer draws
  a new one per step, which veRL cannot);
- truncated responses: graded with their finish reason by `verl_reward.FinishReasonRewardManager`;
- non-finite gradients: veRL skips the optimizer step itself (and prints a warning), as the
  native trainer does.

What would stop a run after the GPUs are allocated is refused here, before anything runs (also
with --dry-run): a mini-batch that the data-parallel GPUs do not divide, prompt + response
lengths beyond the model's context window, PPO without flash-attn (veRL's critic hard-codes
it; the actor falls back to sdpa with a warning), and an interpreter without veRL. Prompts
longer than `max_prompt_length` (chat template included, as veRL counts them) are left out of
the parquet, so veRL's epoch length is the one computed here.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from entropykit.errors import UserError
from entropykit.sampling import PAPER_EVAL_TEMPERATURE, PAPER_EVAL_TOP_P
from entropykit.train.config import TrainConfig

# Where veRL finds entropykit (strings: this module must import without verl installed).
PLUGIN_POLICY_LOSS_TARGET = "entropykit.train.verl_plugin.EntropyAdvPolicyLossConfig"
REWARD_MODULE = "pkg://entropykit.train.verl_reward"
REWARD_MANAGER = "FinishReasonRewardManager"
VERL_MAIN = "verl.trainer.main_ppo"


@dataclass
class VerlLaunch:
    """Where and how veRL runs (the TrainConfig says what is trained)."""

    nnodes: int = 1
    gpus_per_node: int = 8
    ray_address: str | None = None  # an existing Ray cluster ("auto", "HOST:6379"); None: start one here
    python: str | None = None  # interpreter that has verl installed; None: this one, else .venv-verl beside it
    rollout_tp: int = 1  # vLLM tensor parallel size per rollout engine (a 7B model fits one GPU)
    gpu_memory_utilization: float = 0.5  # vLLM's share of each GPU (veRL's default)
    max_prompt_length: int = 1024  # longer prompts (chat template included) are left out of the data
    dry_run: bool = False
    extra: list[str] = field(default_factory=list)  # raw Hydra overrides, applied last (they win)

    def validate(self) -> "VerlLaunch":
        if self.nnodes < 1 or self.gpus_per_node < 1:
            raise UserError("--nnodes and --gpus-per-node must be >= 1")
        if self.rollout_tp < 1 or self.gpus_per_node % self.rollout_tp:
            raise UserError(f"rollout tensor parallel size {self.rollout_tp} must divide --gpus-per-node {self.gpus_per_node}")
        if not 0 < self.gpu_memory_utilization < 1:
            raise UserError("gpu_memory_utilization must lie in (0, 1)")
        if self.max_prompt_length < 1:
            raise UserError("max_prompt_length must be >= 1")
        for arg in self.extra:
            if "=" not in arg:
                raise UserError(f"--verl-arg {arg!r}: expected KEY=VALUE (a Hydra override)")
        return self


# --------------------------------------------------------------------------------------------
# Hydra override values

_PLAIN = re.compile(r"^[A-Za-z0-9_./@+-]+$")


def hydra_value(v: Any) -> str:
    """A Python value as a Hydra override value (quoted where Hydra's grammar needs it)."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(hydra_value(x) for x in v) + "]"
    s = str(v)
    if _PLAIN.match(s) and s.lower() not in ("true", "false", "null") and not re.match(r"^[+-]?[\d.]", s):
        return s
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


# --------------------------------------------------------------------------------------------
# what cannot be translated


def check_translatable(cfg: TrainConfig) -> None:
    """UserError for native settings veRL's main_ppo cannot reproduce."""
    if cfg.filter_groups:
        raise UserError("--filter-groups is not available with --engine verl (veRL's main_ppo has no group filter)")
    if cfg.chat is False:
        raise UserError("--no-chat is not available with --engine verl: veRL always applies the tokenizer's chat template")
    if cfg.lora_rank:
        raise UserError("--lora-rank with --engine verl: set veRL's LoRA options with --verl-arg (actor_rollout_ref.model.lora_rank=...)")
    if not cfg.whiten_advantages and cfg.algo == "ppo":
        raise UserError("veRL always whitens GAE advantages; whiten_advantages=False cannot be translated")
    if cfg.loss_mode not in ("clip_higher", "clip_cov", "kl_cov"):
        raise UserError(f"--loss-mode {cfg.loss_mode} is not one veRL has (clip_higher, clip_cov, kl_cov)")
    if cfg.mini_batch_size % cfg.n_samples:
        raise UserError(
            f"--mini-batch-size {cfg.mini_batch_size} must be a multiple of --n-samples {cfg.n_samples}: "
            "veRL counts mini-batches in prompts"
        )


# --------------------------------------------------------------------------------------------
# the veRL config


@dataclass
class VerlPaths:
    run: Path
    train: Path
    val: Path | None
    model: str


def build_overrides(cfg: TrainConfig, launch: VerlLaunch, paths: VerlPaths, *, num_problems: int,
                    flash_attn: bool = True) -> list[str]:
    """The Hydra overrides of veRL's `ppo_trainer` config equivalent to `cfg` (native semantics).

    `num_problems`: rows of the train file (veRL stops after total_epochs; we want `cfg.steps`).
    `flash_attn`: whether flash-attn imports where veRL runs (else the actor uses sdpa).
    """
    steps_per_epoch = num_problems // cfg.prompts_per_step  # veRL drops the last partial batch
    if steps_per_epoch < 1:
        raise UserError(f"--prompts-per-step {cfg.prompts_per_step} is more than the {num_problems} problems of --data")
    P, R = launch.max_prompt_length, cfg.max_tokens
    token_budget = 2 * (P + R)  # per GPU and micro-batch; at least one whole sequence
    ppo = cfg.algo == "ppo"
    o: dict[str, Any] = {}
    o["algorithm.adv_estimator"] = "gae" if ppo else "grpo"
    o["algorithm.norm_adv_by_std_in_grpo"] = cfg.norm_adv_by_std
    o["algorithm.gamma"] = cfg.gamma
    o["algorithm.lam"] = cfg.lam
    o["algorithm.use_kl_in_reward"] = False
    o["data.train_files"] = str(paths.train)
    o["data.val_files"] = str(paths.val or paths.train)  # veRL loads a val set even when it never validates
    o["data.prompt_key"] = "prompt"
    o["data.max_prompt_length"] = P
    o["data.max_response_length"] = R
    o["data.train_batch_size"] = cfg.prompts_per_step
    o["data.filter_overlong_prompts"] = True
    o["data.truncation"] = "error"
    o["data.seed"] = cfg.seed
    if paths.val is not None:
        o["data.val_max_samples"] = cfg.eval_max_problems
    o["actor_rollout_ref.model.path"] = paths.model
    o["actor_rollout_ref.model.use_remove_padding"] = True
    if not flash_attn:  # veRL's default flash_attention_2 would fail to load; transformers' sdpa handles packed rows
        o["+actor_rollout_ref.model.override_config.attn_implementation"] = "sdpa"
    o["actor_rollout_ref.model.enable_gradient_checkpointing"] = True
    actor = "actor_rollout_ref.actor."
    o[actor + "optim.lr"] = cfg.lr
    o[actor + "optim.weight_decay"] = cfg.weight_decay
    o[actor + "optim.betas"] = list(cfg.betas)
    o[actor + "optim.clip_grad"] = cfg.max_grad_norm
    o[actor + "optim.lr_warmup_steps"] = math.ceil(cfg.warmup_steps / cfg.updates_per_step) if cfg.warmup_steps else -1
    o[actor + "ppo_mini_batch_size"] = cfg.mini_batch_size // cfg.n_samples
    o[actor + "ppo_epochs"] = cfg.epochs
    o[actor + "use_dynamic_bsz"] = True
    o[actor + "ppo_max_token_len_per_gpu"] = token_budget
    o[actor + "clip_ratio_low"] = cfg.eps_low
    o[actor + "clip_ratio_high"] = cfg.eps_high
    o[actor + "clip_ratio_c"] = cfg.clip_ratio_c  # dual clip, the same as the native loss
    o[actor + "loss_agg_mode"] = "token-mean"
    o[actor + "entropy_coeff"] = cfg.entropy_coef
    o[actor + "use_kl_loss"] = cfg.kl_coef > 0
    o[actor + "kl_loss_coef"] = cfg.kl_coef
    o[actor + "kl_loss_type"] = "low_var_kl"  # k3, clamped to [-10, 10]
    o[actor + "data_loader_seed"] = cfg.seed
    o[actor + "shuffle"] = True  # veRL's default is in-order mini-batches; the native trainer shuffles
    # the entropy of every update forward: needed by the entropy advantage, logged as actor/entropy_loss
    o[actor + "calculate_entropy"] = True
    # ... over chunks of tokens, recomputed in the backward: unchunked, the entropy of a 16K-token
    # micro-batch over a 152K vocabulary holds several float32 [tokens, vocab] tensors
    o[actor + "entropy_from_logits_with_chunking"] = True
    o[actor + "entropy_checkpointing"] = True
    if cfg.loss_mode != "clip_higher":  # veRL's own Clip-Cov / KL-Cov (its "vanilla" is clip_higher)
        o[actor + "policy_loss.loss_mode"] = cfg.loss_mode
        if cfg.loss_mode == "clip_cov":
            o[actor + "policy_loss.clip_cov_ratio"] = cfg.clip_cov_ratio
            o[actor + "policy_loss.clip_cov_lb"] = cfg.clip_cov_lb
            o[actor + "policy_loss.clip_cov_ub"] = cfg.clip_cov_ub
        else:
            o[actor + "policy_loss.kl_cov_ratio"] = cfg.kl_cov_ratio
            o[actor + "policy_loss.ppo_kl_coef"] = cfg.kl_cov_coef
    if cfg.entropy_adv or cfg.top_entropy_quantile < 1:  # entropykit's plugin: the entropy advantage and/or the mask
        o[actor + "policy_loss._target_"] = PLUGIN_POLICY_LOSS_TARGET
    if cfg.entropy_adv:
        o["+" + actor + "policy_loss.entropy_adv_alpha"] = cfg.alpha_value
        o["+" + actor + "policy_loss.entropy_adv_kappa"] = cfg.kappa
    if cfg.top_entropy_quantile < 1:
        o["+" + actor + "policy_loss.top_entropy_quantile"] = cfg.top_entropy_quantile
    rollout = "actor_rollout_ref.rollout."
    o[rollout + "name"] = "vllm"
    o[rollout + "n"] = cfg.n_samples
    o[rollout + "temperature"] = cfg.temperature
    o[rollout + "top_p"] = cfg.top_p
    o[rollout + "tensor_model_parallel_size"] = launch.rollout_tp
    o[rollout + "gpu_memory_utilization"] = launch.gpu_memory_utilization
    o[rollout + "seed"] = cfg.seed
    # held-out evaluation as the native trainer's: the paper's eval sampling, eval_n samples
    o[rollout + "val_kwargs.do_sample"] = True
    o[rollout + "val_kwargs.temperature"] = PAPER_EVAL_TEMPERATURE
    o[rollout + "val_kwargs.top_p"] = PAPER_EVAL_TOP_P
    o[rollout + "val_kwargs.n"] = cfg.eval_n
    if ppo:
        o["critic.model.path"] = paths.model
        o["critic.model.use_remove_padding"] = True
        o["critic.model.enable_gradient_checkpointing"] = True
        o["critic.optim.lr"] = cfg.critic_lr
        o["critic.optim.weight_decay"] = cfg.weight_decay
        o["critic.optim.betas"] = list(cfg.betas)
        o["critic.optim.clip_grad"] = cfg.max_grad_norm
        o["critic.ppo_max_token_len_per_gpu"] = 2 * token_budget
        # veRL always clips the value loss; an unreachable range is the plain squared error
        o["critic.cliprange_value"] = cfg.value_clip if cfg.value_clip is not None else 1e9
        o["critic.shuffle"] = True
    # veRL updates the actor once critic_warmup <= global_steps, counting from 1: N critic-only steps = N + 1
    o["trainer.critic_warmup"] = cfg.critic_warmup + 1 if ppo and cfg.critic_warmup > 0 else 0
    o["reward.custom_reward_function.path"] = REWARD_MODULE
    o["reward.custom_reward_function.name"] = "compute_score"
    o["+reward.custom_reward_function.reward_kwargs.reward"] = cfg.reward
    # veRL's naive manager plus the finish reason, so a truncated reply is graded as natively
    o["reward.reward_manager.source"] = "importlib"
    o["reward.reward_manager.module.path"] = REWARD_MODULE
    o["reward.reward_manager.name"] = REWARD_MANAGER
    o["trainer.total_training_steps"] = cfg.steps
    o["trainer.total_epochs"] = math.ceil(cfg.steps / steps_per_epoch)
    o["trainer.nnodes"] = launch.nnodes
    o["trainer.n_gpus_per_node"] = launch.gpus_per_node
    o["trainer.save_freq"] = cfg.save_every or -1
    o["trainer.max_actor_ckpt_to_keep"] = cfg.keep_checkpoints
    o["trainer.max_critic_ckpt_to_keep"] = cfg.keep_checkpoints
    o["trainer.test_freq"] = cfg.eval_every or -1
    o["trainer.val_before_train"] = bool(cfg.eval_every)
    o["trainer.resume_mode"] = "auto"
    o["trainer.default_local_dir"] = str(paths.run / "checkpoints")
    o["trainer.project_name"] = "entropykit"
    o["trainer.experiment_name"] = paths.run.name or "train"
    o["trainer.logger"] = ["console", "file"] + (["tensorboard"] if cfg.tensorboard else [])
    env = "+ray_kwargs.ray_init.runtime_env.env_vars."
    o[env + "VERL_FILE_LOGGER_PATH"] = str(paths.run / "verl" / "metrics.jsonl")
    o[env + "TENSORBOARD_DIR"] = str(paths.run / "tb")
    if launch.ray_address:
        o["+ray_kwargs.ray_init.address"] = launch.ray_address
    o["hydra.run.dir"] = str(paths.run / "verl" / "hydra")

    overrides = [f"{k}={hydra_value(v)}" for k, v in o.items()]
    user = {_key(a) for a in launch.extra}
    return [a for a in overrides if _key(a) not in user] + list(launch.extra)


def verl_command(python: str, overrides: list[str]) -> list[str]:
    return [python, "-m", VERL_MAIN, *overrides]


def command_script(cmd: list[str], metrics: Path) -> str:
    """RUN/verl/command.sh: runs (and, run again, resumes) the veRL job.

    veRL's file logger truncates its file when it starts, so the metrics of an earlier attempt
    are moved aside first (metrics.TIMESTAMP.jsonl) rather than lost.
    """
    m = shlex.quote(str(metrics))
    return (
        "#!/usr/bin/env bash\n"
        "# written by `entropykit train --engine verl`; run it again to resume from the latest checkpoint\n"
        "set -euo pipefail\n"
        f"if [[ -s {m} ]]; then mv {m} {shlex.quote(str(metrics.with_suffix('')))}.$(date +%Y%m%d-%H%M%S).jsonl; fi\n"
        "exec " + " \\\n    ".join(shlex.quote(c) for c in cmd) + "\n"
    )


# --------------------------------------------------------------------------------------------
# data


def verl_rows(problems: list[dict], cfg: TrainConfig, data_source: str, split: str) -> list[dict]:
    """veRL's RLHF row format: chat `prompt`, `data_source`, `reward_model.ground_truth`."""
    rows = []
    for i, p in enumerate(problems):
        prompt = cfg.render_prompt(p["problem"])
        rows.append({
            "data_source": data_source,
            "prompt": [{"role": "user", "content": prompt}],
            "ability": "math",
            "reward_model": {"style": "rule", "ground_truth": str(p["answer"])},
            "extra_info": {"split": split, "index": i, "problem_id": str(p["problem_id"]), "prompt": prompt},
        })
    return rows


def write_parquet(rows: list[dict], path: Path) -> None:
    """Rows as a parquet file, atomically (a killed run never leaves half a file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from entropykit.io import atomic_path

    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_pylist(rows), tmp)


def _data_source(spec: str) -> str:
    p = Path(spec)
    return f"entropykit/{p.stem if p.suffix else p.name or spec}"


# --------------------------------------------------------------------------------------------
# launch


def preflight(python: str) -> None:
    """Check, in the interpreter that will run veRL, that the plugin installs (supported veRL)."""
    code = "import verl; from entropykit.train import verl_plugin as p; p.install(strict=True)"
    try:
        r = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise UserError(f"cannot run {python}: {e}") from None
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise UserError(
            f"{python}: veRL with entropykit's plugin is not usable there ({tail[0]}); "
            "install verl==0.9.1 and entropykit in that environment (or pass --verl-python)"
        )


# what the veRL interpreter has: found without importing veRL (a second, not a minute)
_PROBE = (
    "import importlib.util as u, importlib.metadata as m, json\n"
    "v = None\n"
    "try:\n    v = m.version('verl') if u.find_spec('verl') else None\nexcept Exception:\n    pass\n"
    "print(json.dumps({'verl': v, 'flash_attn': u.find_spec('flash_attn') is not None}))"
)


@dataclass
class VerlPython:
    """An interpreter that has veRL, and whether flash-attn imports there."""

    path: str
    verl_version: str
    flash_attn: bool


def probe_python(python: str) -> VerlPython | None:
    """What `python` has (None when it cannot run or has no veRL)."""
    import json

    try:
        r = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=60)
        info = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 and r.stdout.strip() else {}
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    return VerlPython(python, info["verl"], bool(info.get("flash_attn"))) if info.get("verl") else None


def find_verl_python(launch: VerlLaunch, log: Callable[[str], None] = print) -> VerlPython:
    """The interpreter that will run veRL: --verl-python, else this one, else `.venv-verl/` beside
    this environment (scripts/setup_verl.sh builds it there). UserError when none has veRL: a
    command.sh that names an interpreter without veRL would fail only when run."""
    if launch.python:
        found = probe_python(launch.python)
        if found is None:
            raise UserError(f"--verl-python {launch.python}: cannot run it, or verl is not installed there "
                            "(pip install 'verl[vllm]==0.9.1' and entropykit in that environment)")
        return found
    sibling = Path(sys.prefix).parent / ".venv-verl" / "bin" / "python"
    for candidate in dict.fromkeys([sys.executable, str(sibling)]):
        if Path(candidate).exists() and (found := probe_python(candidate)) is not None:
            if candidate != sys.executable:
                log(f"veRL is not installed in this environment; using {candidate} (verl {found.verl_version})")
            return found
    raise UserError(
        "verl is not installed in this environment and no .venv-verl beside it has it; install it "
        "(pip install 'verl[vllm]==0.9.1' entropykit) or pass --verl-python /path/to/python"
    )


def check_gpu_layout(cfg: TrainConfig, launch: VerlLaunch) -> None:
    """UserError unless the data-parallel GPUs divide the mini-batch and the rollout.

    veRL asserts `mini_batch_size % dp_size == 0` in the worker at the first update (after the
    model load and a whole rollout) and `train_batch_size * n % n_gpus == 0` in its config check.
    """
    dp = launch.nnodes * launch.gpus_per_node
    sizes = {"mini-batch": cfg.mini_batch_size, "rollout": cfg.rollout_size}
    bad = {k: v for k, v in sizes.items() if v % dp}
    if not bad:
        return
    nodes = [k for k in range(1, 65) if all(v % (k * launch.gpus_per_node) == 0 for v in sizes.values())]
    what = " and ".join(f"the {k} of {v} samples" for k, v in bad.items())
    hint = (f"--nnodes {', '.join(map(str, nodes[:6]))} ({launch.gpus_per_node} GPUs each) divide it" if nodes
            else f"no node count of {launch.gpus_per_node} GPUs divides it")
    raise UserError(
        f"{launch.nnodes} node(s) x {launch.gpus_per_node} GPUs = {dp} data-parallel GPUs do not divide {what} "
        f"(veRL asserts this at its first update); {hint}, or choose --mini-batch-size and --prompts-per-step x "
        f"--n-samples that are multiples of {dp}"
    )


def check_attention(cfg: TrainConfig, flash_attn: bool, log: Callable[[str], None]) -> None:
    """PPO needs flash-attn where veRL runs (its critic hard-codes flash_attention_2); the actor
    falls back to sdpa with a warning."""
    if flash_attn:
        return
    if cfg.algo == "ppo":
        raise UserError(
            "PPO on veRL needs flash-attn in veRL's environment: veRL 0.9.1 loads the critic with "
            "attn_implementation='flash_attention_2' and no setting changes it (verl/utils/model.py); "
            "install it there (pip install flash-attn --no-build-isolation) or use --algo grpo"
        )
    log("warning: flash-attn is not installed where veRL runs; the actor uses PyTorch's sdpa attention "
        "(correct, but slower, and the packed micro-batches build an attention mask quadratic in their tokens; "
        "pip install flash-attn --no-build-isolation for the paper-sized run)")


def load_model_facts(model: str):
    """(tokenizer, context window or None) of the model veRL will train, read before any GPU work."""
    from transformers import AutoConfig, AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(model)
        config = AutoConfig.from_pretrained(model)
    except Exception as e:  # hub errors, missing files, unknown architectures
        raise UserError(f"cannot read the tokenizer and config of {model} ({type(e).__name__}: {str(e)[:200]}); "
                        "veRL would fail on it too") from None
    if not getattr(tok, "chat_template", None):
        raise UserError(f"{model}: its tokenizer has no chat template, and veRL always applies one to the prompts "
                        "(use an instruct/chat model, or add a chat template to its tokenizer_config.json)")
    from entropykit.models import context_window

    return tok, context_window(config)


def check_context(cfg: TrainConfig, launch: VerlLaunch, window: int | None, name: str) -> None:
    """UserError when prompt + response lengths exceed the model's context window (vLLM would
    silently shorten the responses to fit; past the window positions are undefined)."""
    if window is None or launch.max_prompt_length + cfg.max_tokens <= window:
        return
    room = window - launch.max_prompt_length
    raise UserError(
        f"--max-tokens {cfg.max_tokens} plus prompts of up to {launch.max_prompt_length} tokens exceed the "
        f"{window}-token context window of {name}" + (f"; use --max-tokens {room} or less" if room > 0 else "")
        + " (or a smaller --max-prompt-length)"
    )


def prompt_token_lengths(tokenizer, prompts: list[str]) -> list[int]:
    """Prompt lengths as veRL's RLHFDataset counts them: chat template and generation prompt included."""
    out = []
    for prompt in prompts:
        ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):  # BatchEncoding in some transformers versions
            ids = ids["input_ids"]
        out.append(len(ids))
    return out


def fitting_problems(problems: list[dict], cfg: TrainConfig, tokenizer, max_prompt_length: int,
                     what: str, log: Callable[[str], None]) -> list[dict]:
    """The problems whose prompt fits `max_prompt_length` tokens (veRL would drop the others when
    it loads the data, after the steps per epoch had been computed from the full count)."""
    lengths = prompt_token_lengths(tokenizer, [cfg.render_prompt(p["problem"]) for p in problems])
    kept = [p for p, n in zip(problems, lengths) if n <= max_prompt_length]
    if len(kept) < len(problems):
        log(f"left out {len(problems) - len(kept)} of {len(problems)} {what} problems whose prompt is longer than "
            f"{max_prompt_length} tokens (chat template included)")
    if not kept:
        raise UserError(f"every {what} prompt is longer than {max_prompt_length} tokens")
    return kept


def launch_verl(
    cfg: TrainConfig,
    launch: VerlLaunch,
    *,
    log: Callable[[str], None] = print,
    show: Callable[[str], None] = print,
) -> list[str]:
    """Write the veRL inputs of `cfg` into its run folder and run veRL (or `show` the command).

    Returns the command. Everything a user can get wrong is checked before anything runs.
    `log` gets progress notes, `show` the shell command of a dry run (stdout by default, so
    that it can be piped).
    """
    from entropykit.benchmarks import load_problems
    from entropykit.io import atomic_write_json, atomic_write_text, ensure_writable_dir
    from entropykit.models import resolve_model_path

    cfg.validate()
    launch.validate()
    check_translatable(cfg)
    check_gpu_layout(cfg, launch)
    problems = load_problems(cfg.data, cfg.problem_key, cfg.answer_key)
    val = load_problems(cfg.eval_data, cfg.problem_key, cfg.answer_key) if cfg.eval_every else None
    python = find_verl_python(launch, log)
    check_attention(cfg, python.flash_attn, log)
    model = resolve_model_path(cfg.model)
    model = str(Path(model).resolve()) if Path(model).exists() else model
    tokenizer, window = load_model_facts(model)
    check_context(cfg, launch, window, cfg.model)
    problems = fitting_problems(problems, cfg, tokenizer, launch.max_prompt_length, "training", log)
    if val:
        val = fitting_problems(val, cfg, tokenizer, launch.max_prompt_length, "evaluation", log)
    run = ensure_writable_dir(Path(cfg.out).resolve())
    folder = ensure_writable_dir(run / "verl")

    paths = VerlPaths(run=run, train=folder / "train.parquet", val=folder / "val.parquet" if val else None, model=model)
    overrides = build_overrides(cfg, launch, paths, num_problems=len(problems), flash_attn=python.flash_attn)
    cmd = verl_command(python.path, overrides)

    write_parquet(verl_rows(problems, cfg, _data_source(cfg.data), "train"), paths.train)
    if val:
        write_parquet(verl_rows(val, cfg, _data_source(cfg.eval_data), "val"), paths.val)
    atomic_write_json(folder / "launch.json", {"train_config": cfg.to_dict(), "launch": dataclasses.asdict(launch),
                                               "verl": dataclasses.asdict(python), "command": cmd})
    atomic_write_text(folder / "command.sh", command_script(cmd, folder / "metrics.jsonl"))
    os.chmod(folder / "command.sh", 0o755)
    if launch.dry_run:
        log(f"veRL inputs written to {folder} (command.sh runs the command below)")
        show(shlex.join(cmd))
        return cmd
    preflight(python.path)
    log(f"running veRL ({launch.nnodes} node(s) x {launch.gpus_per_node} GPU(s)"
        + (f", Ray cluster {launch.ray_address}" if launch.ray_address else "") + f"); command in {folder / 'command.sh'}")
    rc = subprocess.call(["bash", str(folder / "command.sh")])
    if rc != 0:
        raise UserError(f"veRL exited with status {rc} (command: {folder / 'command.sh'})")
    return cmd
