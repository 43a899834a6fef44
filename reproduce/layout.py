"""The run folder of `entropykit reproduce`: where every stage writes, and what each run is called.

    DIR/reproduce.json, stages.json, summary.json, index.html
    DIR/data/                      the generated train / held-out problems
    DIR/base/{passk,analysis}/     the base model
    DIR/V/{train,policy,passk,analysis}/          variant V, training seed 0
    DIR/V-seed1/..., DIR/V-seed2/...              the same variant trained with seeds 1, 2 (--seeds 3)
    DIR/reports/                   passk compare, train report, analyze compare

A run is one trained model: (variant, seed index). Seed index 0 keeps the one-seed folder names,
so an experiment grows to more seeds in place. Both the stages and the table read this module;
it imports neither. `read_experiment` lists the finished runs of an existing folder (for
`reproduce power` and `passk compare DIR`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from entropykit.errors import UserError

from .config import LABELS, OTHER_METHODS, VARIANTS, ReproduceConfig


def run_name(variant: str, seed_index: int) -> str:
    """The folder (and report) name of `variant` trained with seed index `seed_index`."""
    return variant if seed_index == 0 else f"{variant}-seed{seed_index}"


def seed_index(name: str) -> int:
    """The seed index of run `name` (`run_name`'s inverse): "grpo" -> 0, "grpo-seed2" -> 2."""
    _, sep, idx = name.rpartition("-seed")
    return int(idx) if sep and idx.isdigit() else 0


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


def compared_pairs(cfg: ReproduceConfig, present: Sequence[str]) -> list[tuple[str, str]]:
    """Every (A, B) pair of the base and the variants in `present` (those with finished runs), as
    the across-seeds table and `passk compare DIR` list them: the Figure-8 pairs first (base vs
    each variant, then the method pairs of `figure8_pairs`), then every other pair of methods
    (A the one listed first in the settings)."""
    have = {"base", *present}
    pairs = [(a, b) for a, b in figure8_pairs(cfg) if a in have and b in have]
    methods = [v for v in cfg.variants if v in have]
    seen = set(pairs) | {(b, a) for a, b in pairs}
    pairs += [(a, b) for i, a in enumerate(methods) for b in methods[i + 1:] if (a, b) not in seen]
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


def read_experiment(root: Path) -> tuple[ReproduceConfig, Layout, dict[str, list[str]], list[str]]:
    """(settings, layout, variant -> its finished runs, notes on unfinished ones) of the reproduce
    folder `root`.

    A run counts when its passk problems.jsonl exists (passk writes it after summary.json). A
    variant none of whose runs has finished is left out. UserError when `root` is not a reproduce
    folder, its settings are unreadable, or the base model or every variant has no finished
    evaluation."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: not a folder (give the --out folder of `entropykit reproduce`)")
    settings = root / "reproduce.json"
    if not settings.exists():
        hint = ""
        if (root / "summary.json").exists() and (root / "problems.jsonl").exists():
            hint = ("; it looks like an `entropykit passk` run: groups of passk runs compare with "
                    "`entropykit passk compare A1 A2 -- B1 B2`")
        raise UserError(f"{root}: not an `entropykit reproduce` folder (no reproduce.json){hint}")
    try:
        saved = json.loads(settings.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{settings}: unreadable ({type(e).__name__})") from None
    fields = {f.name for f in dataclasses.fields(ReproduceConfig)} - {"out"}
    if not isinstance(saved, dict):
        raise UserError(f"{settings}: not a reproduce settings file")
    cfg = ReproduceConfig(out=str(root), **{k: v for k, v in saved.items() if k in fields})
    variants, seeds, seed = cfg.variants, cfg.seeds, cfg.seed
    if (not isinstance(variants, list) or not variants or any(v not in VARIANTS for v in variants)
            or not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1 or not isinstance(seed, int)):
        raise UserError(f"{settings}: not a reproduce settings file (variants {variants!r}, seeds {seeds!r})")
    lay = Layout(root)
    if not (lay.passk("base") / "problems.jsonl").exists():
        raise UserError(f"{root}: the base model's evaluation has not finished (no {lay.passk('base')}/problems.jsonl); "
                        f"rerun `entropykit reproduce --out {root}` to finish it")
    runs: dict[str, list[str]] = {}
    notes: list[str] = []
    for v in variants:
        names = [run_name(v, i) for i in range(seeds)]
        finished = [n for n in names if (lay.passk(n) / "problems.jsonl").exists()]
        if finished:
            runs[v] = finished
        if len(finished) < len(names):
            left = [n for n in names if n not in finished]
            notes.append(f"{label(v)}: {len(finished)} of {seeds} seeds evaluated ({', '.join(left)} not yet)")
    if not runs:
        raise UserError(f"{root}: no trained model's evaluation has finished (none of "
                        f"{', '.join(str(lay.passk(v)) for v in variants)} has problems.jsonl yet)")
    return cfg, lay, runs, notes
