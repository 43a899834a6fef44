"""`ReproduceConfig`: the settings of one `entropykit reproduce` run, and the presets.

A preset only fills in the settings the user did not give (`resolve`). Every size of the
experiment is a field here, so the CLI, the tests and the case study all describe a run the
same way; `reproduce.json` in the run folder keeps the resolved settings and a rerun with
other settings is refused (the finished stages would no longer match them).

The variants are the paper's comparison (Tables 2 and 3): the same data, seeds and settings,
only the method differs.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from entropykit.embedded import DEFAULT_MODEL
from entropykit.errors import UserError
from entropykit.sampling import BACKENDS

# name -> what sets the variant's method apart (TrainConfig fields; "entropy_reg": the run's
# --entropy-coef). alpha and kappa are the paper's (0.4 GRPO / 0.1 PPO, kappa 2: TrainConfig's
# defaults); Clip-Cov / KL-Cov take veRL's defaults, the mask Wang et al.'s 0.2.
VARIANTS: dict[str, dict] = {
    "grpo": {"algo": "grpo", "entropy_adv": False},
    "grpo-ent": {"algo": "grpo", "entropy_adv": True},
    "grpo-entreg": {"algo": "grpo", "entropy_adv": False, "entropy_reg": True},
    "grpo-clipcov": {"algo": "grpo", "entropy_adv": False, "loss_mode": "clip_cov"},
    "grpo-klcov": {"algo": "grpo", "entropy_adv": False, "loss_mode": "kl_cov"},
    "grpo-mask": {"algo": "grpo", "entropy_adv": False, "top_entropy_quantile": 0.2},
    "ppo": {"algo": "ppo", "entropy_adv": False},
    "ppo-ent": {"algo": "ppo", "entropy_adv": True},
    "ppo-entreg": {"algo": "ppo", "entropy_adv": False, "entropy_reg": True},
}
LABELS = {"base": "base", "grpo": "GRPO", "grpo-ent": "GRPO + entropy adv.", "grpo-entreg": "GRPO + entropy reg.",
          "grpo-clipcov": "GRPO + Clip-Cov", "grpo-klcov": "GRPO + KL-Cov", "grpo-mask": "GRPO + 80/20 mask",
          "ppo": "PPO", "ppo-ent": "PPO + entropy adv.", "ppo-entreg": "PPO + entropy reg."}
# the entropy-control methods compared with the paper's (Table 3 grows these columns)
OTHER_METHODS = ("entreg", "clipcov", "klcov", "mask")
GENERATED = "arith"  # --data / --eval default: the generated arithmetic splits (reproduce/problems.py)


@dataclass
class ReproduceConfig:
    """One experiment: base model, training variants, their evaluation and analysis."""

    out: str
    preset: str = "cpu"
    model: str | None = None  # the base model (embedded alias, HF folder, .gguf, hub id)
    data: str | None = None  # training problems: "arith" (generated train split), a bundled name or a file
    eval: str | None = None  # evaluation problems: "arith" (the generated held-out split), a bundled name or a file
    variants: list[str] | None = None
    steps: int | None = None
    prompts_per_step: int | None = None
    n_samples: int | None = None  # rollout samples per prompt (the GRPO group)
    mini_batch_size: int | None = None
    max_tokens: int | None = None  # response limit of rollouts and evaluation
    lr: float | None = None
    temperature: float | None = None  # rollout temperature (evaluation uses the paper's 0.6 / top-p 0.95)
    entropy_coef: float | None = None  # the entropy-regularization variants' coefficient
    critic_warmup: int | None = None  # PPO critic-only steps
    k: int | None = None  # evaluation samples per problem; pass@k for k = 1, 2, 4, ... up to k
    eval_problems: int | None = None  # first N evaluation problems
    train_problems: int | None = None  # size of the generated training split
    batch_size: int | None = None  # transformers backend: sequences per sampling batch
    backend: str | None = None  # sampling backend of rollouts and evaluation: auto, hf, vllm
    save_every: int | None = None  # training checkpoints (a killed training resumes from the last)
    clusters: int | None = None  # analyze: behavior clusters
    seed: int = 0
    seeds: int = 1  # training seeds per variant (cfg.seed + 0 .. seeds-1); evaluation samples always use `seed`
    extra_train: dict = field(default_factory=dict)  # further TrainConfig fields, the same for every variant

    def resolve(self) -> "ReproduceConfig":
        """A copy with every unset field taken from the preset, validated."""
        if self.preset not in PRESETS:
            raise UserError(f"--preset must be one of {', '.join(PRESETS)} (got {self.preset!r})")
        given = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        merged = {**PRESETS[self.preset](), **{k: v for k, v in given.items() if v is not None}}
        return ReproduceConfig(**merged).validate()

    def validate(self) -> "ReproduceConfig":
        unknown = [v for v in self.variants or [] if v not in VARIANTS]
        if not self.variants or unknown:
            raise UserError(f"--variants: unknown {', '.join(unknown) or '(none given)'} (known: {', '.join(VARIANTS)})")
        if len(set(self.variants)) != len(self.variants):
            raise UserError("--variants: a variant is named twice")
        for name in ("seeds", "steps", "prompts_per_step", "n_samples", "mini_batch_size", "max_tokens", "k", "eval_problems",
                     "train_problems", "batch_size", "clusters", "save_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"--{name.replace('_', '-')} must be a whole number >= 1 (got {value!r})")
        for name in ("lr", "temperature", "entropy_coef"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise UserError(f"--{name.replace('_', '-')} must be a finite number > 0 (got {value!r})")
        if self.critic_warmup < 0 or self.critic_warmup >= self.steps and any(VARIANTS[v]["algo"] == "ppo" for v in self.variants):
            raise UserError(f"--critic-warmup {self.critic_warmup} leaves PPO no policy update in {self.steps} steps")
        if self.backend not in BACKENDS:
            raise UserError(f"--backend must be {', '.join(BACKENDS[:-1])} or {BACKENDS[-1]} (got {self.backend!r})")
        return self

    # ------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def check_against(self, path: Path) -> list[str]:
        """Refuse a run folder made with other settings; write them when the folder is new.

        The changes allowed are more variants (the earlier ones first, in their order) and more
        seeds: every finished stage still holds, and the returned list names what was added (the
        comparison stages then rerun over all of it).
        """
        from entropykit.io import atomic_write_json

        mine = {k: v for k, v in self.to_dict().items() if k != "out"}  # the folder may be named another way
        if mine["seeds"] == 1:
            del mine["seeds"]  # a one-seed experiment's settings read as before --seeds existed
        if path.exists():
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, UnicodeDecodeError) as e:
                raise UserError(f"{path}: unreadable ({type(e).__name__}); move the folder aside or choose another --out") from None
            if not isinstance(saved, dict):
                raise UserError(f"{path}: not a reproduce settings file; choose another --out")
            default = {"seeds": 1}  # a key absent from either side reads as its default
            diff = sorted(k for k in (set(mine) | set(saved)) - {"out"} if mine.get(k, default.get(k)) != saved.get(k, default.get(k)))
            before, now = saved.get("variants"), mine["variants"]
            seeds_before, seeds_now = saved.get("seeds", 1), mine.get("seeds", 1)
            grows_variants = isinstance(before, list) and now[: len(before)] == before and len(now) > len(before)
            grows_seeds = isinstance(seeds_before, int) and seeds_now > seeds_before
            allowed = {name for name, grows in (("variants", grows_variants), ("seeds", grows_seeds)) if grows}
            if diff and not set(diff) <= allowed:
                k = next(k for k in diff if k not in allowed)
                raise UserError(f"{path.parent} was made with other settings ({k}: {saved.get(k)!r} there, {mine.get(k)!r} now); "
                                "rerun with the same options to continue it (or with more --variants after the same ones, "
                                "or more --seeds), or choose another --out")
            added = [v for v in now if v not in before] if grows_variants else []
            if grows_seeds:
                added += [f"{v} seeds {seeds_before}..{seeds_now - 1}" for v in now if v not in added]
            if added:
                atomic_write_json(path, mine)
            return added
        atomic_write_json(path, mine)
        return []


# --------------------------------------------------------------------------------------------
# presets: functions so that each states, in its docstring, why its numbers are what they are


def smoke() -> dict:
    """Every stage on the embedded model in under 3 minutes on 2 CPU cores: it proves the
    pipeline composes, not that anything learns (1 step, a few short samples). Four variants
    cover both algorithms, the entropy advantage and entropy regularization; each more adds
    about 40 s (`--variants` takes all six)."""
    return dict(model=DEFAULT_MODEL, data=GENERATED, eval=GENERATED, variants=["grpo", "grpo-ent", "grpo-entreg", "ppo-ent"],
                steps=1, prompts_per_step=2, n_samples=4, mini_batch_size=8, max_tokens=24, lr=1e-5, temperature=0.7,
                entropy_coef=0.001, critic_warmup=0, k=2, eval_problems=6, train_problems=40, batch_size=16,
                backend="auto", save_every=1, clusters=2)


def cpu() -> dict:
    """The paper's comparison on the embedded SmolLM2-135M, sized for 2 CPU cores (<= 75 min).

    Measured on our 2-core machine (2026-12-04) before choosing:
    - data: generated one-step arithmetic (`reproduce/problems.py`). At the paper's evaluation
      sampling (T 0.6, top-p 0.95, 128 tokens) the model answered 26% of bare "What is a + b?"
      questions right and 4% of short stories (76 samples); on the bundled easy set and on
      MATH-500 it is right too rarely for GRPO groups to carry signal. The generator draws
      about half bare questions.
    - temperature 0.7 for rollouts, not the paper's 1.0: at 1.0 the 135M model's samples are
      almost never right (0 of 32 samples on the easy set, measured 2026-12-04), so every group has zero advantage.
    - max_tokens 128: its answers take 80 tokens on average at T 0.6 and a quarter reach 128
      (mostly rambling after an answer).
    - 4 prompts x 8 samples (the paper's group of 8) per step, mini-batches of 8 samples: 4
      policy updates per rollout at the compute of one (the paper does 16). A 3-step pilot at
      lr 1e-5 took 54-69 s a step (rollout 24-28 s, update 15-23 s), moved the policy by a k3
      KL of 0.002-0.005 per step with 1-2% of tokens clipped, and its rollout entropy fell
      0.86 -> 0.70 nats: the policy moves, without running away. The paper's 1e-6 would not
      move a 135M model in 48 updates. 12 steps: about 13 minutes per variant.
    - evaluation: 32 held-out problems x 4 samples (pass@1..4) at 0.5 samples/s (batch 32),
      about 4-5 minutes per model; paired CIs over 32 problems are wide, and the page says so.
    - variants: GRPO, GRPO + entropy advantage (alpha 0.4, kappa 2) and GRPO + entropy
      regularization (coefficient 0.001): Table 3's comparison. PPO adds a critic and its
      warm-up steps, more than this budget holds (`--variants ...,ppo,ppo-ent` runs them).
    """
    return dict(model=DEFAULT_MODEL, data=GENERATED, eval=GENERATED, variants=["grpo", "grpo-ent", "grpo-entreg"],
                steps=12, prompts_per_step=4, n_samples=8, mini_batch_size=8, max_tokens=128, lr=1e-5, temperature=0.7,
                entropy_coef=0.001, critic_warmup=3, k=4, eval_problems=32, train_problems=400, batch_size=32,
                backend="auto", save_every=2, clusters=4)


def gpu() -> dict:
    """One 80 GB-class GPU (vLLM rollouts and sampling where vLLM is installed): a larger
    version of the cpu preset on the same problems, in the paper's proportions where they fit
    one GPU: 64 prompts x 8 samples per step, mini-batches of 256 (2 updates per step), 100
    steps, rollout temperature 1.0 (the paper's), lr 1e-6 (the paper's), 128 evaluation
    problems x 32 samples. For a 0.5-1.5B model this is a few GPU-hours; on the embedded 135M model
    use a higher --lr. Tested here only on a random model of the same shape (no GPU in CI)."""
    return dict(model=DEFAULT_MODEL, data=GENERATED, eval=GENERATED, variants=["grpo", "grpo-ent", "grpo-entreg", "ppo", "ppo-ent"],
                steps=100, prompts_per_step=64, n_samples=8, mini_batch_size=256, max_tokens=1024, lr=1e-6, temperature=1.0,
                entropy_coef=0.001, critic_warmup=10, k=32, eval_problems=128, train_problems=8000, batch_size=64,
                backend="auto", save_every=10, clusters=8)


PRESETS = {"smoke": smoke, "cpu": cpu, "gpu": gpu}
