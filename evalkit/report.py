"""Scoring and outputs: summary.json, problems.jsonl, the terminal table, passk.html, compare.

The tallies (per-problem n and c, pass@k) come from `entropykit.evalkit.metrics`; passk.html is
built by `entropykit.evalkit.passk_html`. All HTML is self-contained (plotly.js inlined): it
opens offline.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

from entropykit.errors import UserError
from entropykit.evalkit.config import DYNAMICS_MAX_SAMPLES
from entropykit.evalkit.metrics import (
    bootstrap_ci, crossover_k, maj_at_k_table, mean_accuracy, paired_difference, pass_at_k_table, problem_tallies,
)
from entropykit.evalkit.passk_html import PALETTE, curve_traces, log2_axis, passk_page
from entropykit.html import escape, fig_html, page
from entropykit.evalkit.run_folder import load_samples
from entropykit.io import atomic_write_json, atomic_write_jsonl, atomic_write_text, refuse_replacing_inputs


def _r(x: float) -> float:
    return float(round(float(x), 12))


def score_records(records: Sequence[dict], ks: Sequence[int], order: Sequence[str] | None = None, *,
                  vote_cache: Path | None = None, verify_timeout: float = 5.0,
                  verify_workers: int | None = None, log=None) -> tuple[dict, list[dict]]:
    """(summary, per-problem rows) for verified records (benchmark, problem_id, correct; `pred`,
    the graded answer, for maj@k).

    A problem whose gold answer is empty or does not parse can never be answered right: it is
    left out of pass@k and mean accuracy (not counted as a failure of the model) and named under
    the benchmark's ``ungradable_gold``.

    maj@k (`entropykit.pass_at_k.maj_at_k`) comes from the answer classes of
    `entropykit.evalkit.majority.vote_classes` (pair checks in a verifier pool with
    `verify_timeout`/`verify_workers`, cached in `vote_cache`); a benchmark whose records lack
    `pred` gets no maj@k (``maj_at_k_note`` says why)."""
    from entropykit.evalkit.majority import vote_classes
    from entropykit.verify import gold_is_gradable

    gold: dict[tuple[str, str], object] = {}
    for r in records:
        gold.setdefault((str(r["benchmark"]), str(r["problem_id"])), r.get("answer"))
    ungradable = {key for key, g in gold.items() if not gold_is_gradable("" if g is None else g)}
    graded = [r for r in records if (str(r["benchmark"]), str(r["problem_id"])) not in ungradable]
    tallies = problem_tallies(graded)
    votes = vote_classes(graded, cache_path=vote_cache, timeout_s=verify_timeout, workers=verify_workers, log=log)
    names = list(order or []) + sorted(set(tallies) - set(order or []))
    benches: dict = {}
    problems: list[dict] = []
    for name in names:
        probs = tallies.get(name)
        if not probs:
            continue
        counts = [(t["n"], t["c"]) for t in probs.values()]
        try:
            table = pass_at_k_table(counts, ks)
        except ValueError as e:
            raise UserError(str(e)) from None
        lo, hi = bootstrap_ci(table)
        means = table.mean(axis=0)
        benches[name] = {
            "num_problems": len(counts),
            "n": min(n for n, _ in counts),  # the smallest when problems have different n (--from-samples)
            "num_samples": sum(n for n, _ in counts),
            "mean_accuracy": _r(mean_accuracy(counts)),
            "pass_at_k": {str(k): _r(m) for k, m in zip(ks, means)},
            "pass_at_k_ci95": {str(k): [_r(a), _r(b)] for k, a, b in zip(ks, lo, hi)},
            "timeouts": sum(t["timeouts"] for t in probs.values()),
        }
        classes = [votes.get((name, pid)) for pid in probs]
        maj = None
        if all(v is not None for v in classes):
            maj = maj_at_k_table([(t["n"], v["correct"], v["wrong"]) for t, v in zip(probs.values(), classes)], ks)
            mlo, mhi = bootstrap_ci(maj)  # the same resampling of problems as pass@k's CI
            benches[name]["maj_at_k"] = {str(k): _r(m) for k, m in zip(ks, maj.mean(axis=0))}
            benches[name]["maj_at_k_ci95"] = {str(k): [_r(a), _r(b)] for k, a, b in zip(ks, mlo, mhi)}
        else:
            benches[name]["maj_at_k_note"] = ("not computed: samples without their graded answer (pred); "
                                              "re-grade them with passk --from-samples")
        bad_gold = [{"problem_id": pid, "answer": g} for (b, pid), g in gold.items() if b == name and (b, pid) in ungradable]
        if bad_gold:
            benches[name]["ungradable_gold"] = bad_gold
        for i, ((pid, t), prow) in enumerate(zip(probs.items(), table)):
            row = {
                "benchmark": name, "problem_id": pid, "n": t["n"], "c": t["c"],
                "answer": gold[(name, pid)],
                "accuracy": _r(t["c"] / t["n"]),
                "pass_at_k": {str(k): _r(v) for k, v in zip(ks, prow)},
                "timeouts": t["timeouts"],
            }
            if maj is not None:
                row["maj_at_k"] = {str(k): _r(v) for k, v in zip(ks, maj[i])}
                row["votes"] = classes[i]  # {"correct", "wrong": class sizes, "unanswered"}
            problems.append(row)
    return {"benchmarks": benches}, problems


def write_outputs(out: Path, summary: dict, problems: list[dict], *, html: bool = True,
                  records: Sequence[dict] | None = None) -> None:
    """summary.json, problems.jsonl and (with `html`) passk.html; `records` feed its sample view."""
    out = Path(out)
    atomic_write_json(out / "summary.json", {k: v for k, v in summary.items() if not k.startswith("_")})
    atomic_write_jsonl(out / "problems.jsonl", problems)
    if html:
        atomic_write_text(out / "passk.html", passk_html(summary, problems, records))


def print_table(summary: dict, console=None, title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    for name, b in summary["benchmarks"].items():
        t = Table(title=title or f"{name}: {b['num_problems']} problems x n={b['n']}", min_width=60)
        t.add_column("k", justify="right")
        t.add_column("pass@k", justify="right")
        t.add_column("95% CI (%)", justify="right")
        maj = b.get("maj_at_k")
        if maj:
            t.add_column("maj@k", justify="right")
            t.add_column("95% CI (%)", justify="right")
        for k, v in b["pass_at_k"].items():
            lo, hi = b.get("pass_at_k_ci95", {}).get(k, [float("nan")] * 2)
            cells = [k, f"{100 * v:.2f}%", f"[{100 * lo:.1f}, {100 * hi:.1f}]"]
            if maj:
                mlo, mhi = b.get("maj_at_k_ci95", {}).get(k, [float("nan")] * 2)
                cells += [f"{100 * maj[k]:.2f}%", f"[{100 * mlo:.1f}, {100 * mhi:.1f}]"] if k in maj else ["—", ""]
            t.add_row(*cells)
        t.caption = f"model {summary.get('model')}; mean accuracy (Avg) {100 * b['mean_accuracy']:.2f}%" + (
            f", {b['timeouts']} verifier timeouts" if b.get("timeouts") else "")
        console.print(t)


# ---------------------------------------------------------------------------------------------
# HTML


def passk_html(summary: dict, problems: Sequence[dict] | None = None, records: Sequence[dict] | None = None) -> str:
    """passk.html: settings, pass@k, accuracy and length plots, and the auditable problem table."""
    return passk_page(summary, problems, records)


# ---------------------------------------------------------------------------------------------
# compare


COMPARE_TITLE = "pass@k comparison: "  # the start of the page's <title>: a rerun may replace its own page


def _is_passk_summary(s) -> bool:
    """A passk summary.json: {"benchmarks": {name: {"pass_at_k": ...}}} (an analyze or reproduce
    summary has no such field; a run whose every gold was ungradable has no benchmark in it)."""
    b = s.get("benchmarks") if isinstance(s, dict) else None
    return isinstance(b, dict) and all(isinstance(v, dict) and "pass_at_k" in v for v in b.values())


def _other_kind(d: Path) -> str | None:
    """What a folder that is not a passk run is, and what to give passk compare instead; None
    when it looks like none of our other tools' folders."""
    if (d / "reproduce.json").exists():
        runs = sorted((s.parent for s in d.glob("*/passk/summary.json")), key=lambda r: (r.parent.name != "base", r.parent.name))
        if not runs:
            return f"an `entropykit reproduce` folder whose passk runs have not finished (they will be {d}/base/passk, {d}/VARIANT/passk)"
        listed = " ".join(str(r) for r in runs)
        return (f"an `entropykit reproduce` folder, not a passk run: compare its passk runs ({listed}), or give the "
                f"folder alone (`entropykit passk compare {d}`) to compare its methods across their training seeds")
    if (d / "responses.jsonl").exists():
        return "an `entropykit analyze` folder, not a passk run (two analyses: `entropykit analyze compare A B`)"
    if (d / "metrics.jsonl").exists() and (d / "config.json").exists():
        return ("an `entropykit train` run, not a passk run (its curves: `entropykit train report`; its pass@k: "
                "`entropykit train export`, then `entropykit passk --model` the exported folder)")
    return None


def _load_run(d: Path) -> dict:
    p = d / "summary.json"
    other = _other_kind(d)
    if not p.exists():
        if other:
            raise UserError(f"{d}: {other}")
        raise UserError(f"{d}: no summary.json (run `entropykit passk ... --out {d}` first)")
    try:
        s = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"{p}: unreadable ({e})") from None
    if not _is_passk_summary(s):
        raise UserError(f"{d}: {other or 'not a passk run (its summary.json has no pass@k per benchmark)'}")
    return s


def dynamics(run_dir: Path, max_samples: int = DYNAMICS_MAX_SAMPLES) -> dict | None:
    """Mean test-time dynamics over (up to max_samples, evenly spread) responses of a run folder:
    every sample file (all shards), complete lines only, per-token arrays left out."""
    recs = list(load_samples(run_dir).values())
    if not recs:
        return None
    from entropykit.response_metrics import aggregate_metrics, response_metrics

    step = max(1, math.ceil(len(recs) / max_samples))
    rows = [response_metrics(r["response"], r.get("num_tokens")) for r in recs[::step]]
    agg = aggregate_metrics(rows)
    agg["num_responses"] = len(rows)
    return agg


def compare_runs(dirs: Sequence[str], out: str, *, labels: Sequence[str] | None = None,
                 max_samples: int = DYNAMICS_MAX_SAMPLES) -> dict:
    """Overlay pass@k curves (and maj@k curves, dashed, where the runs have them) of several runs;
    crossover k of pass@k, paired differences (pass@k, maj@k, mean accuracy) and test-time dynamics.

    Writes `out` (HTML) and `out` with suffix .json; returns the report dict.
    """
    import plotly.graph_objects as go

    if len(dirs) < 2:
        raise UserError("passk compare needs at least two run folders")
    for d in dirs:
        if not Path(d).is_dir():
            raise UserError(f"{d}: not a folder")
    outp = Path(out)
    refuse_replacing_inputs([outp, outp.with_suffix(".json")], dirs, own_title=COMPARE_TITLE)
    runs = [(Path(d), _load_run(Path(d))) for d in dirs]
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
    shared = [b for b in bench_names if sum(b in s.get("benchmarks", {}) for _, s in runs) >= 2]
    parts = []
    if not shared:
        held = "; ".join(f"{n}: {', '.join(s.get('benchmarks', {})) or 'none'}" for n, (_, s) in zip(names, runs))
        report["message"] = f"these runs share no benchmark ({held}): there is no crossover to compute"
        parts.append(f"<p><b>{escape(report['message'])}.</b> Each run's own curve is shown below.</p>")
    for bname in bench_names:
        present = [(n, s["benchmarks"][bname]) for n, (_, s) in zip(names, runs) if bname in s.get("benchmarks", {})]
        fig = go.Figure()
        with_maj = [(n, b) for n, b in present if b.get("maj_at_k")]
        for i, (n, b) in enumerate(present):
            for tr in curve_traces(go, n, b, PALETTE[i % len(PALETTE)]):
                fig.add_trace(tr)
            for tr in curve_traces(go, f"{n} maj@k", b, PALETTE[i % len(PALETTE)], metric="maj_at_k"):
                fig.add_trace(tr)
        common = sorted(set.intersection(*[set(int(k) for k in b["pass_at_k"]) for _, b in present]))
        entry = {"curves": {n: b["pass_at_k"] for n, b in present},
                 "mean_accuracy": {n: b["mean_accuracy"] for n, b in present}, "crossovers": []}
        if with_maj:  # runs scored before maj@k existed have none
            entry["maj_curves"] = {n: b["maj_at_k"] for n, b in with_maj}
        if len(present) >= 2 and common:
            ref_name, ref = present[0]
            for n, b in present[1:]:
                ya, yb = [ref["pass_at_k"][str(k)] for k in common], [b["pass_at_k"][str(k)] for k in common]
                cx = crossover_k(common, ya, yb)
                who = {"a": ref_name, "b": n, "tie": "tie"}
                c = {
                    "a": ref_name, "b": n, "ks": common,
                    "leader_at_min_k": who[cx["leader_at_min_k"]], "leader_at_max_k": who[cx["leader_at_max_k"]],
                    "crossover_k": cx["first_k"], "crossover_k_interp": cx["k_interp"],
                }
                c["summary"] = _crossover_summary(c, ya, yb)
                entry["crossovers"].append(c)
                paired = paired_runs(runs[names.index(ref_name)], runs[names.index(n)], bname, common)
                if paired is not None:
                    entry.setdefault("paired", []).append({"a": ref_name, "b": n, **paired})
                if cx["k_interp"]:
                    fig.add_vline(x=cx["k_interp"], line_dash="dot", line_color="gray",
                                  annotation_text=f"{who[cx['leader_at_max_k']]} overtakes at k≈{cx['k_interp']:.1f}")
        allks = sorted({int(k) for _, b in present for k in b["pass_at_k"]})
        fig.update_layout(title=f"{bname}: pass@k" + (" and maj@k (dashed)" if with_maj else ""), xaxis=log2_axis(allks),
                          yaxis=dict(title="pass@k, maj@k" if with_maj else "pass@k", rangemode="tozero"),
                          template="plotly_white", height=480)
        parts.append(fig_html(fig, f"ek-passk-{len(report['benchmarks'])}", 480))
        if len(present) >= 2:
            parts.append(_crossover_table(bname, entry))
            if entry.get("paired"):
                parts.append(_paired_table(bname, entry["paired"]))
        else:
            parts.append(f"<p>{escape(bname)}: only in {escape(present[0][0])}, nothing to compare.</p>")
        report["benchmarks"][bname] = entry
    for n, (p, _) in zip(names, runs):
        report["dynamics"][n] = dynamics(p, max_samples)
    parts.append(_dynamics_table(report["dynamics"]))
    title = COMPARE_TITLE + " vs ".join(names)
    atomic_write_text(outp, page(title, f"<h1>{escape(title)}</h1>" + "".join(parts) + "<p id='ek-status'>loading</p>"))
    atomic_write_json(outp.with_suffix(".json"), report)
    return report


# Settings that must be equal for sample j of a problem to be drawn with the same seed and prompt in
# both runs: then the runs differ only by the model, and their per-problem values are paired.
PAIRING_SETTINGS = ("seed", "chat", "temperature", "top_p", "max_tokens", "grader")
# The template pairs when it is equal, or when the prompts the samples were drawn with are: a
# template written in another notation (before entropykit.prompts, passk's templates doubled
# their braces) renders the same prompts.
PROMPT_SETTINGS = ("prompt_template",)


def _problem_rows(run_dir: Path, bench: str) -> dict[str, dict]:
    path = run_dir / "problems.jsonl"
    if not path.exists():
        return {}
    from entropykit.io import iter_jsonl

    return {str(r["problem_id"]): r for r in iter_jsonl(path) if str(r.get("benchmark")) == bench}


def _prompts(run_dir: Path, bench: str) -> dict[str, set[str]]:
    """problem id -> the prompts its saved samples were drawn with (read from the samples)."""
    out: dict[str, set[str]] = {}
    for (b, pid, _), rec in load_samples(run_dir).items():
        if b == bench:
            out.setdefault(str(pid), set()).add(str(rec.get("prompt")))
    return out


def paired_runs(run_a: tuple[Path, dict], run_b: tuple[Path, dict], bench: str, ks: Sequence[int]) -> dict | None:
    """B - A on benchmark `bench`, paired by problem: mean accuracy and pass@k at each of `ks`,
    each with `paired_difference` (bootstrap CI over problems, Wilcoxon signed-rank). Only when
    both runs drew their samples with the same seeds and settings (`PAIRING_SETTINGS`) and share
    at least two problems; None otherwise (then the curves are independent estimates)."""
    (dir_a, sum_a), (dir_b, sum_b) = run_a, run_b
    sa, sb = sum_a.get("sampling") or {}, sum_b.get("sampling") or {}
    if any(sa.get(key) != sb.get(key) for key in PAIRING_SETTINGS):
        return None
    if any(sa.get(key) != sb.get(key) for key in PROMPT_SETTINGS) and _prompts(dir_a, bench) != _prompts(dir_b, bench):
        return None
    rows_a, rows_b = _problem_rows(dir_a, bench), _problem_rows(dir_b, bench)
    shared = [pid for pid in rows_a if pid in rows_b and rows_a[pid]["n"] == rows_b[pid]["n"]]
    if len(shared) < 2:
        return None
    out = {"problems": len(shared), "pairing": f"paired by problem and sample seed ({len(shared)} problems)",
           "mean_accuracy": paired_difference([rows_a[p]["accuracy"] for p in shared], [rows_b[p]["accuracy"] for p in shared]),
           "pass_at_k": {}, "maj_at_k": {}}
    for metric in ("pass_at_k", "maj_at_k"):  # maj@k only where both runs have it (not in older runs)
        for k in ks:
            va = [(rows_a[p].get(metric) or {}).get(str(k)) for p in shared]
            vb = [(rows_b[p].get(metric) or {}).get(str(k)) for p in shared]
            if None not in va and None not in vb:
                out[metric][str(k)] = paired_difference(va, vb)
    return out


def _paired_table(bname: str, paired: list[dict]) -> str:
    def cell(d: dict) -> str:
        ci = "" if d["ci95"] is None else f" [{100 * d['ci95'][0]:+.1f}, {100 * d['ci95'][1]:+.1f}]"
        return f"{100 * d['diff']:+.2f}{ci}" + (" *" if d["significant"] else "")

    ks = list(paired[0]["pass_at_k"])
    mks = list(dict.fromkeys(k for p in paired for k in p.get("maj_at_k") or {}))
    head = ("<tr><th>B - A</th><th>problems</th><th>mean accuracy</th>" + "".join(f"<th>pass@{k}</th>" for k in ks)
            + "".join(f"<th>maj@{k}</th>" for k in mks) + "</tr>")
    rows = [f"<tr><td>{escape(p['b'])} - {escape(p['a'])}</td><td>{p['problems']}</td><td>{cell(p['mean_accuracy'])}</td>"
            + "".join(f"<td>{cell(p['pass_at_k'][k])}</td>" if k in p["pass_at_k"] else "<td>—</td>" for k in ks)
            + "".join(f"<td>{cell(p['maj_at_k'][k])}</td>" if k in (p.get("maj_at_k") or {}) else "<td>—</td>" for k in mks)
            + "</tr>"
            for p in paired]
    return (f"<h3>{escape(bname)}: paired differences (percentage points)</h3><table>{head}{''.join(rows)}</table>"
            "<p>Paired by problem (same problems, same sample seeds): mean of per-problem differences, "
            "[95% bootstrap CI over problems]; * marks a CI that excludes 0.</p>")


def _crossover_summary(c: dict, ya: Sequence[float], yb: Sequence[float]) -> str:
    """One sentence: who leads, whether the order flips, and where; ties are called ties."""
    if c["crossover_k"] is not None:
        winner = c["leader_at_max_k"]
        loser = c["b"] if winner == c["a"] else c["a"]
        return (f"{winner} overtakes {loser} at k={c['crossover_k']} "
                f"(≈{c['crossover_k_interp']:.1f} on the log2 k axis)")
    diffs = [a - b for a, b in zip(ya, yb)]
    ahead = [d for d in diffs if abs(d) > 1e-12]
    if not ahead:
        return f"{c['a']} and {c['b']} tie at every k"
    leader = c["a"] if ahead[0] > 0 else c["b"]
    if len(ahead) < len(diffs):
        return f"{leader} ahead or tied at every k, no crossover"
    return f"{leader} ahead at every k, no crossover"


def _crossover_table(bname: str, entry: dict) -> str:
    rows = ["<tr><th>A</th><th>B</th><th>ahead at smallest k</th><th>ahead at largest k</th>"
            "<th>first k where the order flips</th><th>crossing (log2-interpolated)</th><th>in short</th></tr>"]
    for c in entry["crossovers"]:
        ki = "—" if c["crossover_k_interp"] is None else f"{c['crossover_k_interp']:.2f}"
        rows.append("<tr>" + "".join(f"<td>{escape(str(x))}</td>" for x in (
            c["a"], c["b"], c["leader_at_min_k"], c["leader_at_max_k"],
            "none" if c["crossover_k"] is None else c["crossover_k"], ki, c["summary"])) + "</tr>")
    return f"<h3>{escape(bname)}: crossover</h3><table>{''.join(rows)}</table>"


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
        body.append(f"<tr><td>{escape(n)}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return "<h3>Test-time dynamics (per response, means)</h3><table>" + head + "".join(body) + "</table>"


def print_compare(report: dict, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    if report.get("message"):
        console.print(f"[yellow]{report['message']}[/yellow]")
    for bname, e in report["benchmarks"].items():
        t = Table(title=f"{bname}: pass@k", min_width=60)
        labels = list(e["curves"])
        ks = sorted({int(k) for c in e["curves"].values() for k in c})
        maj = e.get("maj_curves") or {}
        t.add_column("k", justify="right")
        for n in labels:
            t.add_column(n, justify="right")
        for n in maj:
            t.add_column(f"{n} maj@k", justify="right")
        for k in ks:
            t.add_row(str(k), *[f"{100 * e['curves'][n][str(k)]:.2f}%" if str(k) in e["curves"][n] else "—" for n in labels],
                      *[f"{100 * maj[n][str(k)]:.2f}%" if str(k) in maj[n] else "—" for n in maj])
        if len(labels) < 2:
            t.caption = f"only in {labels[0]}: nothing to compare"
        else:
            t.caption = "; ".join(f"{c['a']} vs {c['b']}: {c['summary']}" for c in e["crossovers"])
        console.print(t)
