"""Scoring and outputs: summary.json, problems.jsonl, the terminal table, passk.html, compare.

All HTML is self-contained (plotly.js inlined): it opens offline.
"""

from __future__ import annotations

import html as _html
import json
import math
from pathlib import Path
from typing import Sequence


from entropykit.errors import UserError
from entropykit.evalkit.metrics import bootstrap_ci, crossover_k, pass_at_k_table
from entropykit.io import atomic_write_json, atomic_write_jsonl, atomic_write_text, iter_jsonl


def _r(x: float) -> float:
    return float(round(float(x), 12))


def score_records(records: Sequence[dict], ks: Sequence[int], order: Sequence[str] | None = None) -> tuple[dict, list[dict]]:
    """(summary, per-problem rows) for verified records (benchmark, problem_id, correct)."""
    groups: dict[str, dict[str, list[dict]]] = {}
    for r in records:
        groups.setdefault(str(r["benchmark"]), {}).setdefault(str(r["problem_id"]), []).append(r)
    names = list(order or []) + sorted(set(groups) - set(order or []))
    benches: dict = {}
    problems: list[dict] = []
    for name in names:
        probs = groups.get(name)
        if not probs:
            continue
        counts, rows = [], []
        for pid, recs in probs.items():
            n = len(recs)
            c = sum(1 for x in recs if x.get("correct"))
            counts.append((n, c))
            rows.append((pid, recs, n, c))
        try:
            table = pass_at_k_table(counts, ks)
        except ValueError as e:
            raise UserError(str(e)) from None
        lo, hi = bootstrap_ci(table)
        means = table.mean(axis=0)
        ns = sorted({n for n, _ in counts})
        num_samples = sum(n for n, _ in counts)
        benches[name] = {
            "num_problems": len(counts),
            "n": ns[0] if len(ns) == 1 else min(ns),
            "num_samples": num_samples,
            "mean_accuracy": _r(sum(c for _, c in counts) / num_samples),
            "pass_at_k": {str(k): _r(m) for k, m in zip(ks, means)},
            "pass_at_k_ci95": {str(k): [_r(a), _r(b)] for k, a, b in zip(ks, lo, hi)},
            "timeouts": sum(1 for _, recs, _, _ in rows for x in recs if x.get("timed_out")),
        }
        for (pid, recs, n, c), prow in zip(rows, table):
            problems.append({
                "benchmark": name, "problem_id": pid, "n": n, "c": c,
                "answer": recs[0].get("answer"),
                "accuracy": _r(c / n),
                "pass_at_k": {str(k): _r(v) for k, v in zip(ks, prow)},
                "timeouts": sum(1 for x in recs if x.get("timed_out")),
            })
    return {"benchmarks": benches}, problems


def write_outputs(out: Path, summary: dict, problems: list[dict], *, html: bool = True) -> None:
    out = Path(out)
    atomic_write_json(out / "summary.json", {k: v for k, v in summary.items() if not k.startswith("_")})
    atomic_write_jsonl(out / "problems.jsonl", problems)
    if html:
        atomic_write_text(out / "passk.html", passk_html(summary))


def print_table(summary: dict, console=None, title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    for name, b in summary["benchmarks"].items():
        t = Table(title=title or f"{name}: {b['num_problems']} problems x n={b['n']}", min_width=60)
        t.add_column("k", justify="right")
        t.add_column("pass@k", justify="right")
        t.add_column("95% CI", justify="right")
        for k, v in b["pass_at_k"].items():
            lo, hi = b.get("pass_at_k_ci95", {}).get(k, [float("nan")] * 2)
            t.add_row(k, f"{100 * v:.2f}%", f"[{100 * lo:.1f}, {100 * hi:.1f}]")
        t.caption = f"model {summary.get('model')}; mean accuracy (Avg) {100 * b['mean_accuracy']:.2f}%" + (
            f", {b['timeouts']} verifier timeouts" if b.get("timeouts") else "")
        console.print(t)


# ---------------------------------------------------------------------------------------------
# HTML


def _log2_axis(ks: list[int]) -> dict:
    return dict(type="log", tickvals=ks, ticktext=[str(k) for k in ks], title="k (log2 scale)")


def _curve_traces(go, label: str, b: dict, color: str | None = None) -> list:
    ks = [int(k) for k in b["pass_at_k"]]
    ys = [b["pass_at_k"][str(k)] for k in ks]
    ci = b.get("pass_at_k_ci95") or {}
    traces = []
    if ci:
        lo = [ci[str(k)][0] for k in ks]
        hi = [ci[str(k)][1] for k in ks]
        traces.append(go.Scatter(x=ks + ks[::-1], y=hi + lo[::-1], fill="toself", line=dict(width=0),
                                 opacity=0.2, hoverinfo="skip", showlegend=False, name=f"{label} 95% CI",
                                 fillcolor=color, legendgroup=label))
    traces.append(go.Scatter(x=ks, y=ys, mode="lines+markers", name=label, legendgroup=label,
                             line=dict(color=color) if color else None,
                             hovertemplate="k=%{x}<br>pass@k=%{y:.4f}<extra>" + _html.escape(label) + "</extra>"))
    return traces


_PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def _figure_html(fig, first: bool) -> str:
    import plotly.io as pio

    return pio.to_html(fig, include_plotlyjs=True if first else False, full_html=False)


def passk_html(summary: dict) -> str:
    import plotly.graph_objects as go

    parts = []
    for i, (name, b) in enumerate(summary["benchmarks"].items()):
        fig = go.Figure(_curve_traces(go, name, b, _PALETTE[i % len(_PALETTE)]))
        ks = [int(k) for k in b["pass_at_k"]]
        fig.update_layout(title=f"{name}: pass@k ({b['num_problems']} problems, n={b['n']}, "
                                f"Avg {100 * b['mean_accuracy']:.1f}%) — shaded: bootstrap 95% CI over problems",
                          xaxis=_log2_axis(ks), yaxis=dict(title="pass@k", rangemode="tozero"),
                          template="plotly_white", height=480)
        parts.append(_figure_html(fig, i == 0))
    sampling = _html.escape(json.dumps(summary.get("sampling", {}), ensure_ascii=False))
    return _page(f"pass@k — {summary.get('model')}", "".join(parts) + f"<p><small>sampling: {sampling}</small></p>")


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>" + _html.escape(str(title)) + "</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}</style></head><body>"
        "<h1>" + _html.escape(str(title)) + "</h1>" + body + "</body></html>"
    )


# ---------------------------------------------------------------------------------------------
# compare


def _load_run(d: Path) -> dict:
    p = d / "summary.json"
    if not p.exists():
        raise UserError(f"{d}: no summary.json (run `entropykit passk ... --out {d}` first)")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"{p}: unreadable ({e})") from None


def dynamics(samples_path: Path, max_samples: int = 2000) -> dict | None:
    """Mean test-time dynamics over (up to max_samples, evenly spread) responses of a run."""
    if not samples_path.exists():
        return None
    from entropykit.response_metrics import aggregate_metrics, response_metrics

    recs = list(iter_jsonl(samples_path, required=("response",)))
    if not recs:
        return None
    step = max(1, math.ceil(len(recs) / max_samples))
    rows = [response_metrics(r["response"], r.get("num_tokens")) for r in recs[::step]]
    agg = aggregate_metrics(rows)
    agg["num_responses"] = len(rows)
    return agg


def compare_runs(dirs: Sequence[str], out: str, *, labels: Sequence[str] | None = None, max_samples: int = 2000) -> dict:
    """Overlay pass@k curves of several runs; crossover k and test-time dynamics per model.

    Writes `out` (HTML) and `out` with suffix .json; returns the report dict.
    """
    import plotly.graph_objects as go

    if len(dirs) < 2:
        raise UserError("passk compare needs at least two run folders")
    runs = []
    for d in dirs:
        p = Path(d)
        if not p.is_dir():
            raise UserError(f"{d}: not a folder")
        runs.append((p, _load_run(p)))
    names = list(labels) if labels else []
    if not names:
        raw = [str(s.get("model") or p.name) for p, s in runs]
        names = raw if len(set(raw)) == len(raw) else [f"{p.name}" for p, _ in runs]
        if len(set(names)) != len(names):
            names = [f"{n} ({i + 1})" for i, n in enumerate(names)]
    if len(names) != len(runs):
        raise UserError("--labels must give one label per run folder")

    report: dict = {"runs": [{"label": n, "dir": str(p), "model": s.get("model"), "sampling": s.get("sampling")}
                             for n, (p, s) in zip(names, runs)], "benchmarks": {}, "dynamics": {}}
    bench_names = list(dict.fromkeys(b for _, s in runs for b in s.get("benchmarks", {})))
    parts = []
    first = True
    for bname in bench_names:
        present = [(n, s["benchmarks"][bname]) for n, (_, s) in zip(names, runs) if bname in s.get("benchmarks", {})]
        fig = go.Figure()
        for i, (n, b) in enumerate(present):
            for tr in _curve_traces(go, n, b, _PALETTE[i % len(_PALETTE)]):
                fig.add_trace(tr)
        common = sorted(set.intersection(*[set(int(k) for k in b["pass_at_k"]) for _, b in present]))
        entry = {"curves": {n: b["pass_at_k"] for n, b in present},
                 "mean_accuracy": {n: b["mean_accuracy"] for n, b in present}, "crossovers": []}
        if len(present) >= 2 and common:
            ref_name, ref = present[0]
            for n, b in present[1:]:
                cx = crossover_k(common, [ref["pass_at_k"][str(k)] for k in common], [b["pass_at_k"][str(k)] for k in common])
                who = {"a": ref_name, "b": n, "tie": "tie"}
                entry["crossovers"].append({
                    "a": ref_name, "b": n, "ks": common,
                    "leader_at_min_k": who[cx["leader_at_min_k"]], "leader_at_max_k": who[cx["leader_at_max_k"]],
                    "crossover_k": cx["first_k"], "crossover_k_interp": cx["k_interp"],
                })
                if cx["k_interp"]:
                    fig.add_vline(x=cx["k_interp"], line_dash="dot", line_color="gray",
                                  annotation_text=f"{who[cx['leader_at_max_k']]} overtakes at k≈{cx['k_interp']:.1f}")
        allks = sorted({int(k) for _, b in present for k in b["pass_at_k"]})
        fig.update_layout(title=f"{bname}: pass@k", xaxis=_log2_axis(allks),
                          yaxis=dict(title="pass@k", rangemode="tozero"), template="plotly_white", height=480)
        parts.append(_figure_html(fig, first))
        first = False
        parts.append(_crossover_table(bname, entry))
        report["benchmarks"][bname] = entry
    for n, (p, _) in zip(names, runs):
        report["dynamics"][n] = dynamics(p / "samples.jsonl", max_samples)
    parts.append(_dynamics_table(report["dynamics"]))
    outp = Path(out)
    atomic_write_text(outp, _page("pass@k comparison: " + " vs ".join(names), "".join(parts)))
    atomic_write_json(outp.with_suffix(".json"), report)
    return report


def _crossover_table(bname: str, entry: dict) -> str:
    rows = ["<tr><th>A</th><th>B</th><th>ahead at smallest k</th><th>ahead at largest k</th>"
            "<th>first k where the order flips</th><th>crossing (log2-interpolated)</th></tr>"]
    for c in entry["crossovers"]:
        ki = "—" if c["crossover_k_interp"] is None else f"{c['crossover_k_interp']:.2f}"
        rows.append("<tr>" + "".join(f"<td>{_html.escape(str(x))}</td>" for x in (
            c["a"], c["b"], c["leader_at_min_k"], c["leader_at_max_k"],
            "none" if c["crossover_k"] is None else c["crossover_k"], ki)) + "</tr>")
    return f"<h3>{_html.escape(bname)}: crossover</h3><table>{''.join(rows)}</table>"


def _dynamics_table(dyn: dict) -> str:
    cols = [("num_responses", "responses"), ("mean_num_tokens", "length (tokens)"), ("mean_num_words", "words"),
            ("mean_repetition_rate", "repetition rate"), ("mean_pivotal_count", "pivotal tokens"),
            ("mean_reflective_count", "reflective sentences")]
    head = "<tr><th>model</th>" + "".join(f"<th>{h}</th>" for _, h in cols) + "</tr>"
    body = []
    for n, d in dyn.items():
        cells = []
        for key, _ in cols:
            v = None if d is None else d.get(key)
            cells.append("—" if v is None or (isinstance(v, float) and math.isnan(v)) else
                         (f"{v:.3f}" if isinstance(v, float) else str(v)))
        body.append(f"<tr><td>{_html.escape(n)}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return "<h3>Test-time dynamics (per response, means)</h3><table>" + head + "".join(body) + "</table>"


def print_compare(report: dict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    for bname, e in report["benchmarks"].items():
        t = Table(title=f"{bname}: pass@k")
        labels = list(e["curves"])
        ks = sorted({int(k) for c in e["curves"].values() for k in c})
        t.add_column("k", justify="right")
        for n in labels:
            t.add_column(n, justify="right")
        for k in ks:
            t.add_row(str(k), *[f"{100 * e['curves'][n][str(k)]:.2f}%" if str(k) in e["curves"][n] else "—" for n in labels])
        caps = []
        for c in e["crossovers"]:
            if c["crossover_k"] is None:
                caps.append(f"{c['a']} vs {c['b']}: no crossover ({c['leader_at_min_k']} ahead throughout)")
            else:
                caps.append(f"{c['leader_at_max_k']} overtakes {c['leader_at_min_k']} at k={c['crossover_k']} "
                            f"(≈{c['crossover_k_interp']:.1f})")
        t.caption = "; ".join(caps)
        console.print(t)
