"""`entropykit train report RUN [RUN...]`: an offline plotly dashboard of training curves.

One panel per metric (the paper's Figures 6-7: reward, response length, entropy, psi/|A|;
plus accuracy, the share of groups with zero advantage, clip fractions, approx KL, grad norm,
throughput and the step-time split), one colored line per run, plotly.js embedded in the file
(works without network). Steps where no group had an advantage (nothing to learn) are listed as
warnings above the charts. Step axes have integer ticks; the legend sits in the top margin,
clear of every axis title and subplot title.

A run is entropykit's metrics.jsonl, veRL's file-logger JSONL (RUN/verl/metrics.jsonl of
`train --engine verl`) or TRL's trainer_state.json; `outside_logs` reads them and maps their
metric names to these panels. A table above the charts names each run's format, the file read
and, for outside logs, which of their metrics each panel shows; a run from which no panel can
be drawn is an error.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Callable

from entropykit.errors import UserError
from entropykit.io import atomic_write_text, ensure_writable_parent, read_json_object

from .outside_logs import NATIVE, RunLog, load_run, no_panel_error

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
    ("clip_frac", "clip fraction, either side (low + high)"),
    ("clip_frac_high", "clip fraction, high (1 + eps_high)"),
    ("clip_frac_low", "clip fraction, low (1 - eps_low)"),
    ("clip_frac_dual", "clip fraction, dual clip (A < 0, ratio > c)"),
    ("approx_kl", "approx KL(old || new)"),
    ("kl_ref", "KL to the reference policy"),
    ("grad_norm", "policy grad norm"),
    ("value_loss", "critic loss (PPO)"),
    ("tokens_per_s", "generated tokens / s"),
    ("time_rollout", "time: rollout (s)"),
    ("time_scoring", "time: scoring (s)"),
    ("time_update", "time: update (s)"),
    ("eval_accuracy", "held-out accuracy"),
]


def read_metrics(run: str | Path) -> list[dict]:
    """The per-step records of a run folder or log file (any format `outside_logs` reads), under the panel keys."""
    return load_run(run).records


def _label(log: RunLog) -> str:
    run, name = log.root, log.name
    # a label only: a damaged config is no reason to stop
    c = read_json_object(run / "config.json", missing=None, damaged=None)
    if c is None:  # `train --engine verl` keeps its config in RUN/verl/launch.json
        c = (read_json_object(run / "verl" / "launch.json", missing=None, damaged=None) or {}).get("train_config")
    suffix = "" if log.fmt == NATIVE else f" [{log.fmt.split()[0]}]"
    if not isinstance(c, dict):
        return name + suffix
    tag = f"{c.get('algo', '?')}{' + entropy adv' if c.get('entropy_adv') else ''}"
    if c.get("entropy_coef"):
        tag += f" + entropy reg {c['entropy_coef']}"
    if c.get("loss_mode", "clip_higher") != "clip_higher":
        tag += f" + {c['loss_mode']}"
    if (c.get("top_entropy_quantile") or 1) < 1:
        tag += f" + top-{c['top_entropy_quantile']:g} entropy mask"
    return f"{name} ({tag}){suffix}"


def _unique(labels: list[str]) -> list[str]:
    """Labels made distinct (two runs of one name: "name", "name #2")."""
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        seen[lab] = seen.get(lab, 0) + 1
        out.append(lab if seen[lab] == 1 else f"{lab} #{seen[lab]}")
    return out


def sources_table(logs: list[RunLog], labels: list[str], titles: dict[str, str]) -> str:
    """Which format each run came from, the file read and, for outside logs, each panel's metric."""
    from entropykit.html import escape, table

    rows = []
    for log, label in zip(logs, labels):
        steps = [r["step"] for r in log.records]
        drawn = "".join(f"<li>{escape(titles.get(k, k))} &larr; <code>{escape(v)}</code></li>" for k, v in log.drawn.items())
        cell = ("entropykit's own names" if log.fmt == NATIVE else "") + (f"<ul>{drawn}</ul>" if drawn else "")
        if log.not_drawn:
            cell += (f"<details><summary>{len(log.not_drawn)} metric names not drawn</summary>"
                     f"{escape(', '.join(log.not_drawn))}</details>")
        rows.append([escape(label), escape(log.fmt), escape(", ".join(str(f) for f in log.files)),
                     f"{len(steps)} ({min(steps)}-{max(steps)})", cell])
    return '<div id="sources">' + table(["run", "format", "file read", "logged steps", "panels drawn"], rows, "text") + "</div>"


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


def build_report(runs: list[str | Path], out: str | Path, title: str = "entropykit training",
                 warn: Callable[[str], None] | None = None) -> Path:
    """Write the HTML dashboard comparing `runs` (folders or log files, any format `outside_logs`
    reads); returns its path. `warn` gets one line per outside run naming the metrics not drawn
    (default: stderr)."""
    if not runs:
        raise UserError("train report: give at least one run folder")
    out = Path(out)
    ensure_writable_parent(out)
    for r in runs:
        if Path(r).is_file() and Path(r).resolve() == out.resolve():
            raise UserError(f"--out {out} would replace the training log {r}; write the page somewhere else")
    warn = warn or (lambda line: print(line, file=sys.stderr))
    logs = [load_run(r) for r in runs]
    panel_keys = {k for k, _ in PANELS}
    for log in logs:
        err = no_panel_error(log, panel_keys)
        if err is not None:
            raise err
    for log in logs:
        if log.not_drawn:
            shown = ", ".join(log.not_drawn[:8]) + (", ..." if len(log.not_drawn) > 8 else "")
            warn(f"note: {log.files[-1]} ({log.fmt}): {len(log.not_drawn)} metric names have no panel and are not "
                 f"drawn: {shown}")
    _native_either_side_clip(logs)
    labels = _unique([_label(log) for log in logs])
    data = list(zip(labels, [log.records for log in logs]))

    import plotly.graph_objects as go
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    extra = list(dict.fromkeys(p for log in logs for p in log.extra_panels))  # panels only an outside format has
    present = [(k, t) for k, t in PANELS + extra if any(rec.get(k) is not None for _, recs in data for rec in recs)]
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
    sources = sources_table(logs, labels, dict(PANELS + extra))
    atomic_write_text(out, page(title, sources + banner + chart + "<p id='ek-status'>loading</p>",
                                css="body{max-width:none} #sources ul{margin:0;padding-left:1.2em}"))
    return out


def _native_either_side_clip(logs: list[RunLog]) -> None:
    """On a page with veRL's or TRL's either-side clip fraction, entropykit runs show theirs too:
    clip_frac_low + clip_frac_high (disjoint token sets, A < 0 and A > 0: veRL's pg_clipfrac)."""
    if not any(log.fmt != NATIVE and "clip_frac" in log.drawn for log in logs):
        return
    for log in logs:
        if log.fmt == NATIVE:
            for r in log.records:
                lo, hi = r.get("clip_frac_low"), r.get("clip_frac_high")
                if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and "clip_frac" not in r:
                    r["clip_frac"] = lo + hi
                    log.drawn.setdefault("clip_frac", "clip_frac_low + clip_frac_high")
