"""`entropykit passk compare` with groups of runs: several passk run folders per side, each one
training seed of that side's method, all evaluated on the same problems with the same n (and,
for a comparison paired by sample as well as by problem, the same sample seeds).

Per benchmark it reads each run's per-problem rows (problems.jsonl) into one accuracy matrix per
group, ``acc[seed, problem]``, and reports, with the statistics of `entropykit.seed_stats`:

- per group the mean accuracy (pass@1) over seeds and problems, each seed's value, and the
  pass@k curve averaged over its seeds;
- per pair B - A: the difference of means with the two-level bootstrap CI (seeds resampled
  within each group, problems resampled jointly, so the pairing by problem is kept), the t
  interval (Satterthwaite df), the probability of improvement, the two-level CI of the pass@k
  difference at every k, and the crossover of the averaged curves;
- the test-time dynamics per group (the mean over its runs).

A group with one run is held fixed (the bootstrap cannot resample one seed): exact for an
untrained base model; for one training seed of a method it leaves that method's seed-to-seed
variance out of the intervals, which the report says. Writes `out` (HTML, self-contained) and
its .json twin; returns the report dict.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from entropykit.errors import UserError
from entropykit.evalkit.config import DYNAMICS_MAX_SAMPLES
from entropykit.evalkit.report import (
    COMPARE_TITLE, PAIRING_SETTINGS, PROMPT_SETTINGS, _dynamics_table, _load_run, _problem_rows, _prompts, dynamics,
)
from entropykit.html import escape, fig_html, page
from entropykit.io import atomic_write_json, atomic_write_text, refuse_replacing_inputs

N_RESAMPLES = 4000
METHOD = ("difference of means over seeds and problems; CIs: two-level bootstrap (seeds resampled within each group, "
          "problems resampled jointly, 95% percentile) and t with Satterthwaite df (accuracy only); P(B beats A): a "
          "random seed of B against a random seed of A on a random problem, ties count half")


def _finite(x):
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    return x


def _check_settings(runs: list[tuple[str, Path, dict]], bench: str) -> list[str]:
    """UserError when two runs were sampled with other settings than the model (temperature, top-p,
    max tokens, grader, chat, prompt template unless the prompts are the same); the notes
    (sample seeds that differ: then the runs are paired by problem only)."""
    (label0, dir0, s0), notes = runs[0], []
    first = s0.get("sampling") or {}
    for label, d, s in runs[1:]:
        samp = s.get("sampling") or {}
        for key in PAIRING_SETTINGS:
            if key == "seed" or samp.get(key) == first.get(key):
                continue
            raise UserError(f"{d} was sampled with {key} {samp.get(key)!r}, {dir0} with {first.get(key)!r}: a grouped "
                            "comparison compares models sampled the same way")
        for key in PROMPT_SETTINGS:
            if samp.get(key) != first.get(key) and _prompts(d, bench) != _prompts(dir0, bench):
                raise UserError(f"{d} was prompted with another {key.replace('_', ' ')} than {dir0}")
        if samp.get("seed") != first.get("seed") and not notes:
            notes.append(f"sample seeds differ ({dir0}: {first.get('seed')!r}, {d}: {samp.get('seed')!r}): the runs are "
                         "paired by problem, not by sample")
    return notes


def _matrices(groups: list[tuple[str, list[Path]]], loaded: dict[Path, dict], bench: str):
    """(problem ids, n, {group: acc [S, P]}, {group: {k: pass@k [S, P]}}, ks) of one benchmark;
    UserError when a run lacks it, or has other problems or another n than the first run."""
    import numpy as np

    ref_dir = groups[0][1][0]
    ref = _problem_rows(ref_dir, bench)
    if not ref:
        raise UserError(f"{ref_dir}: no per-problem rows of {bench} (problems.jsonl); rerun `entropykit passk` into it")
    pids = list(ref)
    ns = {int(r["n"]) for r in ref.values()}
    if len(ns) != 1:
        raise UserError(f"{ref_dir}: {bench} has uneven samples per problem ({', '.join(map(str, sorted(ns)))}); a "
                        "grouped comparison needs the same n for every problem")
    n = ns.pop()
    ks = None
    acc, pk = {}, {}
    for label, dirs in groups:
        rows_acc, rows_pk = [], []
        for d in dirs:
            rows = ref if d == ref_dir else _problem_rows(d, bench)
            if set(rows) != set(pids):
                lacks = [p for p in pids if p not in rows]
                extra = [p for p in rows if p not in ref]
                what = (f"lacks problem {lacks[0]}" + (f" and {len(lacks) - 1} more" if len(lacks) > 1 else "")
                        if lacks else f"has problem {extra[0]}, which {ref_dir} has not")
                raise UserError(f"{d} and {ref_dir} were evaluated on different problems of {bench}: {d} {what}")
            other_n = sorted({int(rows[p]["n"]) for p in pids} - {n})
            if other_n:
                raise UserError(f"{d} sampled n={other_n[0]} per problem of {bench}, {ref_dir} n={n}: a grouped "
                                "comparison needs the same n in every run")
            rows_acc.append([float(rows[p]["accuracy"]) for p in pids])
            run_ks = set.intersection(*[set((rows[p].get("pass_at_k") or {})) for p in pids])
            ks = run_ks if ks is None else ks & run_ks
            rows_pk.append(rows)
        acc[label] = np.asarray(rows_acc, dtype=np.float64)
        pk[label] = rows_pk
    ks = sorted(int(k) for k in ks or ())
    pk_mats = {label: {k: np.asarray([[float(r[p]["pass_at_k"][str(k)]) for p in pids] for r in runs], dtype=np.float64)
                       for k in ks} for label, runs in pk.items()}
    return pids, n, acc, pk_mats, ks


def _pair_stats(a, b, n: int, *, a_fixed: bool, b_fixed: bool, seed: int) -> dict:
    """B - A on accuracy matrices a [S_A, P], b [S_B, P]: seed_stats' two-level bootstrap, t interval
    (a one-run side fixed: as the base model) and probability of improvement."""
    from entropykit import seed_stats as st

    boot = st.two_level_bootstrap_diff(a, b, n_resamples=N_RESAMPLES, rng=seed)
    poi = st.probability_of_improvement(a, b, n_resamples=N_RESAMPLES, rng=seed)
    if a_fixed and b_fixed:
        t_low = t_high = t_df = float("nan")
    elif b_fixed:  # t_interval_diff fixes its first side: A - B, turned around
        t = st.t_interval_diff(b, a, n, a_is_base=True)
        t_low, t_high, t_df = -t.high, -t.low, t.df
    else:
        t = st.t_interval_diff(a, b, n, a_is_base=a_fixed)
        t_low, t_high, t_df = t.low, t.high, t.df
    t_excludes_0 = t_low > 0 or t_high < 0  # False when the t interval is not estimable (nan)
    return {"diff": boot.estimate, "bootstrap_ci95": [boot.low, boot.high], "t_ci95": [t_low, t_high], "t_df": t_df,
            "significant": bool(boot.excludes(0.0) and t_excludes_0),
            "probability_of_improvement": {"estimate": poi.estimate, "ci95": [poi.low, poi.high]}}


def _mean_dynamics(items: list[dict | None]) -> dict | None:
    """The mean over runs of each numeric field of their dynamics (responses: the sum)."""
    got = [d for d in items if d]
    if not got:
        return None
    out: dict = {"runs": len(got), "num_responses": sum(d.get("num_responses") or 0 for d in got)}
    for key in got[0]:
        if key in out or key == "count":  # responses per run: in num_responses
            continue
        vals = [d[key] for d in got if isinstance(d.get(key), (int, float)) and not isinstance(d.get(key), bool)
                and math.isfinite(d[key])]
        out[key] = sum(vals) / len(vals) if vals else None
    return out


def compare_groups(groups: Sequence[tuple[str, Sequence[str]]], out: str, *,
                   pairs: Sequence[tuple[int, int]] | None = None, fixed: Sequence[int] = (),
                   max_samples: int = DYNAMICS_MAX_SAMPLES, seed: int = 0) -> dict:
    """Compare groups of passk runs (see the module docstring). `groups`: (label, run folders);
    `pairs`: (A, B) group indices (default: the first group against each other); `fixed`: groups
    that are one untrained model (the base; a one-run group is held fixed anyway, `fixed` only
    changes what the report says about it)."""
    import plotly.graph_objects as go

    from entropykit import seed_stats as st
    from entropykit.evalkit.metrics import crossover_k
    from entropykit.evalkit.passk_html import PALETTE, log2_axis

    if len(groups) < 2:
        raise UserError("a grouped passk compare needs two or more groups (A1 A2 -- B1 B2)")
    labels = [g for g, _ in groups]
    if len(set(labels)) != len(labels):
        raise UserError(f"group labels must differ: {', '.join(labels)}")
    for label, dirs in groups:
        if not dirs:
            raise UserError(f"group {label} has no run folder (give A1 A2 -- B1 B2)")
        for d in dirs:
            if not Path(d).is_dir():
                raise UserError(f"{d}: not a folder")
    all_dirs = [Path(d) for _, dirs in groups for d in dirs]
    if len(set(p.resolve() for p in all_dirs)) != len(all_dirs):
        dup = next(p for p in all_dirs if sum(q.resolve() == p.resolve() for q in all_dirs) > 1)
        raise UserError(f"{dup} is given twice: each run folder is one model")
    outp = Path(out)
    refuse_replacing_inputs([outp, outp.with_suffix(".json")], [str(p) for p in all_dirs], own_title=COMPARE_TITLE)
    loaded = {p: _load_run(p) for p in all_dirs}
    gdirs = [(label, [Path(d) for d in dirs]) for label, dirs in groups]
    pairs = list(pairs) if pairs is not None else [(0, j) for j in range(1, len(groups))]
    benches = list(loaded[all_dirs[0]]["benchmarks"])
    for p in all_dirs[1:]:
        mine = list(loaded[p]["benchmarks"])
        if set(mine) != set(benches):
            raise UserError(f"{p} holds benchmarks {', '.join(mine) or 'none'}, {all_dirs[0]} {', '.join(benches) or 'none'}: "
                            "the runs of a grouped comparison are evaluated on the same problems")
    if not benches:
        raise UserError(f"{all_dirs[0]}: no benchmark with a gradable problem to compare")
    size = {label: len(dirs) for label, dirs in gdirs}
    report: dict = {"groups": [{"label": label, "runs": [str(d) for d in dirs], "fixed": i in fixed or len(dirs) == 1}
                               for i, (label, dirs) in enumerate(gdirs)],
                    "pairs": [[labels[a], labels[b]] for a, b in pairs], "benchmarks": {}, "dynamics": {},
                    "method": METHOD, "notes": []}
    for i, (label, dirs) in enumerate(gdirs):
        if len(dirs) == 1 and i not in fixed:
            report["notes"].append(f"{label} has one run: it is held fixed, as an untrained base model is; if it is one "
                                   "training seed of a method, that method's seed-to-seed variance is not in the intervals")
    parts = [f"<p>{escape(METHOD)}.</p>"]
    for bench in benches:
        runs = [(label, d, loaded[d]) for label, dirs in gdirs for d in dirs]
        notes = _check_settings(runs, bench)
        pids, n, acc, pk, ks = _matrices(gdirs, loaded, bench)
        entry: dict = {"problems": len(pids), "samples_per_problem": n, "ks": ks, "notes": notes, "groups": {}, "pairs": []}
        for label, dirs in gdirs:
            m = acc[label]
            curves = [loaded[d]["benchmarks"][bench].get("pass_at_k") or {} for d in dirs]
            entry["groups"][label] = {
                "runs": [str(d) for d in dirs], "mean_accuracy": float(m.mean()),
                "seeds": [float(x) for x in m.mean(axis=1)],
                "pass_at_k": {str(k): float(pk[label][k].mean()) for k in ks},
                "pass_at_k_per_run": [{str(k): float(c[str(k)]) for k in ks if str(k) in c} for c in curves]}
        for ia, ib in pairs:
            la, lb = labels[ia], labels[ib]
            a_fixed, b_fixed = size[la] == 1, size[lb] == 1
            row = {"a": la, "b": lb, "seeds": {"a": size[la], "b": size[lb]},
                   **_pair_stats(acc[la], acc[lb], n, a_fixed=a_fixed, b_fixed=b_fixed, seed=seed)}
            row["pass_at_k"] = {}
            for k in ks:
                bk = st.two_level_bootstrap_diff(pk[la][k], pk[lb][k], n_resamples=N_RESAMPLES, rng=seed)
                row["pass_at_k"][str(k)] = {"diff": bk.estimate, "ci95": [bk.low, bk.high]}
            if len(ks) >= 2:
                ya = [entry["groups"][la]["pass_at_k"][str(k)] for k in ks]
                yb = [entry["groups"][lb]["pass_at_k"][str(k)] for k in ks]
                cx = crossover_k(ks, ya, yb)
                who = {"a": la, "b": lb, "tie": "tie"}
                row["crossover"] = {"leader_at_min_k": who[cx["leader_at_min_k"]], "leader_at_max_k": who[cx["leader_at_max_k"]],
                                    "crossover_k": cx["first_k"], "crossover_k_interp": cx["k_interp"]}
            entry["pairs"].append(row)
        report["benchmarks"][bench] = entry
        parts.append(_bench_html(go, bench, entry, labels, PALETTE, log2_axis, len(report["benchmarks"])))
    for label, dirs in gdirs:
        report["dynamics"][label] = _mean_dynamics([dynamics(d, max_samples) for d in dirs])
    parts.append(_dynamics_table(report["dynamics"]).replace("<th>model</th>", "<th>group (mean over its runs)</th>"))
    report = _finite(report)
    title = COMPARE_TITLE + " vs ".join(f"{label} ({size[label]} run{'s' if size[label] > 1 else ''})" for label in labels)
    notes_html = "".join(f"<p><b>Note.</b> {escape(x)}</p>" for x in report["notes"])
    runs_html = "<ul>" + "".join(f"<li>{escape(g['label'])}: {escape(', '.join(g['runs']))}</li>" for g in report["groups"]) + "</ul>"
    atomic_write_text(outp, page(title, f"<h1>{escape(title)}</h1>{runs_html}{notes_html}" + "".join(parts)
                                 + "<p id='ek-status'>loading</p>"))
    atomic_write_json(outp.with_suffix(".json"), report)
    return report


def _pts(x, signed: bool = True) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}"


def _ci(lohi) -> str:
    lo, hi = lohi
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return "—"
    return f"[{_pts(lo)}, {_pts(hi)}]"


def _bench_html(go, bench: str, e: dict, labels: list[str], palette, log2_axis, idx: int) -> str:
    from entropykit.html import table

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
    g_rows = [[escape(label), str(len(e["groups"][label]["runs"])), _pts(e["groups"][label]["mean_accuracy"], False),
               escape(", ".join(_pts(x, False) for x in e["groups"][label]["seeds"]))] for label in labels]
    p_rows = []
    for p in e["pairs"]:
        poi = p["probability_of_improvement"]
        p_rows.append([escape(f"{p['b']} - {p['a']}"), ("<b>" if p["significant"] else "") + _pts(p["diff"])
                       + ("</b>" if p["significant"] else ""), _ci(p["bootstrap_ci95"]), _ci(p["t_ci95"]),
                       f"{poi['estimate']:.2f} [{poi['ci95'][0]:.2f}, {poi['ci95'][1]:.2f}]"]
                      + [f"{_pts(p['pass_at_k'][str(k)]['diff'])} {_ci(p['pass_at_k'][str(k)]['ci95'])}" for k in e["ks"]])
    notes = "".join(f"<p>{escape(x)}</p>" for x in e["notes"])
    return (f"<h2>{escape(bench)}: {e['problems']} problems x {e['samples_per_problem']} samples</h2>{notes}"
            + fig_html(fig, f"ek-gc-curves-{idx}", 460) + fig_html(dots, f"ek-gc-dots-{idx}", 360)
            + table(["group", "runs", "mean accuracy (%)", "per run (%)"], g_rows)
            + f"<h3>{escape(bench)}: B - A (points)</h3>"
            + table(["B - A", "difference", "two-level bootstrap 95% CI", "t 95% CI", "P(B beats A)"]
                    + [f"pass@{k} (two-level CI)" for k in e["ks"]], p_rows)
            + "<p>Bold: both intervals exclude 0. The pass@k columns: the difference of the groups' mean pass@k with "
              "its two-level bootstrap CI.</p>")


def print_group_compare(report: dict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    for note in report.get("notes", []):
        console.print(f"[yellow]{note}[/yellow]", highlight=False)
    for bench, e in report["benchmarks"].items():
        for note in e.get("notes", []):
            console.print(f"[yellow]{bench}: {note}[/yellow]", highlight=False)
        g = Table(title=f"{bench}: {e['problems']} problems x {e['samples_per_problem']} samples, mean over each group's runs",
                  min_width=60)
        g.add_column("group")
        g.add_column("runs", justify="right")
        g.add_column("mean accuracy (%)", justify="right")
        g.add_column("per run (%)", justify="right")
        for k in e["ks"]:
            g.add_column(f"pass@{k}", justify="right")
        for label, grp in e["groups"].items():
            g.add_row(label, str(len(grp["runs"])), _pts(grp["mean_accuracy"], False),
                      ", ".join(_pts(x, False) for x in grp["seeds"]),
                      *[_pts(grp["pass_at_k"][str(k)], False) for k in e["ks"]])
        console.print(g)
        t = Table(title=f"{bench}: B - A (points)", min_width=60)
        for col in ("B - A", "difference", "two-level 95% CI", "t 95% CI", "P(B beats A)"):
            t.add_column(col, justify="left" if col == "B - A" else "right")
        for p in e["pairs"]:
            poi = p["probability_of_improvement"]
            t.add_row(f"{p['b']} - {p['a']}", _pts(p["diff"]), _ci(p["bootstrap_ci95"]), _ci(p["t_ci95"]),
                      f"{poi['estimate']:.2f} [{poi['ci95'][0]:.2f}, {poi['ci95'][1]:.2f}]")
        t.caption = ("two-level: bootstrap, seeds resampled within each group and problems jointly; t: Satterthwaite df"
                     + ("; pass@k differences with their CIs: the HTML page and its JSON" if len(e["ks"]) > 1 else ""))
        console.print(t)
