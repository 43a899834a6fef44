"""The run folder of `entropykit reproduce`: where every stage writes, and what each run is called.

    DIR/reproduce.json, stages.json, summary.json, index.html
    DIR/data/                      the generated train / held-out problems
    DIR/base/{passk,analysis}/     the base model
    DIR/V/{train,policy,passk,analysis}/          variant V, training seed 0
    DIR/V-seed1/..., DIR/V-seed2/...              the same variant trained with seeds 1, 2 (--seeds 3)
    DIR/reports/                   passk compare, train report, analyze compare

A run is one trained model: (variant, seed index). Seed index 0 keeps the one-seed folder names,
so an experiment grows to more seeds in place. Both the stages and the table read this module;
it imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import LABELS, OTHER_METHODS, ReproduceConfig


def run_name(variant: str, seed_index: int) -> str:
    """The folder (and report) name of `variant` trained with seed index `seed_index`."""
    return variant if seed_index == 0 else f"{variant}-seed{seed_index}"


def train_seed(cfg: ReproduceConfig, seed_index: int) -> int:
    """The training seed of seed index i: cfg.seed + i (data order, rollout samples, mini-batches,
    the loss's own draws). Evaluation samples always use cfg.seed, so every model is sampled on
    the same problems with the same sample seeds and comparisons stay paired by problem."""
    return cfg.seed + seed_index


def runs(cfg: ReproduceConfig) -> list[tuple[str, int, str]]:
    """(variant, seed index, run name) of every trained model, seed by seed: an experiment stopped
    part-way holds the same seeds of every variant, so its comparisons stay balanced."""
    return [(v, i, run_name(v, i)) for i in range(cfg.seeds) for v in cfg.variants]


def label(name: str, cfg: ReproduceConfig | None = None) -> str:
    """The human name of "base", a variant or a seeded run ("GRPO (seed 2)")."""
    if name in LABELS:
        return LABELS[name]
    variant, _, idx = name.rpartition("-seed")
    return f"{LABELS[variant]} (seed {idx})"


def figure8_pairs(cfg: ReproduceConfig) -> list[tuple[str, str]]:
    """(A, B) pairs for `analyze compare` (seed index 0): base vs each variant, and within each
    algorithm the plain run vs the entropy advantage, then each other entropy-control method
    (entropy regularization, Clip-Cov, KL-Cov, the 80/20 mask) vs the entropy advantage."""
    v = cfg.variants
    pairs = [("base", x) for x in v]
    for algo in ("grpo", "ppo"):
        for a in (algo, *(f"{algo}-{m}" for m in OTHER_METHODS)):
            if a in v and f"{algo}-ent" in v:
                pairs.append((a, f"{algo}-ent"))
    return pairs


@dataclass(frozen=True)
class Layout:
    """Where every stage writes inside the run folder."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    def model_dir(self, name: str) -> Path:  # "base" or a run name
        return self.root / name

    def passk(self, name: str) -> Path:
        return self.model_dir(name) / "passk"

    def samples(self, name: str) -> Path:
        return self.passk(name) / "samples.jsonl"

    def analysis(self, name: str) -> Path:
        return self.model_dir(name) / "analysis"

    def train_run(self, name: str) -> Path:
        return self.model_dir(name) / "train"

    def policy(self, name: str) -> Path:
        return self.model_dir(name) / "policy"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def stages_file(self) -> Path:
        return self.root / "stages.json"
