"""`entropykit reproduce`: the paper's experiment in one command (train with the entropy-based
advantage, then evaluate and analyse each trained model against its base).

It sits above the three tools and composes their public functions (`reproduce/stages.py`);
no tool imports it. Settings and presets: `reproduce/config.py`; the result table:
`reproduce/table.py`; the generated arithmetic problems: `reproduce/problems.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .config import PRESETS, VARIANTS, ReproduceConfig  # noqa: F401 (public names)


def reproduce(cfg: ReproduceConfig, *, log: Callable[[str], None] | None = None,
              progress_line: Callable[[str], None] | None = None) -> Path:
    """Run (or continue) the experiment into `cfg.out`; returns the folder. Settings are
    resolved and checked, and the folder is checked writable, before any model is loaded."""
    from entropykit.io import ensure_writable_dir, run_lock

    from .stages import COMPARISON_STAGES, Layout, build_stages, forget_stages, run_stages

    log = log or (lambda s: None)
    progress_line = progress_line or log
    cfg = cfg.resolve()
    root = ensure_writable_dir(cfg.out)
    with run_lock(root, command="entropykit reproduce", log=log):  # one writer per experiment folder
        added = cfg.check_against(root / "reproduce.json")
        lay = Layout(root)
        if added:
            log(f"adding {', '.join(added)} to the experiment in {root}: the finished stages stand; the reports and the table are redone")
            forget_stages(lay, COMPARISON_STAGES)
        run_stages(build_stages(cfg, lay, log), lay, log, progress_line)
    return root
