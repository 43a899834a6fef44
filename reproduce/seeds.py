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
    """acc[s, p] of the runs `names` (one row each) on `problem_ids`, and the samples per problem."""
    rows, ns = [], set()
    for name in names:
        probs = {}
        for line in (lay.passk(name) / "problems.jsonl").read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            probs[str(r["problem_id"])] = r
        rows.append([probs[p]["accuracy"] for p in problem_ids])
        ns.update(probs[p]["n"] for p in problem_ids)
    if len(ns) != 1:
        raise ValueError(f"runs {names} sampled different n per problem: {sorted(ns)}")
    return np.asarray(rows, dtype=np.float64), ns.pop()


def _stage_seconds(lay: Layout, prefix: str) -> list[float]:
    try:
        stages = json.loads(lay.stages_file.read_text(encoding="utf-8"))["stages"]
    except (OSError, ValueError, KeyError):
        return []
    return [v["seconds"] for k, v in stages.items() if k.startswith(prefix) and isinstance(v, dict) and "seconds" in v]


def _sizes(pc, delta: float, seeds: int, problems: int, samples: int) -> dict:
    from entropykit.seed_stats import required_size

    return {lever: required_size(pc, delta, lever, seeds, problems, samples) for lever in ("seeds", "problems", "samples")}


def seed_summary(cfg: ReproduceConfig, lay: Layout, *, delta: float = DEFAULT_DELTA, n_resamples: int = 4000) -> dict:
    """The across-seeds part of summary.json (see the module docstring)."""
    from entropykit import seed_stats as st

    base_rows = [json.loads(x) for x in (lay.passk("base") / "problems.jsonl").read_text(encoding="utf-8").splitlines()]
    pids = [str(r["problem_id"]) for r in base_rows]
    base, n = accuracy_matrix(lay, ["base"], pids)
    mats = {v: accuracy_matrix(lay, [run_name(v, i) for i in range(cfg.seeds)], pids)[0] for v in cfg.variants}
    methods = {"base": {"label": label("base"), "mean_accuracy": float(base.mean()), "seeds": [float(base.mean())]}}
    for v, m in mats.items():
        methods[v] = {"label": label(v), "mean_accuracy": float(m.mean()), "seeds": [float(x) for x in m.mean(axis=1)]}

    train_s = _stage_seconds(lay, "train ")
    passk_s = _stage_seconds(lay, "passk ")
    per_sample = (float(np.median(passk_s)) / (len(pids) * n)) if passk_s else None
    per_seed = float(np.median(train_s)) if train_s else None

    pairs = []
    for a, b in [("base", v) for v in cfg.variants] + [p for p in figure8_pairs(cfg) if p[0] != "base"]:
        is_base = a == "base"
        ma = base[0] if is_base else mats[a]
        mb = mats[b]
        boot = (st.bootstrap_diff_vs_base(ma, mb, n_resamples=n_resamples, rng=cfg.seed) if is_base
                else st.two_level_bootstrap_diff(ma, mb, n_resamples=n_resamples, rng=cfg.seed))
        t = st.t_interval_diff(ma, mb, n, a_is_base=is_base)
        poi = st.probability_of_improvement(ma, mb, n_resamples=n_resamples, rng=cfg.seed)
        pc = st.pair_components(ma, mb, n, a_is_base=is_base)
        seeds, problems = cfg.seeds, len(pids)
        row = {"a": a, "b": b, "label": f"{label(b)} - {label(a)}", "diff": boot.estimate,
               "bootstrap_ci95": [boot.low, boot.high], "t_ci95": [t.low, t.high], "t_df": t.df,
               "significant": bool(t.excludes(0.0) and boot.excludes(0.0)),
               "probability_of_improvement": {"estimate": poi.estimate, "ci95": [poi.low, poi.high]},
               "seeds": {"a": 1 if is_base else seeds, "b": seeds}, "problems": problems, "samples_per_problem": n,
               "power": {"components": pc.as_dict(),
                         "se": st.difference_se(pc, seeds, problems, n),
                         "mde_80": st.minimum_detectable_difference(pc, seeds, problems, n),
                         "delta": delta, "to_detect_delta": _sizes(pc, delta, seeds, problems, n)}}
        if per_seed and per_sample:
            row["power"]["next_hour"] = st.compute_tradeoff(pc, seeds, problems, n, seconds_per_seed=per_seed,
                                                            seconds_per_sample=per_sample)
        pairs.append(row)
    return _finite({"seeds": cfg.seeds, "training_seeds": [cfg.seed + i for i in range(cfg.seeds)], "problems": len(pids),
            "samples_per_problem": n, "methods": methods, "pairs": pairs,
            "costs": {"seconds_per_training_seed": per_seed, "seconds_per_evaluated_sample": per_sample,
                      "from": "this run's stages.json (medians)"},
            "method": "difference of means over seeds and problems; CIs: two-level bootstrap (seeds within each method, "
                      "problems shared) and t with Satterthwaite df; P(improvement): ties count half; power: normal "
                      "approximation, 80% at alpha 0.05 two-sided; null where a quantity is not estimable (e.g. an infinite cost)"})


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


def seeds_html(s: dict) -> str:
    """The index page's section: methods with their seed values, then every pair."""
    import html

    m_rows = "".join(f"<tr><td>{html.escape(m['label'])}</td><td>{100 * m['mean_accuracy']:.1f}</td>"
                     f"<td>{', '.join(f'{100 * x:.1f}' for x in m['seeds'])}</td></tr>" for m in s["methods"].values())
    p_rows = []
    for p in s["pairs"]:
        pw = p["power"]
        need = ", ".join(f"{k} {v if v is not None else 'unreachable'}" for k, v in pw["to_detect_delta"].items())
        best = pw.get("next_hour", {}).get("best", "—")
        poi = p["probability_of_improvement"]
        p_rows.append(
            f"<tr><td>{html.escape(p['label'])}</td><td>{'<b>' if p['significant'] else ''}{_pp(p['diff'])}{'</b>' if p['significant'] else ''}</td>"
            f"<td>[{_pp(p['bootstrap_ci95'][0])}, {_pp(p['bootstrap_ci95'][1])}]</td><td>[{_pp(p['t_ci95'][0])}, {_pp(p['t_ci95'][1])}]</td>"
            f"<td>{poi['estimate']:.2f} [{poi['ci95'][0]:.2f}, {poi['ci95'][1]:.2f}]</td><td>{100 * pw['mde_80']:.1f}</td>"
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
