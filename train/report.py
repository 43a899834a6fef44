"""`entropykit train report RUN [RUN...]`: an offline plotly dashboard of training curves.

One panel per metric (the paper's Figures 6-7: reward, response length, entropy, psi/|A|;
plus accuracy, clip fractions, approx KL, grad norm, throughput and the step-time split), one
colored line per run, plotly.js embedded in the file (works without network).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from entropykit.errors import UserError
from entropykit.io import atomic_write_text, iter_jsonl

PANELS = [
    ("reward_mean", "mean reward"),
    ("accuracy", "accuracy"),
    ("response_length", "response length (tokens)"),
    ("entropy", "mean token entropy (nats)"),
    ("psi_ratio", "entropy advantage psi/|A| (A != 0)"),
    ("psi_mean", "mean psi (A != 0)"),
    ("clip_frac_high", "clip fraction, high (1 + eps_high)"),
    ("clip_frac_low", "clip fraction, low (1 - eps_low)"),
    ("approx_kl", "approx KL(old || new)"),
    ("grad_norm", "policy grad norm"),
    ("value_loss", "critic loss (PPO)"),
    ("tokens_per_s", "generated tokens / s"),
    ("time_rollout", "time: rollout (s)"),
    ("time_scoring", "time: scoring (s)"),
    ("time_update", "time: update (s)"),
    ("eval_accuracy", "held-out accuracy"),
]


def read_metrics(run: str | Path) -> list[dict]:
    """The per-step records of a run folder (or a metrics.jsonl path)."""
    p = Path(run)
    path = p / "metrics.jsonl" if p.is_dir() else p
    if not path.exists():
        raise UserError(f"{run}: no metrics.jsonl (not a training run folder?)")
    recs = list(iter_jsonl(path, required=("step",)))
    if not recs:
        raise UserError(f"{path}: no metrics yet")
    return recs


def _label(run: Path) -> str:
    cfg = run / "config.json"
    name = run.name
    if cfg.exists():
        try:
            c = json.loads(cfg.read_text())
            tag = f"{c.get('algo', '?')}{' + entropy adv' if c.get('entropy_adv') else ''}"
            if c.get("entropy_coef"):
                tag += f" + entropy reg {c['entropy_coef']}"
            return f"{name} ({tag})"
        except (json.JSONDecodeError, OSError):
            pass
    return name


def build_report(runs: list[str | Path], out: str | Path, title: str = "entropykit training") -> Path:
    """Write the HTML dashboard comparing `runs`; returns its path."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    if not runs:
        raise UserError("train report: give at least one run folder")
    data = [(Path(r), read_metrics(r)) for r in runs]
    present = [(k, t) for k, t in PANELS if any(rec.get(k) is not None for _, recs in data for rec in recs)]
    cols = 3
    nrows = max(1, math.ceil(len(present) / cols))
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=[t for _, t in present], vertical_spacing=0.35 / nrows + 0.02)
    palette = qualitative.Plotly
    for i, (run, recs) in enumerate(data):
        color = palette[i % len(palette)]
        label = _label(run)
        for j, (key, _) in enumerate(present):
            pts = [(r["step"], r[key]) for r in recs if isinstance(r.get(key), (int, float))]
            if not pts:
                continue
            fig.add_trace(
                go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers", marker={"size": 4},
                           line={"color": color}, name=label, legendgroup=label, showlegend=(j == 0)),
                row=j // cols + 1, col=j % cols + 1,
            )
    fig.update_xaxes(title_text="step")
    fig.update_layout(title=title, height=300 * nrows + 120, template="plotly_white", legend={"orientation": "h", "y": -0.03})
    html = fig.to_html(include_plotlyjs=True, full_html=True)
    out = Path(out)
    atomic_write_text(out, html)
    return out
