"""Entropy over training, from a run's own rollout dumps: the paper's Figures 6-7 per step.

When the records carry training steps (a folder of veRL `rollout_data_dir` files or TRL
completion logs, `entropykit.formats`), each step's responses are one group: per step, the mean
over responses of their mean token entropy, pivotal words and reflective sentences per 1,000
tokens, length in tokens, and the share the file's own reward or verdict calls correct.

Unit: the response. A response's tokens are not independent observations, so each response
contributes one value; and a step's responses come in groups of samples of one prompt, so the
95% CI resamples prompts and then responses within them (a two-stage cluster bootstrap), and
says how many of each contributed.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np

STEP_METRICS = (
    ("mean_entropy", "mean token entropy (nats)"),
    ("pivotal_per_1k", "pivotal words per 1k tokens"),
    ("reflective_per_1k", "reflective sentences per 1k tokens"),
    ("num_tokens", "response length (tokens)"),
    ("correct", "correct (the file's own verdict)"),
)


def cluster_mean_ci(values: np.ndarray, clusters: np.ndarray, *, n_boot: int, seed: int, level: float = 0.95) -> tuple[float, list[float] | None]:
    """Mean of `values` and its percentile CI from a two-stage bootstrap: draw clusters (prompts)
    with replacement, then values (responses) with replacement inside each drawn cluster."""
    mean = float(values.mean())
    ids = np.unique(clusters)
    if n_boot <= 0 or len(values) < 2:
        return mean, None
    rng = np.random.default_rng(seed)
    groups = [values[clusters == c] for c in ids]
    stats = np.empty(n_boot)
    for b in range(n_boot):
        picked = rng.integers(0, len(groups), len(groups))
        draws = [g[rng.integers(0, len(g), len(g))] for g in (groups[i] for i in picked)]
        stats[b] = np.concatenate(draws).mean()
    a = (1 - level) / 2
    return mean, [float(np.quantile(stats, a)), float(np.quantile(stats, 1 - a))]


def step_dynamics(records: Sequence[dict], resp_rows: Sequence[dict], *, n_boot: int, seed: int) -> dict | None:
    """{"steps": [...], "metrics": {name: [{"step", "mean", "ci95", "responses", "prompts"}]}} when the
    records span two or more training steps; None otherwise."""
    steps = sorted({r.get("step") for r in records if r.get("step") is not None})
    if len(steps) < 2:
        return None
    out: dict = {"steps": steps, "unit": "response; CI: bootstrap over prompts, then responses within them", "metrics": {}}
    for name, label in STEP_METRICS:
        by_step: dict = defaultdict(lambda: ([], []))
        for rec, row in zip(records, resp_rows):
            value = row.get(name)
            if rec.get("step") is None or value is None:
                continue
            vals, prompts = by_step[rec["step"]]
            vals.append(float(value))
            prompts.append(row["prompt_key"])
        points = []
        for step in steps:
            vals, prompts = by_step.get(step, ([], []))
            if not vals:
                continue
            mean, ci = cluster_mean_ci(np.asarray(vals), np.asarray(prompts, dtype=object), n_boot=n_boot, seed=seed)
            points.append({"step": step, "mean": mean, "ci95": ci, "responses": len(vals), "prompts": len(set(prompts))})
        if points:
            out["metrics"][name] = {"label": label, "points": points}
    return out


def steps_figure(dyn: dict):
    """One panel per metric: the per-step mean and its 95% CI band."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = list(dyn["metrics"])
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        subplot_titles=[dyn["metrics"][n]["label"] for n in names])
    for i, name in enumerate(names, 1):
        pts = dyn["metrics"][name]["points"]
        x = [p["step"] for p in pts]
        with_ci = [p for p in pts if p["ci95"]]
        if with_ci:
            fig.add_trace(go.Scatter(x=[p["step"] for p in with_ci] + [p["step"] for p in reversed(with_ci)],
                                     y=[p["ci95"][1] for p in with_ci] + [p["ci95"][0] for p in reversed(with_ci)],
                                     fill="toself", fillcolor="rgba(70,120,190,0.18)", line=dict(width=0), hoverinfo="skip",
                                     showlegend=False), row=i, col=1)
        fig.add_trace(go.Scatter(x=x, y=[p["mean"] for p in pts], mode="lines+markers", name=dyn["metrics"][name]["label"],
                                 customdata=[[p["responses"], p["prompts"]] for p in pts],
                                 hovertemplate="step %{x}: %{y:.3f} (%{customdata[0]} responses, %{customdata[1]} prompts)<extra></extra>",
                                 showlegend=False, line=dict(color="#2b5fa8")), row=i, col=1)
    fig.update_xaxes(title_text="training step", row=len(names), col=1)
    fig.update_layout(template="plotly_white", margin=dict(t=40, l=60, r=20, b=40))
    return fig
