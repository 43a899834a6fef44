"""Atomic checkpoints of a training run and resume.

Layout of RUN/checkpoints/step_000010/ (the state after 10 completed steps):
    policy/            the policy as a Hugging Face folder (loadable by every entropykit tool)
    trainer_state.pt   optimizer, lr scheduler, critic + its optimizer (PPO), RNG states, step
A checkpoint is written into a temporary folder and renamed into place, then RUN/checkpoints/
latest (a one-line text file) is replaced atomically; a killed run never leaves a half
checkpoint that resume would pick up. Only the newest `keep` checkpoints are kept.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from entropykit.errors import UserError
from entropykit.io import atomic_write_text


def _ckpt_root(run: Path) -> Path:
    return Path(run) / "checkpoints"


def rng_state() -> dict:
    st = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: dict) -> None:
    torch.set_rng_state(st["torch"])
    np.random.set_state(st["numpy"])
    random.setstate(st["python"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def save_checkpoint(run: Path, step: int, *, policy: Any, tokenizer: Any, state: dict, keep: int = 2) -> Path:
    """Write checkpoint `step` (number of completed steps) atomically; returns its folder."""
    root = _ckpt_root(run)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step_{step:06d}"
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".step_{step:06d}."))
    try:
        policy.save_pretrained(tmp / "policy")
        tokenizer.save_pretrained(tmp / "policy")
        torch.save({**state, "step": step, "rng": rng_state()}, tmp / "trainer_state.pt")
        _fsync_tree(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    atomic_write_text(root / "latest", final.name + "\n")
    for old in sorted(p for p in root.glob("step_*") if p.is_dir())[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _fsync_tree(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())


def latest_checkpoint(run: Path) -> Path | None:
    root = _ckpt_root(run)
    marker = root / "latest"
    if marker.exists():
        p = root / marker.read_text().strip()
        if (p / "trainer_state.pt").exists():
            return p
    cands = sorted(p for p in root.glob("step_*") if (p / "trainer_state.pt").exists())
    return cands[-1] if cands else None


def load_trainer_state(ckpt: Path) -> dict:
    try:
        return torch.load(ckpt / "trainer_state.pt", map_location="cpu", weights_only=False)
    except Exception as e:  # corrupt file: say which
        raise UserError(f"{ckpt}: cannot read trainer_state.pt ({e})") from None
