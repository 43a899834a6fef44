"""`entropykit train report RUN [RUN...]`: an offline plotly dashboard of training curves.

One panel per metric (the paper's Figures 6-7: reward, response length, entropy, psi/|A|;
plus accuracy, the share of groups with zero advantage, clip fractions, approx KL, grad norm,
throughput and the step-time split), one colored line per run, plotly.js embedded in the file
(works without network). Steps where no group had an advantage (nothing to learn) are listed as
warnings above the charts. Step axes have integer ticks; the legend sits in the top margin,
clear of every axis title and subplot title.
"""

from __future__ import annotations

import math
from pathlib import Path

from entropykit.errors import UserError
from entropykit.io import atomic_write_text, ensure_writable_parent, read_complete_jsonl, read_json_object

PANELS = [
    ("reward_mean", "mean reward"),
    ("accuracy", "accuracy"),
    ("zero_adv_group_frac", "groups with zero advantage (share)"),
    ("response_length", "response length (tokens)"),
    ("entropy", "mean token entropy (nats)"),
    ("psi_ratio", "entropy advantage psi/|A| (A != 0)"),
    ("psi_mean", "mean psi (A != 0)"),
    ("cov_frac", "Clip-Cov / KL-Cov: share of tokens selected"),
    ("cov", "Cov(log-prob, advantage) per token"),
    ("cov_selected", "covariance term of the selected tokens"),
    ("entropy_mask_frac", "80/20 mask: share of tokens with gradient"),
    ("clip_frac_high", "clip fraction, high (1 + eps_high)"),
    ("clip_frac_low", "clip fraction, low (1 - eps_low)"),
    ("clip_frac_dual", "clip fraction, dual clip (A < 0, ratio > c)"),
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
    recs = read_complete_jsonl(path, required=("step",), types={"step": int})  # a torn last line: left out
    if not recs:
        raise UserError(f"{path}: no metrics yet")
    return recs


def _label(run: Path) -> str:
    cfg = run / "config.json"
    name = run.name
    c = read_json_object(cfg, missing=None, damaged=None)  # a label only: a damaged config is no reason to stop
    if c is None:
        return name
    tag = f"{c.get('algo', '?')}{' + entropy adv' if c.get('entropy_adv') else ''}"
    if c.get("entropy_coef"):
        tag += f" + entropy reg {c['entropy_coef']}"
    if c.get("loss_mode", "clip_higher") != "clip_higher":
        tag += f" + {c['loss_mode']}"
    if (c.get("top_entropy_quantile") or 1) < 1:
        tag += f" + top-{c['top_entropy_quantile']:g} entropy mask"
    return f"{name} ({tag})"


def step_dtick(max_step: float) -> int:
    """An integer tick spacing (1, 2, 5, 10, 20, 50, ...) giving at most 10 ticks up to `max_step`."""
    exp = 0
    while True:
        for m in (1, 2, 5):
            if max_step / (m * 10**exp) <= 10:
                return m * 10**exp
        exp += 1


def zero_advantage_warnings(data: list[tuple[str, list[dict]]]) -> list[str]:
    """One line per (run label, records) with steps where every group had zero advantage (no policy gradient)."""
    out = []
    for label, recs in data:
        dead = [r["step"] for r in recs if r.get("zero_adv_group_frac") == 1.0]
        if dead:
            shown = ", ".join(str(s) for s in dead[:20]) + (", ..." if len(dead) > 20 else "")
            out.append(f"{label}: {len(dead)} of {len(recs)} steps had zero advantage in every group "
                       f"(equal rewards in each group, no policy gradient): step {shown}")
    return out


def build_report(runs: list[str | Path], out: str | Path, title: str = "entropykit training") -> Path:
    """Write the HTML dashboard comparing `runs`; returns its path."""
    if not runs:
        raise UserError("train report: give at least one run folder")
    out = Path(out)
    ensure_writable_parent(out)
    data = [(_label(Path(r)), read_metrics(r)) for r in runs]

    import plotly.graph_objects as go
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    present = [(k, t) for k, t in PANELS if any(rec.get(k) is not None for _, recs in data for rec in recs)]
    cols = 3
    nrows = max(1, math.ceil(len(present) / cols))
    fig = make_subplots(rows=nrows, cols=cols, subplot_titles=[t for _, t in present], vertical_spacing=0.35 / nrows + 0.02)
    palette = qualitative.Plotly
    for i, (label, recs) in enumerate(data):
        color = palette[i % len(palette)]
        for j, (key, _) in enumerate(present):
            pts = [(r["step"], r[key]) for r in recs if isinstance(r.get(key), (int, float))]
            if not pts:
                continue
            fig.add_trace(
                go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers", marker={"size": 4},
                           line={"color": color}, name=label, legendgroup=label, showlegend=(j == 0)),
                row=j // cols + 1, col=j % cols + 1,
            )
    max_step = max((r["step"] for _, recs in data for r in recs), default=1)
    fig.update_xaxes(title_text="step", tickmode="linear", tick0=0, dtick=step_dtick(max_step), tickformat="d")
    # the legend, one run per line, in the top margin between the title and the subplot titles
    legend_px = 22 * len(data)
    top = 60 + legend_px + 40
    height = 300 * nrows + top + 60
    fig.update_layout(
        title={"text": title, "y": 1 - 20 / height, "yanchor": "top", "yref": "container"},
        height=height, template="plotly_white", margin={"t": top, "b": 60},
        legend={"orientation": "v", "yref": "container", "y": 1 - 55 / height, "yanchor": "top", "x": 0, "xanchor": "left"},
    )
    from entropykit.html import escape, fig_html, page

    warnings = zero_advantage_warnings(data)
    banner = ""
    if warnings:
        items = "".join(f"<li>{escape(w)}</li>" for w in warnings)
        banner = (f'<div id="warnings" class="warn"><b>warning: steps that cannot learn</b><ul>{items}</ul></div>')
    chart = fig_html(fig, "ek-train", height, top=top)  # the top margin holds the legend
    atomic_write_text(out, page(title, banner + chart + "<p id='ek-status'>loading</p>", css="body{max-width:none}"))
    return out
