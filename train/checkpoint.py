"""Atomic checkpoints of a training run and resume.

Layout of RUN/checkpoints/step_000010/ (the state after 10 completed steps):
    policy/            the policy as a Hugging Face folder (loadable by every entropykit tool)
    trainer_state.pt   optimizer, lr scheduler, critic + its optimizer (PPO), RNG states, step
A checkpoint is written into a temporary folder and renamed into place, then RUN/checkpoints/
latest (a one-line text file) is replaced atomically; a killed run never leaves a half
checkpoint that resume would pick up; the temporary folders of a killed write
(`.step_NNNNNN.*`) are removed when the run starts again. Only the newest `keep` checkpoints
are kept. Folders and files get the normal modes of the user's umask (like every other output),
not the 0700/0600 of temporary files.

Size: the policy is saved as trained (float32 master weights, 4 bytes per parameter) and
trainer_state.pt holds AdamW's two moments (8 bytes per parameter); PPO adds the critic and its
optimizer. `export_policy` writes the policy alone, optionally in bfloat16 (2 bytes per parameter).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from entropykit.errors import UserError
from entropykit.io import atomic_write_text, default_file_mode, ensure_writable_parent


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
    with _atomic_folder(final) as tmp:
        policy.save_pretrained(tmp / "policy")
        tokenizer.save_pretrained(tmp / "policy")
        torch.save({**state, "step": step, "rng": rng_state()}, tmp / "trainer_state.pt")
    atomic_write_text(root / "latest", final.name + "\n")
    for old in sorted(p for p in root.glob("step_*") if p.is_dir())[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


@contextlib.contextmanager
def _atomic_folder(final: Path) -> Iterator[Path]:
    """Yield a temporary folder `.NAME.*` beside `final`; once filled, its files are fsynced, it
    gets the normal modes and replaces `final`; on an error in the body it is removed, `final` untouched."""
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
    try:
        yield tmp
        _fsync_tree(tmp)
        _default_modes(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _default_modes(folder: Path) -> None:
    """Give `folder` and everything in it the modes plainly created folders/files would get
    (mkdtemp makes 0700, and transformers writes its safetensors through 0600 temp files)."""
    file_mode = default_file_mode()
    dir_mode = file_mode | ((file_mode & 0o444) >> 2)  # x wherever r: 0o644 -> 0o755
    os.chmod(folder, dir_mode)
    for p in folder.rglob("*"):
        if not p.is_symlink():
            os.chmod(p, dir_mode if p.is_dir() else file_mode)


def checkpoint_step(ckpt: Path) -> int:
    """The number of completed steps a checkpoint folder (`step_NNNNNN`) holds."""
    return int(Path(ckpt).name.split("_", 1)[1])


def remove_stale_temp(run: Path) -> list[Path]:
    """Remove temporary folders left by a checkpoint write that was killed; returns them."""
    root = _ckpt_root(run)
    stale = [p for p in root.glob(".step_*") if p.is_dir()] if root.is_dir() else []
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return stale


def _fsync_tree(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())


def latest_checkpoint(run: Path) -> Path | None:
    root = _ckpt_root(run)
    marker = root / "latest"
    if marker.exists():
        name = marker.read_bytes().decode("utf-8", errors="replace").strip()
        p = root / name
        if re.fullmatch(r"step_\d+", name) and (p / "trainer_state.pt").exists():
            return p
        # a damaged marker (garbage, not UTF-8, a removed checkpoint): the newest complete one below
    cands = sorted(p for p in root.glob("step_*") if (p / "trainer_state.pt").exists())
    return cands[-1] if cands else None


def load_trainer_state(ckpt: Path) -> dict:
    try:
        return torch.load(ckpt / "trainer_state.pt", map_location="cpu", weights_only=False)
    except Exception as e:  # corrupt file: say which
        raise UserError(f"{ckpt}: cannot read trainer_state.pt ({e})") from None


def export_policy(run: str | Path, out: str | Path, *, step: int | None = None, dtype: str | None = None) -> Path:
    """Write the policy of checkpoint `step` (default: the latest) of RUN to the folder `out`.

    The result is a Hugging Face folder without optimizer state (a fraction of a checkpoint),
    loadable by every entropykit tool. `dtype` ("bfloat16", "float16", "float32") converts the
    weights; None copies them as saved. Written into a temporary folder beside `out` and renamed,
    so `out` is complete or absent. `out` must not exist yet.
    """
    run, out = Path(run), Path(out)
    if not run.is_dir():
        raise UserError(f"{run}: no such run folder")
    if step is None:
        ckpt = latest_checkpoint(run)
        if ckpt is None:
            raise UserError(f"{run}: no checkpoint yet (checkpoints are written every --save-every steps)")
    else:
        ckpt = _ckpt_root(run) / f"step_{step:06d}"
        if not (ckpt / "policy").is_dir():
            have = ", ".join(str(checkpoint_step(p)) for p in sorted(_ckpt_root(run).glob("step_*"))) or "none"
            raise UserError(f"{run}: no checkpoint of step {step} (have: {have})")
    if dtype not in (None, "bfloat16", "float16", "float32"):
        raise UserError(f"--dtype must be bfloat16, float16 or float32 (got {dtype!r})")
    if out.exists():
        raise UserError(f"{out}: exists already; choose a new folder")
    ensure_writable_parent(out)
    src = ckpt / "policy"
    with _atomic_folder(out) as tmp:
        if dtype is None or (src / "adapter_config.json").exists():  # LoRA adapters are copied as they are
            shutil.copytree(src, tmp, dirs_exist_ok=True)
        else:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            model = AutoModelForCausalLM.from_pretrained(src, dtype=getattr(torch, dtype))
            model.save_pretrained(tmp)
            AutoTokenizer.from_pretrained(src).save_pretrained(tmp)
    return out
