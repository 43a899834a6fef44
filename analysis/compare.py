"""`entropykit analyze compare RUN_A RUN_B`: paper Figure 8 from two analysis folders.

For each run (an `entropykit analyze` output folder), per response: pivotal words and reflective
sentences per 1k tokens, the mean entropy of its pivotal words and of its reflective sentences,
its length and its repetition rate (`responses.jsonl`). Each metric is summarized with the
response as the unit: the mean over responses with a 95% cluster-bootstrap CI (prompts, then
responses). The difference B - A is paired by prompt when the runs share prompts (the same
benchmark problems: per-prompt means, Wilcoxon signed-rank across the shared prompts, bootstrap
over prompts) and otherwise compares independent samples (Mann-Whitney U; difference of
independent bootstrap replicates).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from entropykit.errors import UserError
from entropykit.io import atomic_write_json, atomic_write_text, ensure_writable_parent, iter_jsonl, refuse_replacing_inputs

from .stats import hierarchical_bootstrap_means

METRICS = (  # (field of responses.jsonl, label, short label for the terminal)
    ("pivotal_per_1k", "pivotal words per 1k tokens", "pivotal/1k"),
    ("reflective_per_1k", "reflective sentences per 1k tokens", "reflective/1k"),
    ("pivotal_mean_entropy", "mean entropy of pivotal words (nats)", "H pivotal"),
    ("reflective_mean_entropy", "mean entropy of reflective sentences (nats)", "H reflective"),
    ("num_tokens", "response length (tokens)", "length"),
    ("repetition_rate", "repetition rate", "repetition"),
)
TITLE = "entropykit analyze compare"  # the page's <title>: a rerun may replace its own page (refuse_replacing_inputs)
MIN_PROMPTS = 5  # fewer prompts: no bootstrap CI (two-stage resampling of 2-4 clusters means little), no pairing


def load_run(folder: str) -> dict:
    """summary.json and responses.jsonl of an analysis folder (UserError when missing)."""
    d = Path(folder)
    if not d.is_dir():
        raise UserError(f"{folder}: not a folder (give two `entropykit analyze --out` folders)")
    if not (d / "responses.jsonl").exists():
        if (d / "reproduce.json").exists():
            runs = sorted((r.parent for r in d.glob("*/analysis/responses.jsonl")), key=lambda r: (r.parent.name != "base", r.parent.name))
            raise UserError(f"{folder}: an `entropykit reproduce` folder, not an analysis: compare its analyses "
                            f"({' '.join(map(str, runs)) or f'{d}/base/analysis, {d}/VARIANT/analysis, once written'})")
        if (d / "problems.jsonl").exists():
            raise UserError(f"{folder}: an `entropykit passk` run, not an analysis (two passk runs: `entropykit passk "
                            f"compare A B`; its samples' entropy: `entropykit analyze {folder} --out DIR`)")
    for f in ("summary.json", "responses.jsonl"):
        if not (d / f).exists():
            raise UserError(f"{folder}: no {f} (run `entropykit analyze ... --out {folder}` first)")
    try:
        summary = json.loads((d / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"{d / 'summary.json'}: unreadable ({e})") from None
    rows = list(iter_jsonl(d / "responses.jsonl"))
    if not rows:
        raise UserError(f"{d / 'responses.jsonl'}: no responses")
    if "pivotal_per_1k" not in rows[0]:
        raise UserError(f"{folder}: made by an older `entropykit analyze`; rerun it to get the per-1k-token metrics")
    return {"folder": str(d), "summary": summary, "rows": rows}


def _values(rows: Sequence[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    vals, prompts = [], []
    for r in rows:
        v = r.get(key)
        if v is not None:
            vals.append(float(v))
            prompts.append(str(r.get("prompt_key", r.get("index"))))
    return np.asarray(vals, dtype=np.float64), np.asarray(prompts, dtype=object)


def _ci(reps: np.ndarray) -> list[float]:
    return [float(x) for x in np.percentile(reps, [2.5, 97.5])]


def compare_metric(rows_a, rows_b, key: str, *, n_boot: int = 2000, seed: int = 0) -> dict:
    """One metric of Figure 8 for runs A and B (see the module docstring)."""
    from scipy import stats

    rng = np.random.default_rng(seed)
    out: dict = {"metric": key}
    reps = {}
    (va, pa), (vb, pb) = _values(rows_a, key), _values(rows_b, key)
    for name, v, p in (("a", va, pa), ("b", vb, pb)):
        out[name] = {"responses": int(v.size), "prompts": int(len(set(p.tolist()))), "mean": float(v.mean()) if v.size else None, "ci95": None}
        if out[name]["prompts"] >= MIN_PROMPTS:
            reps[name] = hierarchical_bootstrap_means(v, p, n_boot, rng)
            out[name]["ci95"] = _ci(reps[name])
    out["diff"] = (out["b"]["mean"] - out["a"]["mean"]) if va.size and vb.size else None
    out["diff_ci95"] = out["p_value"] = None
    shared = sorted(set(pa.tolist()) & set(pb.tolist()))
    if len(shared) >= MIN_PROMPTS:
        ma = {k: va[pa == k].mean() for k in shared}
        mb = {k: vb[pb == k].mean() for k in shared}
        d = np.array([mb[k] - ma[k] for k in shared])
        out["pairing"] = f"paired by prompt ({len(shared)} shared prompts): per-prompt means, Wilcoxon signed-rank"
        out["diff"] = float(d.mean())
        out["diff_ci95"] = _ci(hierarchical_bootstrap_means(d, np.arange(d.size), n_boot, rng))
        if np.any(d != 0):
            out["p_value"] = float(stats.wilcoxon(d).pvalue)
    elif va.size >= 2 and vb.size >= 2:
        out["pairing"] = (f"independent samples ({len(shared)} shared prompts, fewer than {MIN_PROMPTS}): "
                          "Mann-Whitney U over responses")
        if "a" in reps and "b" in reps:
            out["diff_ci95"] = _ci(reps["b"] - reps["a"])
        out["p_value"] = float(stats.mannwhitneyu(vb, va, alternative="two-sided").pvalue)
    else:
        out["pairing"] = "too few responses"
    return out


def compare_runs(run_a: str, run_b: str, out: str, *, labels: Sequence[str] | None = None, n_boot: int = 2000, seed: int = 0) -> dict:
    """Compare two analysis folders; writes ``out`` (HTML) and its ``.json`` twin; returns the dict."""
    ensure_writable_parent(out)
    refuse_replacing_inputs([Path(out), Path(out).with_suffix(".json")], [run_a, run_b], own_title=TITLE)
    a, b = load_run(run_a), load_run(run_b)
    names = list(labels) if labels else [Path(run_a).name or run_a, Path(run_b).name or run_b]
    if len(names) != 2:
        raise UserError("--labels needs two names, e.g. --labels grpo,grpo+entropy")
    if names[0] == names[1]:
        names = [f"A: {names[0]}", f"B: {names[1]}"]
    warnings = []
    for what, key in (("pivotal lexicon", ("pivotal", "lexicon")), ("reflective patterns", ("reflection", "patterns"))):
        va, vb = (r["summary"].get(key[0], {}).get(key[1]) for r in (a, b))
        if va != vb:
            warnings.append(f"the runs used different {what}: their counts are not comparable")
    report = {
        "runs": [{"label": n, "folder": r["folder"], "scorer": r["summary"].get("model"), "responses": len(r["rows"])}
                 for n, r in zip(names, (a, b))],
        "metrics": [dict(compare_metric(a["rows"], b["rows"], k, n_boot=n_boot, seed=seed), label=lab, short=short)
                    for k, lab, short in METRICS],
        "warnings": warnings,
        "unit": "response (mean over responses; 95% CI: cluster bootstrap over prompts, then responses)",
    }
    atomic_write_json(Path(out).with_suffix(".json"), report)
    atomic_write_text(out, _html(report))
    return report


def _html(report: dict) -> str:
    from plotly.subplots import make_subplots

    from entropykit.html import escape, fig_html, fmt_p, page, table

    ms, runs = report["metrics"], report["runs"]
    cols = 3
    fig = make_subplots(rows=(len(ms) + cols - 1) // cols, cols=cols, subplot_titles=[m["label"] for m in ms],
                        vertical_spacing=0.16)
    colours = ("#7f7f7f", "#d62728")
    for j, m in enumerate(ms):
        for side, run, colour in (("a", runs[0], colours[0]), ("b", runs[1], colours[1])):
            s = m[side]
            ci = s["ci95"] or [s["mean"], s["mean"]] if s["mean"] is not None else [0, 0]
            fig.add_bar(x=[run["label"]], y=[s["mean"]], marker_color=colour, showlegend=False, row=j // cols + 1, col=j % cols + 1,
                        text=[f"n={s['responses']}"], textposition="outside", cliponaxis=False,
                        error_y=dict(type="data", symmetric=False, array=[(ci[1] - s["mean"]) if s["mean"] is not None else 0],
                                     arrayminus=[(s["mean"] - ci[0]) if s["mean"] is not None else 0], color="#333"),
                        hovertemplate=f"{escape(run['label'])}: %{{y:.3f}}<extra></extra>")
    fig.update_layout(title="Test-time dynamics per response (mean, 95% cluster-bootstrap CI; n = responses)")
    fig.update_annotations(font_size=13)

    def f(x, fmt="{:.3f}"):
        return "–" if x is None else fmt.format(x)

    def ci(c):
        return f"[{c[0]:.3f}, {c[1]:.3f}]" if c else "–"

    def cell(x):
        return f"{f(x['mean'])}" + (f" {ci(x['ci95'])}" if x["ci95"] else "") + f" (n={x['responses']})"

    rows = [[escape(m["label"]), cell(m["a"]), cell(m["b"]), f(m["diff"], "{:+.3f}"), ci(m["diff_ci95"]), fmt_p(m["p_value"]),
             escape(m.get("pairing", ""))] for m in ms]
    body = (f"<h1>Test-time dynamics: {escape(runs[0]['label'])} vs {escape(runs[1]['label'])}</h1>"
            + "".join(f"<p class='muted'>{escape(r['label'])}: <code>{escape(r['folder'])}</code>, {r['responses']} responses, scorer "
                      f"<code>{escape(r['scorer'])}</code></p>" for r in runs)
            + ("<div class='warn'><ul>" + "".join(f"<li>{escape(w)}</li>" for w in report["warnings"]) + "</ul></div>" if report["warnings"] else "")
            + fig_html(fig, "ek-plot-1", 680, top=90)
            + table(["metric", escape(runs[0]["label"]), escape(runs[1]["label"]), "B − A", "95% CI of B − A", "p", "test"], rows)
            + f"<p class='muted'>unit: {escape(report['unit'])}. Paper section 6.2, Figure 8.</p><p id='ek-status'>loading</p>")
    return page(TITLE, body)


def print_compare(report: dict, console=None) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    a, b = report["runs"]
    t = Table(title=f"A = {a['label']} ({a['responses']} responses)   B = {b['label']} ({b['responses']} responses)",
              title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("metric", "A [95% CI]", "B [95% CI]", "B - A [95% CI]", "p"):
        t.add_column(col, justify="left" if col == "metric" else "right", no_wrap=col == "metric")

    def fmt(x, c):
        return "-" if x is None else (f"{x:.3f}" + (f" [{c[0]:.2f},{c[1]:.2f}]" if c else ""))

    for m in report["metrics"]:
        p = m["p_value"]
        t.add_row(m["short"], fmt(m["a"]["mean"], m["a"]["ci95"]), fmt(m["b"]["mean"], m["b"]["ci95"]),
                  fmt(m["diff"], m["diff_ci95"]), "-" if p is None else f"{p:.2g}")
    t.caption = "per response (CI: cluster bootstrap); B - A " + report["metrics"][0].get("pairing", "")
    console.print(t)
    for w in report["warnings"]:
        console.print(f"[yellow]warning: {w}[/yellow]")
