"""`entropykit reproduce power DIR`: the power of a finished (or partly finished) reproduce
experiment, from its own runs.

For every pair (each method against the base and the Figure-8 method pairs first, then every
other pair of methods: `layout.compared_pairs`) it reads the per-problem accuracies of every
finished run (`DIR/<run>/passk/problems.jsonl`) and reports what `seed_summary` computes (the
statistics are `entropykit.seed_stats`'): the variance components, the observed difference with
its two-level bootstrap and t intervals, the smallest difference the current design detects,
the seeds / problems / samples per problem that would detect `--delta`, and where the next hour
of compute (priced from DIR/stages.json, every attempt of a stage summed) buys the most
precision. Nothing is written; no model is loaded.
"""

from __future__ import annotations

import math
from pathlib import Path

from entropykit.errors import UserError
from entropykit.evalkit.group_stats import points, points_ci

from .layout import read_experiment


def check_power_options(delta: float, power: float, alpha: float) -> None:
    """--delta in points (0 < delta <= 100), --power and --alpha in (0, 1); UserError otherwise."""
    if not (isinstance(delta, (int, float)) and math.isfinite(delta) and 0 < delta <= 100):
        raise UserError(f"--delta is a difference in accuracy points, above 0 and at most 100 (5 = 0.05), got {delta}")
    for name, v in (("--power", power), ("--alpha", alpha)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and 0 < v < 1):
            raise UserError(f"{name} must be between 0 and 1 (exclusive), got {v}")


def power_report(root: Path, *, delta: float = 5.0, power: float = 0.8, alpha: float = 0.05,
                 n_resamples: int = 4000) -> dict:
    """`seed_summary` of the finished runs of reproduce folder `root`, `delta` in points; plus the
    folder and notes on unfinished runs. UserError on bad input (`read_experiment`, and
    `group_stats.group_matrices` for runs that cannot be compared)."""
    from .seeds import seed_summary

    check_power_options(delta, power, alpha)
    cfg, lay, runs, notes = read_experiment(root)
    s = seed_summary(cfg, lay, delta=delta / 100.0, n_resamples=n_resamples, alpha=alpha, power=power, runs=runs)
    return {"dir": str(root), **s, "notes": notes + s.get("notes", [])}


# ---------------------------------------------------------------------------------------------
# terminal output

NOT_ESTIMABLE = "not estimable"


def _sd(var) -> str:
    return "—" if var is None else f"{100 * math.sqrt(max(var, 0.0)):.1f}"


def _component(c: dict, name: str, who: str) -> str:
    if not c["trained"] and name in ("seed", "seed_problem"):
        return f"{who} 0 (not trained)"
    if c[name] is None:
        return f"{who} not estimable ({c['seeds']} seed)"
    return f"{who} {_sd(c[name])}" + (" (estimate < 0, set to 0)" if name in c.get("clipped", []) else "")


UNITS = {"seeds": "seeds per method", "problems": "problems", "samples": "samples per problem"}


def _now(lever: str, p: dict) -> str:
    """The pair's current value of `lever`: seeds per method (each side's where they differ; the
    trained side's against the base)."""
    design = p["power"]["design"]
    if lever != "seeds":
        return str(design[lever])
    sa, sb = design["seeds"]["a"], design["seeds"]["b"]
    return str(sb) if p["a"] == "base" or sa == sb else f"A {sa}, B {sb}"


def _lever_text(lever: str, v, p: dict) -> str:
    return f"{UNITS[lever]}: {'unreachable' if v is None else v} (now {_now(lever, p)})"


def _components_rows(t, comp: dict, n: int) -> None:
    t.add_row("SD between seeds", f"{_component(comp['a'], 'seed', 'A')}; {_component(comp['b'], 'seed', 'B')}")
    inter = _sd(comp["interaction"]) + (" (estimate < 0, set to 0)" if comp.get("interaction_clipped") else "")
    t.add_row("SD method x problem", inter)
    t.add_row("SD seed x problem",
              f"{_component(comp['a'], 'seed_problem', 'A')}; {_component(comp['b'], 'seed_problem', 'B')}")
    t.add_row(f"SD sampling (one problem, n={n})", f"A {_sd(comp['a']['bernoulli'] / n)}; B {_sd(comp['b']['bernoulli'] / n)}")


def _power_rows(t, pw: dict, p: dict) -> None:
    level = f"{100 * pw['power']:g}% power, alpha {pw['alpha']:g}"
    if not pw["estimable"]:
        t.add_row(f"detectable at {level}", f"{NOT_ESTIMABLE}: {pw['not_estimable']}")
        if pw.get("mde_if_no_seed_variance") is not None:
            t.add_row("if training seeds did not matter", f"at least {points(pw['mde_if_no_seed_variance'])} points "
                      "(assumes no variance between seeds: a lower bound, not the design's power)")
        t.add_row(f"to detect {100 * pw['delta']:g} points", NOT_ESTIMABLE)
        return
    t.add_row("SE of the difference", points(pw["se"], missing=NOT_ESTIMABLE))
    t.add_row(f"detectable at {level}", points(pw["mde"], missing=NOT_ESTIMABLE))
    t.add_row(f"to detect {100 * pw['delta']:g} points (one at a time)",
              "\n".join(_lever_text(k, v, p) for k, v in pw["to_detect_delta"].items()))
    nh = pw.get("next_hour")
    if not nh:
        t.add_row("next hour of compute", "not priced (no stage times)")
        return
    lv = nh["levers"]
    lines = [("best: " if k == nh["best"] else "      ") + f"+{lv[k]['units_for_budget']:.1f} {UNITS[k]} -> "
             f"SE {points(lv[k]['se_after'], missing=NOT_ESTIMABLE)}, detectable {points(lv[k]['mde_after'], missing=NOT_ESTIMABLE)}"
             for k in UNITS]
    t.add_row("next hour of compute, spent on", "\n".join(lines))


def print_power(rep: dict, console=None) -> None:
    """The report as rich tables: the methods, then one table per pair."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    costs = rep["costs"]
    kinds = costs.get("priced_stages") or {}
    priced = (f"{costs['seconds_per_training_seed']:.0f} s per training seed "
              f"({' + '.join(kinds.get('per_training_seed', []))}), "
              f"{costs['seconds_per_evaluated_sample']:.2f} s per evaluated sample "
              f"({' + '.join(kinds.get('per_evaluated_sample', []))}; medians of stages.json, attempts summed)"
              if costs.get("seconds_per_training_seed") and costs.get("seconds_per_evaluated_sample")
              else "no stage times in stages.json: the next hour cannot be priced")
    console.print(f"[bold]reproduce power[/bold]: {escape(rep['dir'])}", highlight=False)
    console.print(f"{rep['problems']} problems x {rep['samples_per_problem']} samples each; {priced}", highlight=False)
    for note in rep.get("notes", []):
        console.print(f"[yellow]{escape(note)}[/yellow]", highlight=False)
    m = Table(title="Mean accuracy (%)", min_width=60)
    m.add_column("method")
    m.add_column("mean", justify="right")
    m.add_column("per training seed", justify="right")
    for meth in rep["methods"].values():
        per = "(not trained)" if meth["runs"] == ["base"] else ", ".join(points(x) for x in meth["seeds"])
        m.add_row(meth["label"], points(meth["mean_accuracy"]), per)
    console.print(m)
    for p in rep["pairs"]:
        pw = p["power"]
        comp = pw["components"]
        la, lb = rep["methods"][p["a"]]["label"], rep["methods"][p["b"]]["label"]
        t = Table(title=f"{p['label']} (accuracy points; A = {la}, B = {lb})", show_header=False, min_width=60)
        t.add_column("", style="bold")
        t.add_column("")
        seeds_of = {side: "1 (not trained)" if p[side] == "base" else str(p["seeds"][side]) for side in ("a", "b")}
        t.add_row("design", f"seeds A {seeds_of['a']}, B {seeds_of['b']}; {p['problems']} problems x "
                            f"{p['samples_per_problem']} samples")
        t.add_row("difference B - A", points(p["diff"], signed=True))
        t.add_row("two-level bootstrap 95% CI", points_ci(p["bootstrap_ci95"], missing=NOT_ESTIMABLE))
        df = "" if p.get("t_df") is None else f" (df {p['t_df']:.1f})"
        t.add_row(f"t 95% CI{df}", points_ci(p["t_ci95"], missing=NOT_ESTIMABLE))
        poi = p["probability_of_improvement"]
        t.add_row("P(B beats A)", f"{poi['estimate']:.2f} [{poi['ci95'][0]:.2f}, {poi['ci95'][1]:.2f}]")
        if comp is not None:
            _components_rows(t, comp, p["samples_per_problem"])
        _power_rows(t, pw, p)
        notes = [x for x in (pw.get("design_note"), p.get("ci_note")) if x]
        notes += [x[0].upper() + x[1:] for x in (comp or {}).get("assumptions", [])]  # "a has one ..." -> "A has one ..."
        if notes:
            t.caption = "; ".join(notes)
        console.print(t)
    console.print(f"[dim]{escape(rep['method'])}[/dim]", highlight=False)
