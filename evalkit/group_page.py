"""The page and the terminal tables of a grouped `passk compare` (its report: `group_compare`):
per benchmark the pass@k curves averaged over each group's runs (each run dotted), a dot per
run, the groups' table and the B - A table; offline HTML (plotly.js inlined)."""

from __future__ import annotations

from pathlib import Path

from entropykit.evalkit.group_stats import points, points_ci
from entropykit.evalkit.report import COMPARE_TITLE, _dynamics_table
from entropykit.html import escape, fig_html, page, table
from entropykit.io import atomic_write_json, atomic_write_text


def _poi(p: dict) -> str:
    poi = p["probability_of_improvement"]
    return f"{poi['estimate']:.2f} [{poi['ci95'][0]:.2f}, {poi['ci95'][1]:.2f}]"


def _pair_notes(e: dict) -> list[str]:
    """"B - A: note" for every pair whose intervals carry a note (a null t interval, and why)."""
    return [f"{p['b']} - {p['a']}: {p['ci_note']}" for p in e["pairs"] if p.get("ci_note")]


def write_page(outp: Path, report: dict) -> None:
    """`outp` (HTML) and its .json twin, `report`."""
    import plotly.graph_objects as go

    from entropykit.evalkit.passk_html import PALETTE, log2_axis

    labels = [g["label"] for g in report["groups"]]
    size = {g["label"]: len(g["runs"]) for g in report["groups"]}
    parts = [f"<p>{escape(report['method'])}.</p>"]
    for idx, (bench, e) in enumerate(report["benchmarks"].items(), start=1):
        parts.append(_bench_html(go, bench, e, labels, PALETTE, log2_axis, idx))
    parts.append(_dynamics_table(report["dynamics"]).replace("<th>model</th>", "<th>group (mean over its runs)</th>"))
    title = COMPARE_TITLE + " vs ".join(f"{label} ({size[label]} run{'s' if size[label] > 1 else ''})" for label in labels)
    notes_html = "".join(f"<p><b>Note.</b> {escape(x)}</p>" for x in report["notes"])
    runs_html = "<ul>" + "".join(f"<li>{escape(g['label'])}: {escape(', '.join(g['runs']))}</li>" for g in report["groups"]) + "</ul>"
    atomic_write_text(outp, page(title, f"<h1>{escape(title)}</h1>{runs_html}{notes_html}" + "".join(parts)
                                 + "<p id='ek-status'>loading</p>"))
    atomic_write_json(outp.with_suffix(".json"), report)


def _bench_html(go, bench: str, e: dict, labels: list[str], palette, log2_axis, idx: int) -> str:
    fig = go.Figure()
    for i, label in enumerate(labels):
        g, color = e["groups"][label], palette[i % len(palette)]
        if not e["ks"]:
            continue
        for j, c in enumerate(g["pass_at_k_per_run"]):
            ks = [int(k) for k in c]
            fig.add_trace(go.Scatter(x=ks, y=[c[str(k)] for k in ks], mode="lines", line=dict(color=color, width=1, dash="dot"),
                                     opacity=0.5, name=f"{label} run {j + 1}", legendgroup=label, showlegend=False,
                                     hovertemplate="k=%{x}<br>pass@k=%{y:.4f}<extra>" + escape(g["runs"][j]) + "</extra>"))
        fig.add_trace(go.Scatter(x=e["ks"], y=[g["pass_at_k"][str(k)] for k in e["ks"]], mode="lines+markers",
                                 line=dict(color=color, width=3), name=f"{label} (mean of {len(g['runs'])})", legendgroup=label,
                                 hovertemplate="k=%{x}<br>mean pass@k=%{y:.4f}<extra>" + escape(label) + "</extra>"))
    fig.update_layout(title=f"{bench}: pass@k, mean over each group's runs (dotted: each run)",
                      xaxis=log2_axis(e["ks"] or [1]), yaxis=dict(title="pass@k", rangemode="tozero"))
    dots = go.Figure()
    for i, label in enumerate(labels):
        g, color = e["groups"][label], palette[i % len(palette)]
        dots.add_trace(go.Scatter(x=[label] * len(g["seeds"]), y=g["seeds"], mode="markers", marker=dict(color=color, size=9),
                                  name=label, text=g["runs"], hovertemplate="%{text}<br>accuracy %{y:.4f}<extra></extra>"))
        dots.add_trace(go.Scatter(x=[label], y=[g["mean_accuracy"]], mode="markers", showlegend=False,
                                  marker=dict(color=color, size=22, symbol="line-ew-open", line=dict(width=3)),
                                  hovertemplate="mean %{y:.4f}<extra>" + escape(label) + "</extra>"))
    dots.update_layout(title=f"{bench}: mean accuracy of each run (a dot per seed; bar: the group's mean)",
                       yaxis=dict(title="mean accuracy", rangemode="tozero"), showlegend=False)
    g_rows = [[escape(label), str(len(e["groups"][label]["runs"])), points(e["groups"][label]["mean_accuracy"]),
               escape(", ".join(points(x) for x in e["groups"][label]["seeds"]))] for label in labels]
    p_rows = []
    for p in e["pairs"]:
        bold = ("<b>", "</b>") if p["significant"] else ("", "")
        p_rows.append([escape(f"{p['b']} - {p['a']}"), bold[0] + points(p["diff"], signed=True) + bold[1],
                       points_ci(p["bootstrap_ci95"]), points_ci(p["t_ci95"]), _poi(p)]
                      + [f"{points(p['pass_at_k'][str(k)]['diff'], signed=True)} {points_ci(p['pass_at_k'][str(k)]['ci95'])}"
                         for k in e["ks"]])
    notes = "".join(f"<p>{escape(x)}</p>" for x in e["notes"])
    pair_notes = "".join(f"<p>{escape(x)}</p>" for x in _pair_notes(e))
    return (f"<h2>{escape(bench)}: {e['problems']} problems x {e['samples_per_problem']} samples</h2>{notes}"
            + fig_html(fig, f"ek-gc-curves-{idx}", 460) + fig_html(dots, f"ek-gc-dots-{idx}", 360)
            + table(["group", "runs", "mean accuracy (%)", "per run (%)"], g_rows)
            + f"<h3>{escape(bench)}: B - A (points)</h3>"
            + table(["B - A", "difference", "two-level bootstrap 95% CI", "t 95% CI", "P(B beats A)"]
                    + [f"pass@{k} (two-level CI)" for k in e["ks"]], p_rows)
            + pair_notes
            + "<p>Bold: both intervals exclude 0. The pass@k columns: the difference of the groups' mean pass@k with "
              "its two-level bootstrap CI.</p>")


def print_group_compare(report: dict, console=None) -> None:
    """The report's notes, then per benchmark the groups' table and the B - A table (rich)."""
    from rich.console import Console
    from rich.markup import escape as escape_markup
    from rich.table import Table

    console = console or Console()
    for note in report.get("notes", []):
        console.print(f"[yellow]{escape_markup(note)}[/yellow]", highlight=False)
    for bench, e in report["benchmarks"].items():
        for note in e.get("notes", []):
            console.print(f"[yellow]{escape_markup(f'{bench}: {note}')}[/yellow]", highlight=False)
        g = Table(title=f"{bench}: {e['problems']} problems x {e['samples_per_problem']} samples, mean over each group's runs",
                  min_width=60)
        g.add_column("group")
        g.add_column("runs", justify="right")
        g.add_column("mean accuracy (%)", justify="right")
        g.add_column("per run (%)", justify="right")
        for k in e["ks"]:
            g.add_column(f"pass@{k}", justify="right")
        for label, grp in e["groups"].items():
            g.add_row(label, str(len(grp["runs"])), points(grp["mean_accuracy"]), ", ".join(points(x) for x in grp["seeds"]),
                      *[points(grp["pass_at_k"][str(k)]) for k in e["ks"]])
        console.print(g)
        t = Table(title=f"{bench}: B - A (points)", min_width=60)
        for col in ("B - A", "difference", "two-level 95% CI", "t 95% CI", "P(B beats A)"):
            t.add_column(col, justify="left" if col == "B - A" else "right")
        for p in e["pairs"]:
            t.add_row(f"{p['b']} - {p['a']}", points(p["diff"], signed=True), points_ci(p["bootstrap_ci95"]),
                      points_ci(p["t_ci95"]), _poi(p))
        t.caption = ("two-level: bootstrap, seeds resampled within each group and problems jointly; t: Satterthwaite df"
                     + ("; pass@k differences with their CIs: the HTML page and its JSON" if len(e["ks"]) > 1 else ""))
        console.print(t)
        for note in _pair_notes(e):
            console.print(f"[yellow]{escape_markup(note)}[/yellow]", highlight=False)
