"""`entropykit reproduce power DIR`: the power of a finished (or partly finished) reproduce
experiment, from its own runs.

For each compared pair (each method against the base, and the Figure-8 method pairs) it reads
the per-problem accuracies of every finished run (`DIR/<run>/passk/problems.jsonl`) and reports
what `seed_summary` computes (the statistics are `entropykit.seed_stats`'): the variance
components, the observed difference with its two-level bootstrap and t intervals, the smallest
difference the current design detects, the seeds / problems / samples per problem that would
detect `--delta`, and where the next hour of compute (priced from DIR/stages.json) buys the most
precision. Nothing is written; no model is loaded.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from entropykit.errors import UserError

from .config import VARIANTS, ReproduceConfig
from .layout import Layout, label, run_name


def check_levels(delta: float, power: float, alpha: float) -> None:
    """--delta in points (0 < delta <= 100), --power and --alpha in (0, 1); UserError otherwise."""
    if not (isinstance(delta, (int, float)) and math.isfinite(delta) and 0 < delta <= 100):
        raise UserError(f"--delta is a difference in accuracy points, above 0 and at most 100 (5 = 0.05), got {delta}")
    for name, v in (("--power", power), ("--alpha", alpha)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and 0 < v < 1):
            raise UserError(f"{name} must be between 0 and 1 (exclusive), got {v}")


def read_experiment(root: Path) -> tuple[ReproduceConfig, Layout, dict[str, list[str]], list[str]]:
    """(settings, layout, variant -> its finished runs, notes) of the reproduce folder `root`.

    A run counts when its passk problems.jsonl exists (passk writes it last). UserError when
    `root` is not a reproduce folder, its settings are unreadable, or the base model or every
    variant has no finished evaluation."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: not a folder (give the --out folder of `entropykit reproduce`)")
    settings = root / "reproduce.json"
    if not settings.exists():
        hint = ""
        if (root / "summary.json").exists() and (root / "problems.jsonl").exists():
            hint = ("; it looks like an `entropykit passk` run: groups of passk runs compare with "
                    "`entropykit passk compare A1 A2 -- B1 B2`")
        raise UserError(f"{root}: not an `entropykit reproduce` folder (no reproduce.json){hint}")
    try:
        saved = json.loads(settings.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{settings}: unreadable ({type(e).__name__})") from None
    fields = {f.name for f in dataclasses.fields(ReproduceConfig)} - {"out"}
    if not isinstance(saved, dict):
        raise UserError(f"{settings}: not a reproduce settings file")
    cfg = ReproduceConfig(out=str(root), **{k: v for k, v in saved.items() if k in fields})
    variants, seeds, seed = cfg.variants, cfg.seeds, cfg.seed
    if (not isinstance(variants, list) or not variants or any(v not in VARIANTS for v in variants)
            or not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1 or not isinstance(seed, int)):
        raise UserError(f"{settings}: not a reproduce settings file (variants {variants!r}, seeds {seeds!r})")
    lay = Layout(root)
    if not (lay.passk("base") / "problems.jsonl").exists():
        raise UserError(f"{root}: the base model's evaluation has not finished (no {lay.passk('base')}/problems.jsonl); "
                        f"rerun `entropykit reproduce --out {root}` to finish it")
    runs: dict[str, list[str]] = {}
    notes: list[str] = []
    for v in variants:
        names = [run_name(v, i) for i in range(seeds)]
        done = [n for n in names if (lay.passk(n) / "problems.jsonl").exists()]
        if done:
            runs[v] = done
        if len(done) < len(names):
            left = [n for n in names if n not in done]
            notes.append(f"{label(v)}: {len(done)} of {seeds} seeds evaluated ({', '.join(left)} not yet)")
    if not runs:
        raise UserError(f"{root}: no trained model's evaluation has finished (none of "
                        f"{', '.join(str(lay.passk(v)) for v in variants)} has problems.jsonl yet)")
    return cfg, lay, runs, notes


def power_report(root: Path, *, delta: float = 5.0, power: float = 0.8, alpha: float = 0.05,
                 n_resamples: int = 4000) -> dict:
    """`seed_summary` of the finished runs of reproduce folder `root`, `delta` in points; plus the
    folder and notes on unfinished runs. UserError on bad input (see `read_experiment`)."""
    from .seeds import seed_summary

    check_levels(delta, power, alpha)
    cfg, lay, runs, notes = read_experiment(root)
    try:
        s = seed_summary(cfg, lay, delta=delta / 100.0, n_resamples=n_resamples, alpha=alpha, power=power, runs=runs)
    except (ValueError, KeyError, TypeError) as e:  # a run on other problems or n, an unreadable problems.jsonl
        what = f"{type(e).__name__}: {e}" if not isinstance(e, ValueError) else str(e)
        raise UserError(f"{root}: {what}") from None
    return {"dir": str(root), "notes": notes, **s}


# ---------------------------------------------------------------------------------------------
# terminal output


def _pts(x) -> str:
    return "not estimable" if x is None else f"{100 * x:.1f}"


def _signed(x) -> str:
    return "—" if x is None else f"{100 * x:+.1f}"


def _sd(var) -> str:
    return "—" if var is None else f"{100 * math.sqrt(max(var, 0.0)):.1f}"


def _ci(lohi) -> str:
    lo, hi = lohi
    return "not estimable" if lo is None or hi is None else f"[{_signed(lo)}, {_signed(hi)}]"


def _component(c: dict, name: str, who: str) -> str:
    if not c["trained"] and name in ("seed", "seed_problem"):
        return f"{who} 0 (not trained)"
    if c[name] is None:
        return f"{who} not estimable ({c['seeds']} seed)"
    return f"{who} {_sd(c[name])}" + (" (estimate < 0, set to 0)" if name in c.get("clipped", []) else "")


def _lever_text(lever: str, v, design: dict) -> str:
    unit = {"seeds": "seeds per method", "problems": "problems", "samples": "samples per problem"}[lever]
    if v is None:
        return f"{unit}: unreachable (now {design[lever]})"
    return f"{unit}: {v} (now {design[lever]})"


def print_power(rep: dict, console=None) -> None:
    """The report as rich tables: the methods, then one table per pair."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    costs = rep["costs"]
    priced = (f"{costs['seconds_per_training_seed']:.0f} s per training seed, "
              f"{costs['seconds_per_evaluated_sample']:.2f} s per evaluated sample (medians of stages.json)"
              if costs.get("seconds_per_training_seed") and costs.get("seconds_per_evaluated_sample")
              else "no stage times in stages.json: the next hour cannot be priced")
    console.print(f"[bold]reproduce power[/bold]: {rep['dir']}", highlight=False)
    console.print(f"{rep['problems']} problems x {rep['samples_per_problem']} samples each; {priced}", highlight=False)
    for note in rep.get("notes", []):
        console.print(f"[yellow]{note}[/yellow]", highlight=False)
    m = Table(title="Mean accuracy (%)", min_width=60)
    m.add_column("method")
    m.add_column("mean", justify="right")
    m.add_column("per training seed", justify="right")
    for meth in rep["methods"].values():
        per = "(not trained)" if meth["runs"] == ["base"] else ", ".join(f"{100 * x:.1f}" for x in meth["seeds"])
        m.add_row(meth["label"], f"{100 * meth['mean_accuracy']:.1f}", per)
    console.print(m)
    for p in rep["pairs"]:
        pw = p["power"]
        comp = pw["components"]
        la, lb = rep["methods"][p["a"]]["label"], rep["methods"][p["b"]]["label"]
        level = f"{100 * pw['power']:g}% power, alpha {pw['alpha']:g}"
        t = Table(title=f"{p['label']} (accuracy points; A = {la}, B = {lb})", show_header=False, min_width=60)
        t.add_column("", style="bold")
        t.add_column("")
        seeds_of = {side: "1 (not trained)" if p[side] == "base" else str(p["seeds"][side]) for side in ("a", "b")}
        t.add_row("design", f"seeds A {seeds_of['a']}, B {seeds_of['b']}; {p['problems']} problems x "
                            f"{p['samples_per_problem']} samples")
        t.add_row("difference B - A", _signed(p["diff"]))
        t.add_row("two-level bootstrap 95% CI", _ci(p["bootstrap_ci95"]))
        df = "" if p.get("t_df") is None else f" (df {p['t_df']:.1f})"
        t.add_row(f"t 95% CI{df}", _ci(p["t_ci95"]))
        poi = p["probability_of_improvement"]
        t.add_row("P(B beats A)", f"{poi['estimate']:.2f} [{poi['ci95'][0]:.2f}, {poi['ci95'][1]:.2f}]")
        t.add_row("SD between seeds", f"{_component(comp['a'], 'seed', 'A')}; {_component(comp['b'], 'seed', 'B')}")
        inter = _sd(comp["interaction"]) + (" (estimate < 0, set to 0)" if comp.get("interaction_clipped") else "")
        t.add_row("SD method x problem", inter)
        t.add_row("SD seed x problem",
                  f"{_component(comp['a'], 'seed_problem', 'A')}; {_component(comp['b'], 'seed_problem', 'B')}")
        n = p["samples_per_problem"]
        t.add_row(f"SD sampling (one problem, n={n})",
                  f"A {_sd(comp['a']['bernoulli'] / n)}; B {_sd(comp['b']['bernoulli'] / n)}")
        if pw["estimable"]:
            t.add_row("SE of the difference", _pts(pw["se"]))
            t.add_row(f"detectable at {level}", _pts(pw["mde"]))
            sizes = pw["to_detect_delta"]
            t.add_row(f"to detect {100 * pw['delta']:g} points (one at a time)",
                      "\n".join(_lever_text(k, v, pw["design"]) for k, v in sizes.items()))
            nh = pw.get("next_hour")
            if nh:
                lv = nh["levers"]
                units = {"seeds": "seeds per method", "problems": "problems", "samples": "samples per problem"}
                lines = [("best: " if k == nh["best"] else "      ") + f"+{lv[k]['units_for_budget']:.1f} {units[k]} -> "
                         f"SE {_pts(lv[k]['se_after'])}, detectable {_pts(lv[k]['mde_after'])}"
                         for k in ("seeds", "problems", "samples")]
                t.add_row("next hour of compute, spent on", "\n".join(lines))
            else:
                t.add_row("next hour of compute", "not priced (no stage times)")
        else:
            t.add_row(f"detectable at {level}", f"not estimable: {pw['not_estimable']}")
            t.add_row("if training seeds did not matter", f"at least {_pts(pw['mde_if_no_seed_variance'])} points "
                      "(assumes no variance between seeds: a lower bound, not the design's power)")
            t.add_row(f"to detect {100 * pw['delta']:g} points", "not estimable (one training seed)")
        notes = [x for x in (pw.get("design_note"), p.get("ci_note")) if x]
        notes += [x[0].upper() + x[1:] for x in comp.get("assumptions", [])]  # "a has one ..." -> "A has one ..."
        if notes:
            t.caption = "; ".join(notes)
        console.print(t)
    console.print(f"[dim]{rep['method']}[/dim]", highlight=False)
