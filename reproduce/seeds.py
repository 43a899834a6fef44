"""Method comparisons across training seeds (`reproduce --seeds N`, N >= 2): the table's second level.

Every method is trained N times; every trained model and the base are sampled on the same P
problems with the same sample seeds, n samples each. A method's scores are the matrix
acc[s, p] (fraction of the n samples of problem p right, for the model trained with seed s),
read by `entropykit.evalkit.group_stats.group_matrices` (the reader of `passk compare A1 A2 --
B1 B2` too). From those matrices (`entropykit.seed_stats`):

- per method: the mean over seeds and problems, and each seed's mean (the dots of the figure);
- per pair (every pair: the Figure-8 pairs first, `layout.compared_pairs`): `group_stats.compare_pair`,
  the function `passk compare` calls: the difference of means with a two-level bootstrap CI
  (seeds within each method and problems, shared across methods), a t interval with
  Satterthwaite degrees of freedom (better calibrated with 2-3 seeds; null, with the reason,
  where a trained method has one seed), the probability of improvement P(B beats A on a random
  problem and seed pair, ties half);
- power (`_power`): the variance components (between seeds, method x problem, sampling), the
  smallest difference the design detects with 80% power at alpha 0.05, the seeds / problems /
  samples that would detect `delta`, and where an hour of compute (priced from this run's own
  stage times, every attempt of a stage summed: `stage_costs`) buys the most precision. Each
  method's own seed count is the design's.
"""

from __future__ import annotations

import html
import json
from dataclasses import replace

import numpy as np

from .config import ReproduceConfig
from .layout import Layout, compared_pairs, label, run_name, seed_index, train_seed

DEFAULT_DELTA = 0.05  # the difference power is asked about when the user names none: 5 points
LEVERS = ("seeds", "problems", "samples")


# What one more model costs, by kind of stage (`stages.build_stages`: each trained run has its
# train, export, passk and analyze stages; the base its passk and analyze). Train and export are
# the fixed cost of a training seed; passk and analyze scale with the samples evaluated (analyze
# scores and embeds each one), so they price a sample, and through it a seed's evaluation too.
SEED_STAGES = ("train", "export")
SAMPLE_STAGES = ("passk", "analyze")


def _stage_seconds(lay: Layout, kind: str) -> list[float]:
    """The cost of every finished stage of `kind` ("train", "passk", ...) in stages.json: the sum
    over its attempts (`seconds_total`; a stage killed and resumed cost both), or `seconds` in a
    file written before attempts were summed."""
    try:
        stages = json.loads(lay.stages_file.read_text(encoding="utf-8"))["stages"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if not isinstance(stages, dict):
        return []
    out = []
    for name, rec in stages.items():
        if not name.startswith(kind + " ") or not isinstance(rec, dict) or "seconds" not in rec:  # unfinished
            continue
        secs = rec.get("seconds_total", rec["seconds"])
        if isinstance(secs, (int, float)) and not isinstance(secs, bool):
            out.append(float(secs))
    return out


def stage_costs(lay: Layout) -> tuple[float | None, float | None, dict[str, list[str]]]:
    """(seconds per training seed, seconds per evaluated sample before dividing by problems x
    samples, the kinds of stage priced in each): each the sum over `SEED_STAGES` (or
    `SAMPLE_STAGES`) of the median cost of that kind; a kind with no finished stage yet (e.g. the
    analyses, run after every passk) is left out, and the list says so. None when none is finished."""
    priced: dict[str, list[str]] = {"per_training_seed": [], "per_evaluated_sample": []}
    totals = []
    for key, kinds in (("per_training_seed", SEED_STAGES), ("per_evaluated_sample", SAMPLE_STAGES)):
        total = None
        for kind in kinds:
            secs = _stage_seconds(lay, kind)
            if secs:
                total = (total or 0.0) + float(np.median(secs))
                priced[key].append(kind)
        totals.append(total)
    return totals[0], totals[1], priced


def _without_seed_variance(pc):
    """`pc` with every one-seed trained side's (unknown) seed components set to 0: the design's
    precision if training seeds did not matter, a lower bound on its real SE."""

    def zero(c):
        return replace(c, seed=0.0, seed_problem=0.0) if c.trained and c.seeds < 2 else c

    return replace(pc, a=zero(pc.a), b=zero(pc.b))


def _power(a: str, b: str, ma: np.ndarray, mb: np.ndarray, n: int, *, delta: float, alpha: float, power: float,
           per_seed: float | None, per_sample: float | None) -> dict:
    """The power of the design that compared `a` and `b` (accuracy matrices `ma`, `mb`, each side
    with its own number of seeds): its variance components, SE, detectable difference, the sizes
    that detect `delta` and the next hour of compute; null where not estimable, with the reason."""
    from entropykit import seed_stats as st

    is_base = a == "base"
    sa, sb = ma.shape[0], mb.shape[0]
    problems = ma.shape[1]
    seeds = (sa, sb)
    pw: dict = {"components": None, "alpha": alpha, "power": power, "delta": delta,
                "design": {"seeds": {"a": sa, "b": sb}, "problems": problems, "samples": n}}
    if sa != sb and not is_base:
        pw["design_note"] = (f"{label(a)} has {sa} finished seeds and {label(b)} {sb}: the power is that of this "
                             "design; the seeds needed are per method, each method trained that many times")
    unknown = {"estimable": False, "se": None, "mde": None, "mde_80": None,
               "to_detect_delta": {k: None for k in LEVERS}, "mde_if_no_seed_variance": None}
    if n < 2 or problems < 2:
        what = "one sample per problem" if n < 2 else "one problem"
        pw.update(unknown, not_estimable=f"{what}: the variance components need 2 or more samples per problem and "
                                         "2 or more problems")
        return pw
    pc = st.pair_components(ma, mb, n, a_is_base=is_base)
    pw["components"] = pc.as_dict()
    one_seed_methods = [label(x) for x, s_x in ((a, sa), (b, sb)) if x != "base" and s_x < 2]
    if one_seed_methods:
        pw.update(unknown, not_estimable=(
            f"{' and '.join(one_seed_methods)} {'has' if len(one_seed_methods) == 1 else 'have'} one training seed: "
            "the variance between seeds cannot be estimated from one run, so the power of this design and the sizes "
            "needed are unknown (train 2 or more seeds: rerun reproduce with --seeds 3)"))
        pw["mde_if_no_seed_variance"] = st.minimum_detectable_difference(
            _without_seed_variance(pc), seeds, problems, n, alpha=alpha, power=power)
        return pw
    pw.update({"estimable": True, "se": st.difference_se(pc, seeds, problems, n),
               "mde": st.minimum_detectable_difference(pc, seeds, problems, n, alpha=alpha, power=power),
               "mde_80": st.minimum_detectable_difference(pc, seeds, problems, n),
               "to_detect_delta": {lever: st.required_size(pc, delta, lever, seeds, problems, n, alpha=alpha, power=power)
                                   for lever in LEVERS}})
    if per_seed and per_sample:
        pw["next_hour"] = st.compute_tradeoff(pc, seeds, problems, n, seconds_per_seed=per_seed,
                                              seconds_per_sample=per_sample, alpha=alpha, power=power)
    return pw


def seed_summary(cfg: ReproduceConfig, lay: Layout, *, delta: float = DEFAULT_DELTA, n_resamples: int = 4000,
                 alpha: float = 0.05, power: float = 0.8, runs: dict[str, list[str]] | None = None) -> dict:
    """The across-seeds part of summary.json (see the module docstring), also what `entropykit
    reproduce power` prints. `runs`: variant -> the run names to use (default: every seed of every
    variant, `cfg.seeds` each); a partly finished experiment passes the finished ones (a variant
    with none is left out, and so are its pairs). `delta` is a fraction (0.05 = 5 points); the
    power numbers are at `power` and two-sided `alpha`, and `mde_80` always at 80% and 0.05.

    Where a trained method has one seed its seed variance cannot be estimated: the pair's t
    interval, SE, detectable difference, sizes and next hour are null, `ci_note` and
    `power.not_estimable` say why, and `power.mde_if_no_seed_variance` is the detectable
    difference if training seeds did not matter (a lower bound). Methods with different numbers
    of finished seeds are each counted with their own (`seeds_per_method`). UserError on runs
    that cannot be compared (`group_matrices`)."""
    from entropykit.evalkit.group_stats import compare_pair, finite, group_matrices

    if runs is None:
        runs = {v: [run_name(v, i) for i in range(cfg.seeds)] for v in cfg.variants}
    variants = [v for v in cfg.variants if runs.get(v)]
    mats = group_matrices([("base", [lay.passk("base")])] + [(v, [lay.passk(r) for r in runs[v]]) for v in variants])
    acc, n, problems = mats.acc, mats.samples, len(mats.problem_ids)
    methods = {name: {"label": label(name), "mean_accuracy": float(m.mean()), "seeds": [float(x) for x in m.mean(axis=1)],
                      "runs": ["base"] if name == "base" else list(runs[name])} for name, m in acc.items()}

    per_seed, per_model, priced = stage_costs(lay)
    per_sample = per_model / (problems * n) if per_model else None

    pairs = []
    for a, b in compared_pairs(cfg, variants):
        row = {"a": a, "b": b, "label": f"{label(b)} - {label(a)}",
               **compare_pair(acc[a], acc[b], n, labels=(label(a), label(b)), base="a" if a == "base" else None,
                              n_resamples=n_resamples, rng=cfg.seed),
               "problems": problems, "samples_per_problem": n}
        row["power"] = _power(a, b, acc[a], acc[b], n, delta=delta, alpha=alpha, power=power, per_seed=per_seed,
                              per_sample=per_sample)
        pairs.append(row)
    per_method = {v: len(runs[v]) for v in variants}
    counts = set(per_method.values())
    out = {"seeds": counts.pop() if len(counts) == 1 else None, "seeds_per_method": per_method,
           "training_seeds": {v: [train_seed(cfg, seed_index(r)) for r in runs[v]] for v in variants},
           "problems": problems, "samples_per_problem": n, "methods": methods, "pairs": pairs,
           "costs": {"seconds_per_training_seed": per_seed, "seconds_per_evaluated_sample": per_sample,
                     "priced_stages": priced,
                     "from": "this run's stages.json: each stage's seconds summed over its attempts; per training "
                             f"seed the medians of its {' + '.join(priced['per_training_seed']) or 'no finished'} "
                             f"stages, per evaluated sample those of the {' + '.join(priced['per_evaluated_sample']) or 'no finished'} "
                             "stages over problems x samples"},
           "method": "difference of means over seeds and problems; CIs: two-level bootstrap (seeds within each method, "
                     "problems shared) and t with Satterthwaite df; P(improvement): ties count half; power: normal "
                     f"approximation, {100 * power:g}% at alpha {alpha:g} two-sided; null where a quantity is not "
                     "estimable (e.g. an infinite cost, or one training seed)"}
    if mats.notes:
        out["notes"] = mats.notes
    return finite(out)


def seeds_html(s: dict) -> str:
    """The index page's section: methods with their seed values, then every pair."""
    from entropykit.evalkit.group_stats import points, points_ci

    m_rows = "".join(f"<tr><td>{html.escape(m['label'])}</td><td>{points(m['mean_accuracy'])}</td>"
                     f"<td>{', '.join(points(x) for x in m['seeds'])}</td></tr>" for m in s["methods"].values())
    p_rows = []
    for p in s["pairs"]:
        pw = p["power"]
        need = (", ".join(f"{k} {v if v is not None else 'unreachable'}" for k, v in pw["to_detect_delta"].items())
                if pw.get("estimable", True) else "not estimable")
        best = pw.get("next_hour", {}).get("best", "—")
        poi = p["probability_of_improvement"]
        bold = ("<b>", "</b>") if p["significant"] else ("", "")
        p_rows.append(
            f"<tr><td>{html.escape(p['label'])}</td><td>{bold[0]}{points(p['diff'], signed=True)}{bold[1]}</td>"
            f"<td>{points_ci(p['bootstrap_ci95'])}</td><td>{points_ci(p['t_ci95'])}</td>"
            f"<td>{poi['estimate']:.2f} [{poi['ci95'][0]:.2f}, {poi['ci95'][1]:.2f}]</td><td>{points(pw['mde_80'])}</td>"
            f"<td>{html.escape(need)}</td><td>{html.escape(best)}</td></tr>")
    notes = [f"{p['label']}: {p['ci_note']}" for p in s["pairs"] if p.get("ci_note")]
    notes += [f"{p['label']}: {p['power']['not_estimable']}" for p in s["pairs"] if p["power"].get("not_estimable")]
    return (f"<h2>{html.escape(_seeds_heading(s))}</h2>"
            f"<p>{html.escape(_trained_with(s))}; every model sampled on the same {s['problems']} problems with the same "
            f"sample seeds ({s['samples_per_problem']} samples each).</p>"
            "<table><tr><th>method</th><th>mean accuracy (%)</th><th>per seed (%)</th></tr>" + m_rows + "</table>"
            "<table><tr><th>B - A</th><th>difference (points)</th><th>two-level bootstrap 95% CI</th><th>t 95% CI</th>"
            "<th>P(B beats A)</th><th>detectable at 80% power</th>"
            f"<th>to detect {100 * s['pairs'][0]['power']['delta']:.0f} points (one lever at a time)</th><th>next hour best spent on</th></tr>"
            + "".join(p_rows) + "</table>"
            + "".join(f"<p>{html.escape(x)}</p>" for x in notes)
            + f"<p>{html.escape(s['method'])}. Bold: both intervals exclude 0.</p>")


def _seeds_heading(s: dict) -> str:
    """"Across 3 training seeds", or each method's count when they differ."""
    if s.get("seeds") is not None:
        return f"Across {s['seeds']} training seed{'s' if s['seeds'] != 1 else ''}"
    per = ", ".join(f"{s['methods'][v]['label']} {k}" for v, k in s["seeds_per_method"].items())
    return f"Across training seeds ({per})"


def _trained_with(s: dict) -> str:
    """Which training seeds each method was trained with: one list when every method has the same."""
    lists = s["training_seeds"]
    if len({tuple(x) for x in lists.values()}) == 1:
        return f"Each method trained with seeds {', '.join(map(str, next(iter(lists.values()))))}"
    return "; ".join(f"{s['methods'][v]['label']} trained with seed{'s' if len(x) > 1 else ''} {', '.join(map(str, x))}"
                     for v, x in lists.items())
