"""Training configuration: one dataclass with the paper's defaults, validated before any model load.

Paper setup (section 4, appendix B): AdamW, policy lr 1e-6 (critic 2e-6), 512 prompts per
rollout batch, 8 samples per prompt, mini-batches of 256 samples (=> 16 policy updates per
rollout), max response 8K tokens, rollout temperature 1.0, reward +1/-1, clip-higher
(0.2 / 0.28), token-level loss, entropy advantage with kappa = 2 and alpha = 0.4 (GRPO) or
0.1 (PPO); PPO: GAE gamma = lambda = 1 and 10 critic-only warm-up steps.

Not every default is the paper's: `DEFAULT_SOURCE` says where each one comes from ("paper",
"veRL" where the paper builds on veRL's defaults without stating them, or "machine": chosen so
that the run fits the machine it runs on, e.g. micro-batches bounded by a token budget and
vLLM rollouts when a GPU and vLLM are present). `entropykit train --help` shows it per option.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from entropykit.embedded import DEFAULT_MODEL
from entropykit.errors import UserError
from entropykit.prompts import PROMPT_TEMPLATES, check_template, render_prompt, template_text  # noqa: F401 (PROMPT_TEMPLATES: public name here)
from entropykit.sampling import BACKENDS, PAPER_MAX_TOKENS

PAPER_ALPHA = {"grpo": 0.4, "ppo": 0.1}

# the advantage estimator (a name in `entropykit.train.algos.ADV_ESTIMATORS`) each algorithm runs
ADV_ESTIMATOR_OF_ALGO = {"grpo": "grpo", "ppo": "gae"}

_PAPER = ("algo", "prompt_template", "reward", "prompts_per_step", "n_samples", "max_tokens", "temperature",
          "mini_batch_size", "epochs", "lr", "critic_lr", "eps_low", "eps_high", "entropy_adv", "alpha", "kappa",
          "entropy_coef", "kl_coef", "gamma", "lam", "critic_warmup", "norm_adv_by_std")
_VERL = ("top_p", "clip_ratio_c", "weight_decay", "betas", "max_grad_norm", "whiten_advantages", "value_clip", "loss_mode",
         "clip_cov_ratio", "clip_cov_lb", "clip_cov_ub", "kl_cov_ratio", "kl_cov_coef")
_MACHINE = ("rollout_backend", "micro_batch_size", "micro_batch_tokens", "device", "bf16", "chunk_size",
            "grad_checkpointing", "vllm_gpu_memory", "vllm_engine_kwargs", "gen_batch_size")
DEFAULT_SOURCE = {**{k: "paper" for k in _PAPER}, **{k: "veRL" for k in _VERL}, **{k: "machine" for k in _MACHINE},
                  "top_entropy_quantile": "TRL (1 = off; Wang et al. use 0.2)"}

# policy losses whose tokens are chosen by covariance: a high-entropy mask on top of them would
# choose by two rules at once (see validate)
COVARIANCE_LOSSES = ("clip_cov", "kl_cov")


@dataclass
class TrainConfig:
    DEFAULT_SOURCE: ClassVar[dict[str, str]] = DEFAULT_SOURCE  # where each default comes from (--help shows it)

    # what to train, on what
    model: str = DEFAULT_MODEL
    algo: str = "grpo"  # grpo | ppo
    data: str = ""  # JSONL path (any file with problem/answer columns) or a benchmark name
    problem_key: str = "problem"
    answer_key: str = "answer"
    prompt_template: str = "math"  # a name in PROMPT_TEMPLATES or a string containing {problem}
    chat: bool | None = None  # chat template: None = when the tokenizer has one
    reward: str = "math"  # "math" (math-verify, +1/-1) or "module:function"
    out: str = "runs/train"

    # rollout
    steps: int = 100
    prompts_per_step: int = 512
    n_samples: int = 8
    max_tokens: int = PAPER_MAX_TOKENS
    temperature: float = 1.0
    top_p: float = 1.0
    rollout_backend: str = "auto"  # hf | vllm (colocated, weights pushed after each update) | auto: vllm on a GPU with vllm installed
    vllm_gpu_memory: float = 0.3  # share of GPU memory the colocated vLLM engine may take
    vllm_engine_kwargs: dict[str, Any] = field(default_factory=dict)  # further vllm.LLM arguments (max_model_len, ...)
    gen_batch_size: int = 64  # transformers rollouts: sequences sampled together
    filter_groups: bool = False  # drop groups whose rewards are all equal (they carry no GRPO signal)

    # updates
    mini_batch_size: int = 256  # samples per policy update
    # forward/backward in micro-batches (gradient accumulation; the loss is the same, every micro-batch
    # is normalized by the token count of its whole mini-batch): each holds at most micro_batch_size
    # samples (0: no limit) and at most micro_batch_tokens padded prompt + response tokens (0: no
    # limit; veRL's ppo_max_token_len_per_gpu default), always at least one sample
    micro_batch_size: int = 0
    micro_batch_tokens: int = 16384
    epochs: int = 1  # passes over the rollout; updates per rollout = epochs * rollout / mini_batch
    lr: float = 1e-6
    critic_lr: float = 2e-6
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 0  # linear lr warm-up (in optimizer updates)
    max_grad_norm: float = 1.0
    eps_low: float = 0.2
    eps_high: float = 0.28
    clip_ratio_c: float = 3.0  # dual clip: the loss of a token with A < 0 is at most c * |A| (veRL)
    loss_mode: str = "clip_higher"  # a name in entropykit.train.algos.POLICY_LOSSES: clip_higher, clip_cov, kl_cov
    # Clip-Cov / KL-Cov (Cui et al. 2025), veRL's defaults
    clip_cov_ratio: float = 2e-4  # share of tokens whose gradient Clip-Cov cuts
    clip_cov_lb: float = 1.0  # ... chosen among tokens with clip_cov_lb < cov_t < clip_cov_ub
    clip_cov_ub: float = 5.0
    kl_cov_ratio: float = 2e-4  # share of tokens (largest cov_t) KL-Cov penalizes
    kl_cov_coef: float = 0.1  # KL-Cov's |log-ratio| coefficient (veRL's policy_loss.ppo_kl_coef)
    # the 80/20 rule (Wang et al. 2025): policy gradient only through the top share of tokens by entropy
    top_entropy_quantile: float = 1.0  # 1 = every token; 0.2 = the paper's

    # the paper's method and its contrast baseline
    entropy_adv: bool = True
    alpha: float | None = None  # None: the paper's value for the algorithm (0.4 GRPO, 0.1 PPO)
    kappa: float = 2.0
    entropy_coef: float = 0.0  # entropy regularization baseline: loss - coef * mean(H)
    kl_coef: float = 0.0  # KL to the initial (reference) policy; off by default

    # GRPO / PPO specifics
    norm_adv_by_std: bool = True
    gamma: float = 1.0
    lam: float = 1.0
    whiten_advantages: bool = True  # PPO: whiten GAE advantages over the batch (veRL default)
    critic_warmup: int = 10  # PPO: steps that train only the critic before policy updates start
    value_clip: float | None = 0.5

    # system
    seed: int = 0
    device: str | None = None  # None: cuda if available else cpu
    bf16: bool | None = None  # None: bf16 autocast on CUDA, float32 on CPU
    chunk_size: int = 1024  # LM-head chunk for logprobs/entropy
    grad_checkpointing: bool = False
    lora_rank: int = 0  # > 0: train LoRA adapters through peft instead of all weights
    lora_alpha: int = 32
    save_every: int = 10
    keep_checkpoints: int = 2
    eval_every: int = 0  # 0: no periodic evaluation
    eval_data: str = ""
    eval_n: int = 4  # samples per held-out problem (pass@k for k <= eval_n)
    eval_max_problems: int = 64
    tensorboard: bool = True  # also log to RUN/tb when tensorboard is installed

    extra: dict[str, Any] = field(default_factory=dict)  # free-form, saved with the run

    # ---------------------------------------------------------------------------------------
    @property
    def alpha_value(self) -> float:
        return PAPER_ALPHA.get(self.algo, 0.4) if self.alpha is None else float(self.alpha)

    @property
    def rollout_size(self) -> int:
        return self.prompts_per_step * self.n_samples

    @property
    def adv_estimator(self) -> str:
        return ADV_ESTIMATOR_OF_ALGO[self.algo]

    def adv_estimator_kwargs(self) -> dict[str, Any]:
        """The settings of this config's advantage estimator (keyword arguments of its function)."""
        if self.adv_estimator == "gae":
            return {"gamma": self.gamma, "lam": self.lam, "whiten": self.whiten_advantages}
        return {"norm_by_std": self.norm_adv_by_std}

    def policy_loss_kwargs(self) -> dict[str, Any]:
        """The settings of the policy loss `loss_mode` (keyword arguments of its function in `algos`)."""
        kw: dict[str, Any] = {"eps_low": self.eps_low, "eps_high": self.eps_high, "clip_ratio_c": self.clip_ratio_c}
        if self.loss_mode == "clip_cov":
            kw.update(clip_cov_ratio=self.clip_cov_ratio, clip_cov_lb=self.clip_cov_lb, clip_cov_ub=self.clip_cov_ub)
        elif self.loss_mode == "kl_cov":
            kw.update(kl_cov_ratio=self.kl_cov_ratio, kl_cov_coef=self.kl_cov_coef)
        return kw

    @property
    def updates_per_step(self) -> int:
        return self.epochs * (self.rollout_size // self.mini_batch_size)

    def template(self) -> str:
        return template_text(self.prompt_template)

    def render_prompt(self, problem: str) -> str:
        return render_prompt(self.prompt_template, problem)

    def validate(self) -> "TrainConfig":
        """Raise UserError for any setting that cannot work; never touches a model."""

        def bad(msg: str):
            raise UserError(msg)

        if self.algo not in ("grpo", "ppo"):
            bad(f"--algo must be grpo or ppo, got {self.algo!r}")
        for f in dataclasses.fields(self):  # every number must be a real one: nan/inf pass every comparison test
            value = getattr(self, f.name)
            values = value if f.name == "betas" else (value,)
            if any(isinstance(v, float) and not math.isfinite(v) for v in values):
                bad(f"--{f.name.replace('_', '-')} must be a finite number, got {value}")
        if self.device is not None and not re.fullmatch(r"cpu|cuda(:\d+)?|mps|xpu(:\d+)?", self.device):
            bad(f"--device must be cpu, cuda, cuda:N, mps or xpu (got {self.device!r})")
        if self.eval_n < 1 or self.eval_max_problems < 1:
            bad(f"--eval-n must be >= 1 (got {self.eval_n})")
        if self.alpha is not None and not self.alpha > 0:
            bad(f"--alpha must be > 0 (got {self.alpha}); use --no-entropy-adv to turn the entropy advantage off")
        if not self.kappa > 1:
            bad(f"--kappa must be > 1 (got {self.kappa}): with kappa <= 1 the entropy term could reverse the sign of the advantage")
        for name in ("steps", "prompts_per_step", "n_samples", "max_tokens", "mini_batch_size", "epochs", "gen_batch_size"):
            if getattr(self, name) < 1:
                bad(f"--{name.replace('_', '-')} must be >= 1 (got {getattr(self, name)})")
        if self.micro_batch_size < 0 or self.micro_batch_tokens < 0:
            bad("--micro-batch-size and --micro-batch-tokens must be >= 0 (0: no limit)")
        if self.algo == "grpo" and self.n_samples < 2:
            bad("GRPO needs --n-samples >= 2 (the group mean is the baseline)")
        if self.rollout_size % self.mini_batch_size:
            bad(
                f"--mini-batch-size {self.mini_batch_size} does not divide the rollout of "
                f"{self.prompts_per_step} prompts x {self.n_samples} samples = {self.rollout_size}"
            )
        if not (0 < self.eps_low < 1) or not self.eps_high > 0:
            bad(f"clip range needs 0 < eps_low < 1 and eps_high > 0 (got {self.eps_low}, {self.eps_high})")
        if not self.clip_ratio_c > 1:
            bad(f"--clip-ratio-c must be > 1 (got {self.clip_ratio_c}): the dual clip bounds the loss at c * |A| for ratios above c")
        if not self.lr > 0 or not self.critic_lr > 0:
            bad("learning rates must be > 0")
        if not self.temperature > 0 or not (0 < self.top_p <= 1):
            bad("need temperature > 0 and 0 < top_p <= 1")
        if self.entropy_coef < 0 or self.kl_coef < 0:
            bad("--entropy-coef and --kl-coef must be >= 0")
        if not (0 <= self.gamma <= 1) or not (0 <= self.lam <= 1):
            bad("--gamma and --lam must lie in [0, 1]")
        if self.critic_warmup < 0 or self.save_every < 0 or self.eval_every < 0 or self.warmup_steps < 0:
            bad("step counts must be >= 0")
        if self.keep_checkpoints < 1:
            bad("--keep-checkpoints must be >= 1")
        if not 0 < self.vllm_gpu_memory < 1:
            bad("--vllm-gpu-memory must lie in (0, 1)")
        if self.rollout_backend not in BACKENDS:
            bad(f"--rollout-backend must be {', '.join(b for b in BACKENDS if b != 'auto')} or auto (got {self.rollout_backend!r})")
        check_template(self.prompt_template)
        if not self.data:
            bad("--data is required (a JSONL file with problem/answer columns, or a benchmark name)")
        if self.eval_every and not self.eval_data:
            bad("--eval-every needs --eval-data")
        if self.chunk_size < 1 or self.max_grad_norm <= 0:
            bad("--chunk-size must be >= 1 and --max-grad-norm > 0")
        if self.lora_rank < 0:
            bad("--lora-rank must be >= 0")
        if not (0 < self.clip_cov_ratio <= 1 and 0 < self.kl_cov_ratio <= 1):
            bad("--clip-cov-ratio and --kl-cov-ratio must lie in (0, 1]")
        if not self.clip_cov_lb < self.clip_cov_ub:
            bad(f"--clip-cov-lb {self.clip_cov_lb} must be below --clip-cov-ub {self.clip_cov_ub}")
        if not self.kl_cov_coef > 0:
            bad(f"--kl-cov-coef must be > 0 (got {self.kl_cov_coef}): at 0 KL-Cov is an unclipped policy gradient")
        if not 0 < self.top_entropy_quantile <= 1:
            bad(f"--top-entropy-quantile must lie in (0, 1] (1 keeps every token; Wang et al. use 0.2), got {self.top_entropy_quantile}")
        if self.top_entropy_quantile < 1 and self.loss_mode in COVARIANCE_LOSSES:
            bad(f"--top-entropy-quantile with --loss-mode {self.loss_mode} is not a defined method: both choose which tokens "
                "carry the gradient (the mask by entropy, Clip-Cov/KL-Cov by the covariance of log-prob and advantage), and "
                "the covariance would be taken over advantages the mask has zeroed; use one of them")
        return self

    # ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """A config from its saved form; every field is type-checked (UserError naming it)."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(d) - set(fields)
        if unknown:
            raise UserError(f"unknown config field(s): {', '.join(sorted(unknown))}")
        d = dict(d)
        for name, value in d.items():
            if not _has_type(value, str(fields[name].type)):
                raise UserError(f"config field {name!r} must be {fields[name].type}, got {value!r}")
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        from entropykit.io import read_json_object

        p = Path(path)
        if not p.exists():
            raise UserError(f"{p}: no such file (not a training run folder?)")
        d = read_json_object(p)  # UserError: not UTF-8, not JSON, not an object
        try:
            return cls.from_dict(d)
        except UserError as e:
            raise UserError(f"{p}: {e}") from None


_JSON_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "str": (str,), "None": (type(None),),
               "dict[str, Any]": (dict,), "tuple[float, float]": (list, tuple)}


def _has_type(value: Any, annotation: str) -> bool:
    """Whether a JSON value fits a field annotation such as "int", "float | None", "bool | None"
    (bool is not an int here, though Python says it is)."""
    allowed = tuple(t for part in annotation.split("|") for t in _JSON_TYPES.get(part.strip(), (object,)))
    if isinstance(value, bool) and bool not in allowed:
        return False
    if isinstance(value, (list, tuple)) and annotation.startswith("tuple[float"):
        return len(value) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value)
    return isinstance(value, allowed)
