"""Method comparisons across training seeds (`reproduce --seeds N`, N >= 2): the table's second level.

Every method is trained N times; every trained model and the base are sampled on the same P
problems with the same sample seeds, n samples each. A method's scores are the matrix
acc[s, p] (fraction of the n samples of problem p right, for the model trained with seed s).
From those matrices (`entropykit.seed_stats`):

- per method: the mean over seeds and problems, and each seed's mean (the dots of the figure);
- per pair (method vs base, and the Figure-8 pairs between methods): the difference of means
  with a two-level bootstrap CI (seeds within each method and problems, shared across methods)
  and a t interval with Satterthwaite degrees of freedom (better calibrated with 2-3 seeds),
  the probability of improvement P(B beats A on a random problem and seed pair, ties half);
- power: the variance components (between seeds, method x problem, sampling), the smallest
  difference the design detects with 80% power at alpha 0.05, the seeds / problems / samples that
  would detect `delta`, and where an hour of compute (priced from this run's own stage times)
  buys the most precision.
"""

from __future__ import annotations

import json
import math

import numpy as np

from .config import ReproduceConfig
from .layout import Layout, figure8_pairs, label, run_name

DEFAULT_DELTA = 0.05  # the difference power is asked about when the user names none: 5 points


def accuracy_matrix(lay: Layout, names: list[str], problem_ids: list[str]) -> tuple[np.ndarray, int]:
    """acc[s, p] of the runs `names` (one row each) on `problem_ids`, and the samples per problem.
    ValueError (naming the run) when a run lacks one of the problems or the runs sampled different n."""
    rows, ns = [], set()
    for name in names:
        probs = {}
        for line in (lay.passk(name) / "problems.jsonl").read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            probs[str(r["problem_id"])] = r
        missing = [p for p in problem_ids if p not in probs]
        if missing or len(probs) != len(problem_ids):
            what = f"lacks problem {missing[0]}" if missing else f"has {len(probs)} problems, the base {len(problem_ids)}"
            raise ValueError(f"run {name} was not evaluated on the base model's problems: it {what}")
        rows.append([probs[p]["accuracy"] for p in problem_ids])
        ns.update(probs[p]["n"] for p in problem_ids)
    if len(ns) != 1:
        raise ValueError(f"runs {', '.join(names)} sampled different n per problem: {sorted(ns)}")
    return np.asarray(rows, dtype=np.float64), ns.pop()


def _stage_seconds(lay: Layout, prefix: str) -> list[float]:
    try:
        stages = json.loads(lay.stages_file.read_text(encoding="utf-8"))["stages"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [v["seconds"] for k, v in stages.items() if k.startswith(prefix) and isinstance(v, dict) and "seconds" in v]


def _sizes(pc, delta: float, seeds: int, problems: int, samples: int, *, alpha: float, power: float) -> dict:
    from entropykit.seed_stats import required_size

    return {lever: required_size(pc, delta, lever, seeds, problems, samples, alpha=alpha, power=power)
            for lever in ("seeds", "problems", "samples")}


def _without_seed_variance(pc):
    """`pc` with every one-seed trained side's (unknown) seed components set to 0: the design's
    precision if training seeds did not matter, a lower bound on its real SE."""
    from dataclasses import replace

    def zero(c):
        return replace(c, seed=0.0, seed_problem=0.0) if c.trained and c.seeds < 2 else c

    return replace(pc, a=zero(pc.a), b=zero(pc.b))


def seed_summary(cfg: ReproduceConfig, lay: Layout, *, delta: float = DEFAULT_DELTA, n_resamples: int = 4000,
                 alpha: float = 0.05, power: float = 0.8, runs: dict[str, list[str]] | None = None) -> dict:
    """The across-seeds part of summary.json (see the module docstring), also what `entropykit
    reproduce power` prints. `runs`: variant -> the run names to use (default: every seed of every
    variant, `cfg.seeds` each); a partly finished experiment passes the finished ones (a variant
    with none is left out, and so are its pairs). `delta` is a fraction (0.05 = 5 points); the
    power numbers are at `power` and two-sided `alpha`, and `mde_80` always at 80% and 0.05.

    Where a trained method has one seed its seed variance cannot be estimated: the pair's SE,
    detectable difference, sizes and next hour are null, `power.not_estimable` says why, and
    `power.mde_if_no_seed_variance` is the detectable difference if training seeds did not matter
    (a lower bound). With seeds unequal between two trained methods (a partly finished run) the
    power of the current design is computed at the smaller count (conservative)."""
    from entropykit import seed_stats as st

    if runs is None:
        runs = {v: [run_name(v, i) for i in range(cfg.seeds)] for v in cfg.variants}
    variants = [v for v in cfg.variants if runs.get(v)]
    base_rows = [json.loads(x) for x in (lay.passk("base") / "problems.jsonl").read_text(encoding="utf-8").splitlines()]
    pids = [str(r["problem_id"]) for r in base_rows]
    base, n = accuracy_matrix(lay, ["base"], pids)
    mats = {}
    for v in variants:
        mats[v], nv = accuracy_matrix(lay, runs[v], pids)
        if nv != n:
            raise ValueError(f"runs of {v} sampled n={nv} per problem, the base n={n}")
    methods = {"base": {"label": label("base"), "mean_accuracy": float(base.mean()), "seeds": [float(base.mean())],
                        "runs": ["base"]}}
    for v, m in mats.items():
        methods[v] = {"label": label(v), "mean_accuracy": float(m.mean()), "seeds": [float(x) for x in m.mean(axis=1)],
                      "runs": list(runs[v])}

    train_s = _stage_seconds(lay, "train ")
    passk_s = _stage_seconds(lay, "passk ")
    per_sample = (float(np.median(passk_s)) / (len(pids) * n)) if passk_s else None
    per_seed = float(np.median(train_s)) if train_s else None

    pairs = []
    for a, b in [("base", v) for v in variants] + [p for p in figure8_pairs(cfg) if p[0] != "base"]:
        if a not in methods or b not in methods:
            continue
        is_base = a == "base"
        ma = base[0] if is_base else mats[a]
        mb = mats[b]
        boot = (st.bootstrap_diff_vs_base(ma, mb, n_resamples=n_resamples, rng=cfg.seed) if is_base
                else st.two_level_bootstrap_diff(ma, mb, n_resamples=n_resamples, rng=cfg.seed))
        t = st.t_interval_diff(ma, mb, n, a_is_base=is_base)
        poi = st.probability_of_improvement(ma, mb, n_resamples=n_resamples, rng=cfg.seed)
        pc = st.pair_components(ma, mb, n, a_is_base=is_base)
        sa, sb = (1 if is_base else mats[a].shape[0]), mb.shape[0]
        seeds, problems = (sb if is_base else min(sa, sb)), len(pids)
        one_seed = [label(x) for x, s_x in ((a, sa), (b, sb)) if x != "base" and s_x < 2]
        pw = {"components": pc.as_dict(), "alpha": alpha, "power": power, "delta": delta,
              "design": {"seeds": seeds, "problems": problems, "samples": n}}
        if sa != sb and not is_base:
            pw["design_note"] = (f"{label(a)} has {sa} finished seeds and {label(b)} {sb}: the current design's power is "
                                 f"computed at {seeds} seeds per method (conservative)")
        if one_seed:
            pw.update({"estimable": False, "se": None, "mde": None, "mde_80": None,
                       "to_detect_delta": {k: None for k in ("seeds", "problems", "samples")},
                       "not_estimable": (f"{' and '.join(one_seed)} {'has' if len(one_seed) == 1 else 'have'} one "
                                         "training seed: the variance between seeds cannot be estimated from one run, "
                                         "so the power of this design and the sizes needed are unknown (train 2 or "
                                         "more seeds: rerun reproduce with --seeds 3)"),
                       "mde_if_no_seed_variance": st.minimum_detectable_difference(
                           _without_seed_variance(pc), seeds, problems, n, alpha=alpha, power=power)})
        else:
            pw.update({"estimable": True, "se": st.difference_se(pc, seeds, problems, n),
                       "mde": st.minimum_detectable_difference(pc, seeds, problems, n, alpha=alpha, power=power),
                       "mde_80": st.minimum_detectable_difference(pc, seeds, problems, n),
                       "to_detect_delta": _sizes(pc, delta, seeds, problems, n, alpha=alpha, power=power)})
            if per_seed and per_sample:
                pw["next_hour"] = st.compute_tradeoff(pc, seeds, problems, n, seconds_per_seed=per_seed,
                                                      seconds_per_sample=per_sample, alpha=alpha, power=power)
        row = {"a": a, "b": b, "label": f"{label(b)} - {label(a)}", "diff": boot.estimate,
               "bootstrap_ci95": [boot.low, boot.high], "t_ci95": [t.low, t.high], "t_df": t.df,
               "significant": bool(t.excludes(0.0) and boot.excludes(0.0)),
               "probability_of_improvement": {"estimate": poi.estimate, "ci95": [poi.low, poi.high]},
               "seeds": {"a": sa, "b": sb}, "problems": problems, "samples_per_problem": n, "power": pw}
        if one_seed:
            row["ci_note"] = ("one training seed: the bootstrap CI holds that model fixed and covers problems and "
                              "sampling only, not training seeds; the t interval needs 2 seeds")
        pairs.append(row)
    seeds_used = max((len(runs[v]) for v in variants), default=0)
    return _finite({"seeds": seeds_used, "training_seeds": [cfg.seed + i for i in range(seeds_used)],
            "seeds_per_method": {v: len(runs[v]) for v in variants}, "problems": len(pids),
            "samples_per_problem": n, "methods": methods, "pairs": pairs,
            "costs": {"seconds_per_training_seed": per_seed, "seconds_per_evaluated_sample": per_sample,
                      "from": "this run's stages.json (medians)"},
            "method": "difference of means over seeds and problems; CIs: two-level bootstrap (seeds within each method, "
                      "problems shared) and t with Satterthwaite df; P(improvement): ties count half; power: normal "
                      f"approximation, {100 * power:g}% at alpha {alpha:g} two-sided; null where a quantity is not "
                      "estimable (e.g. an infinite cost, or one training seed)"})


def _finite(obj):
    """JSON has no NaN or infinity: they become null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _pp(x: float | None) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{100 * x:+.1f}"


def _pts(x: float | None) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{100 * x:.1f}"


def seeds_html(s: dict) -> str:
    """The index page's section: methods with their seed values, then every pair."""
    import html

    m_rows = "".join(f"<tr><td>{html.escape(m['label'])}</td><td>{100 * m['mean_accuracy']:.1f}</td>"
                     f"<td>{', '.join(f'{100 * x:.1f}' for x in m['seeds'])}</td></tr>" for m in s["methods"].values())
    p_rows = []
    for p in s["pairs"]:
        pw = p["power"]
        need = (", ".join(f"{k} {v if v is not None else 'unreachable'}" for k, v in pw["to_detect_delta"].items())
                if pw.get("estimable", True) else "not estimable (one training seed)")
        best = pw.get("next_hour", {}).get("best", "—")
        poi = p["probability_of_improvement"]
        p_rows.append(
            f"<tr><td>{html.escape(p['label'])}</td><td>{'<b>' if p['significant'] else ''}{_pp(p['diff'])}{'</b>' if p['significant'] else ''}</td>"
            f"<td>[{_pp(p['bootstrap_ci95'][0])}, {_pp(p['bootstrap_ci95'][1])}]</td><td>[{_pp(p['t_ci95'][0])}, {_pp(p['t_ci95'][1])}]</td>"
            f"<td>{poi['estimate']:.2f} [{poi['ci95'][0]:.2f}, {poi['ci95'][1]:.2f}]</td><td>{_pts(pw['mde_80'])}</td>"
            f"<td>{html.escape(need)}</td><td>{html.escape(best)}</td></tr>")
    return (f"<h2>Across {s['seeds']} training seeds</h2>"
            f"<p>Each method trained with seeds {', '.join(map(str, s['training_seeds']))}; every model sampled on the same "
            f"{s['problems']} problems with the same sample seeds ({s['samples_per_problem']} samples each).</p>"
            "<table><tr><th>method</th><th>mean accuracy (%)</th><th>per seed (%)</th></tr>" + m_rows + "</table>"
            "<table><tr><th>B - A</th><th>difference (points)</th><th>two-level bootstrap 95% CI</th><th>t 95% CI</th>"
            "<th>P(B beats A)</th><th>detectable at 80% power</th>"
            f"<th>to detect {100 * s['pairs'][0]['power']['delta']:.0f} points (one lever at a time)</th><th>next hour best spent on</th></tr>"
            + "".join(p_rows) + "</table>"
            f"<p>{html.escape(s['method'])}. Bold: both intervals exclude 0.</p>")
