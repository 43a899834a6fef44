"""The experiment's result: `summary.json` and `index.html` (the paper's Tables 2-3 first).

Every number is read from the tools' own outputs: pass@k and mean accuracy from each model's
passk run (`summary.json`, `problems.jsonl`), the paired differences from
`evalkit.report.paired_runs` (problem-level bootstrap CI and Wilcoxon test, the samples of
both runs drawn with the same seeds), the training curves from `metrics.jsonl`, the entropy
statistics from each analysis' `summary.json` and the Figure 8 comparisons from `analyze
compare`. With one training seed nothing here depends on wall time, so an interrupted and
resumed run writes the same summary.json as an uninterrupted one (stage times live in
`stages.json`). With --seeds >= 2 two parts do: `across_seeds.costs` and each pair's
`power.next_hour` are priced from this run's stage times in `stages.json` (`seeds.stage_costs`,
every attempt of a stage summed), so they vary between runs as wall times do; everything else
in summary.json is a function of the tools' outputs and still reads the same.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from entropykit.io import atomic_write_json, atomic_write_text, iter_jsonl

from .config import LABELS, VARIANTS, ReproduceConfig
from .layout import Layout, figure8_pairs
from .seeds import seed_summary, seeds_html


def delta_pairs(cfg: ReproduceConfig) -> list[tuple[str, str]]:
    """(A, B) rows of B - A: each variant against the base, then the paper's method against the
    plain algorithm and against entropy regularization (Table 3)."""
    rows = [("base", v) for v in cfg.variants]
    return rows + [p for p in figure8_pairs(cfg) if p[0] != "base"]


def _passk_summary(lay: Layout, name: str) -> dict:
    return json.loads((lay.passk(name) / "summary.json").read_text(encoding="utf-8"))


def _inside(lay: Layout, spec: str | None) -> str | None:
    """A model path inside the run folder, relative to it (the summary of a moved folder reads
    the same); any other spec as it is."""
    if spec is None:
        return None
    try:
        return Path(spec).resolve().relative_to(lay.root.resolve()).as_posix()
    except ValueError:
        return spec


def model_row(lay: Layout, name: str) -> dict:
    s = _passk_summary(lay, name)
    (bench, b), = s["benchmarks"].items()
    return {"label": LABELS[name], "model": _inside(lay, s.get("model")), "benchmark": bench, "num_problems": b["num_problems"], "n": b["n"],
            "mean_accuracy": b["mean_accuracy"], "pass_at_k": b["pass_at_k"], "pass_at_k_ci95": b.get("pass_at_k_ci95")}


def delta_row(lay: Layout, a: str, b: str) -> dict:
    from entropykit.evalkit.report import paired_runs

    sa, sb = _passk_summary(lay, a), _passk_summary(lay, b)
    (bench, info), = sa["benchmarks"].items()
    ks = [int(k) for k in info["pass_at_k"]]
    paired = paired_runs((lay.passk(a), sa), (lay.passk(b), sb), bench, ks)
    return {"a": a, "b": b, "label": f"{LABELS[b]} - {LABELS[a]}", **(paired or {"pairing": "not paired"})}


def training_row(lay: Layout, variant: str) -> dict:
    recs = list(iter_jsonl(lay.train_run(variant) / "metrics.jsonl"))
    keys = ("reward_mean", "accuracy", "entropy", "response_length", "zero_adv_group_frac", "psi_ratio", "approx_kl")

    def mean(rs: list[dict], key: str) -> float | None:
        vals = [r[key] for r in rs if r.get(key) is not None]
        return sum(vals) / len(vals) if vals else None

    head, tail = recs[: max(1, len(recs) // 3)], recs[-max(1, len(recs) // 3):]  # first and last thirds of the steps
    return {"algo": VARIANTS[variant]["algo"], "steps": len(recs), "steps_per_third": len(head),
            "first_third": {k: mean(head, k) for k in keys}, "last_third": {k: mean(tail, k) for k in keys}}


def analysis_row(lay: Layout, name: str) -> dict:
    s = json.loads((lay.analysis(name) / "summary.json").read_text(encoding="utf-8"))
    out = {"num_responses": s["num_responses"], "num_prompts": s["num_prompts"], "mean_entropy": s["mean_entropy"]}
    for part in ("pivotal", "reflection", "rare"):
        pr = (s.get(part) or {}).get("per_response") or {}
        out[part] = {k: pr.get(k) for k in ("responses", "prompts", "unit", "mean_diff", "ci95", "p_value", "note")}
    dyn = (s.get("dynamics") or {})
    out["dynamics"] = {k: v for k, v in dyn.items() if isinstance(v, (int, float)) or v is None}
    return out


def figure8_row(lay: Layout, a: str, b: str) -> dict:
    rep = json.loads((lay.reports / f"analyze-{a}-vs-{b}.json").read_text(encoding="utf-8"))
    return {"a": a, "b": b, "metrics": [{k: m.get(k) for k in ("metric", "label", "diff", "diff_ci95", "p_value", "pairing")}
                                        for m in rep["metrics"]]}


def build_summary(cfg: ReproduceConfig, lay: Layout) -> dict:
    names = ["base", *cfg.variants]
    models = {n: model_row(lay, n) for n in names}
    deltas = [delta_row(lay, a, b) for a, b in delta_pairs(cfg)]
    k_max = str(max(int(k) for k in models["base"]["pass_at_k"]))
    significant = [d["label"] + f" ({what})" for d in deltas if "mean_accuracy" in d
                   for what, x in (("mean accuracy", d["mean_accuracy"]), (f"pass@{k_max}", d["pass_at_k"].get(k_max)))
                   if x and x["significant"]]
    crossovers = json.loads((lay.reports / "passk-compare.json").read_text(encoding="utf-8"))["benchmarks"]
    return {
        "tool": "entropykit reproduce",
        "settings": {k: v for k, v in cfg.to_dict().items() if k != "out" and not (k == "seeds" and v == 1)},  # where it is: not a result
        "benchmark": models["base"]["benchmark"],
        "num_problems": models["base"]["num_problems"],
        "k_max": int(k_max),
        "models": models,
        "deltas": deltas,
        "significant": significant,
        "verdict": (f"{len(significant)} of {2 * len(deltas)} paired differences (mean accuracy and pass@{k_max}) have a 95% CI "
                    f"that excludes 0" + (": " + "; ".join(significant) if significant else
                                          ": at this scale no difference is distinguishable from noise")),
        "training": {v: training_row(lay, v) for v in cfg.variants},
        "analysis": {n: analysis_row(lay, n) for n in names},
        "figure8": [figure8_row(lay, a, b) for a, b in figure8_pairs(cfg)],
        "crossovers": {b: e.get("crossovers", []) for b, e in crossovers.items()},
        "stage_times": "stages.json",
        **({"across_seeds": seed_summary(cfg, lay)} if cfg.seeds > 1 else {}),
    }


def write_table(cfg: ReproduceConfig, lay: Layout) -> dict:
    summary = build_summary(cfg, lay)
    atomic_write_json(lay.root / "summary.json", summary)
    atomic_write_text(lay.root / "index.html", index_html(summary, lay))
    return summary


# --------------------------------------------------------------------------------------------
# index.html: one offline page, no scripts


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def _pp(d: dict | None) -> str:
    """A paired difference in percentage points with its CI; bold when the CI excludes 0."""
    if not d:
        return "—"
    ci = "" if d.get("ci95") is None else f" [{100 * d['ci95'][0]:+.1f}, {100 * d['ci95'][1]:+.1f}]"
    text = html.escape(f"{100 * d['diff']:+.1f}{ci}")
    return f"<b>{text}</b>" if d.get("significant") else text


def _num(x, fmt: str = "{:.3f}") -> str:
    return "—" if x is None else fmt.format(x)


def _ci(c) -> str:
    return "" if not c else f" [{c[0]:+.3f}, {c[1]:+.3f}]"


def index_html(s: dict, lay: Layout) -> str:
    ks = list(s["models"]["base"]["pass_at_k"])
    head = "<tr><th>model</th>" + "".join(f"<th>pass@{k} (%)</th>" for k in ks) + "<th>mean accuracy (%)</th></tr>"
    rows = []
    for m in s["models"].values():
        cells = "".join(f"<td>{_pct(m['pass_at_k'][k])}</td>" for k in ks)
        rows.append(f"<tr><td>{html.escape(m['label'])}</td>{cells}<td>{_pct(m['mean_accuracy'])}</td></tr>")
    for d in s["deltas"]:
        if "mean_accuracy" not in d:
            continue
        cells = "".join(f"<td>{_pp(d['pass_at_k'].get(k))}</td>" for k in ks)
        rows.append(f"<tr class='delta'><td>{html.escape(d['label'])}</td>{cells}<td>{_pp(d['mean_accuracy'])}</td></tr>")
    table = f"<table>{head}{''.join(rows)}</table>"

    tr_head = ("<tr><th>variant</th><th>steps</th><th>reward</th><th>accuracy (%)</th><th>entropy (nats)</th>"
               "<th>length (tokens)</th><th>zero-advantage groups</th><th>psi / |A|</th></tr>")
    tr_rows = []
    for v, t in s["training"].items():
        f, l = t["first_third"], t["last_third"]

        def pair(key: str, fmt: str = "{:.3f}", scale: float = 1.0) -> str:
            a, b = f.get(key), l.get(key)
            return "—" if a is None or b is None else f"{fmt.format(scale * a)} → {fmt.format(scale * b)}"

        tr_rows.append(f"<tr><td>{html.escape(LABELS[v])}</td><td>{t['steps']}</td><td>{pair('reward_mean', '{:+.2f}')}</td>"
                       f"<td>{pair('accuracy', '{:.1f}', 100)}</td><td>{pair('entropy')}</td><td>{pair('response_length', '{:.0f}')}</td>"
                       f"<td>{pair('zero_adv_group_frac', '{:.2f}')}</td><td>{pair('psi_ratio')}</td></tr>")

    an_head = ("<tr><th>model</th><th>responses</th><th>mean entropy</th><th>pivotal - other</th><th>reflective - other</th>"
               "<th>rare - other (vs base)</th></tr>")
    an_rows = []
    for n, a in s["analysis"].items():
        def cmp(part: str) -> str:
            pr = a[part]
            if pr.get("mean_diff") is None:
                return html.escape(pr.get("note") or "—")
            p = "" if pr.get("p_value") is None else f", p={pr['p_value']:.3g}"
            return html.escape(f"{pr['mean_diff']:+.3f}{_ci(pr.get('ci95'))}{p} ({pr.get('responses')} resp.)")

        an_rows.append(f"<tr><td>{html.escape(LABELS[n])}</td><td>{a['num_responses']}</td><td>{a['mean_entropy']:.3f}</td>"
                       f"<td>{cmp('pivotal')}</td><td>{cmp('reflection')}</td><td>{cmp('rare') if n != 'base' else '—'}</td></tr>")

    links = [("passk compare: pass@k curves, crossover k, paired differences (Figure 5)", "reports/passk-compare.html"),
             ("train report: reward, length, entropy, psi/|A| per step (Figures 6-7)", "reports/train-report.html")]
    links += [(f"analyze compare: {LABELS[f['a']]} vs {LABELS[f['b']]} (Figure 8)", f"reports/analyze-{f['a']}-vs-{f['b']}.html")
              for f in s["figure8"]]
    for n in s["models"]:
        links.append((f"{LABELS[n]}: passk audit page", f"{n}/passk/passk.html"))
        links.append((f"{LABELS[n]}: entropy analysis report", f"{n}/analysis/report.html"))
    link_list = "".join(f"<li><a href='{html.escape(h)}'>{html.escape(t)}</a></li>" for t, h in links if (lay.root / h).exists())

    st = s["settings"]
    settings = html.escape(
        f"model {st['model']}; preset {st['preset']}; {st['steps']} steps x {st['prompts_per_step']} prompts x "
        f"{st['n_samples']} samples, mini-batch {st['mini_batch_size']}, lr {st['lr']}, rollout T {st['temperature']}, "
        f"max {st['max_tokens']} tokens; evaluation: {s['num_problems']} problems of {s['benchmark']} x {st['k']} samples "
        f"at T 0.6, top-p 0.95; seed {st['seed']}")
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>entropykit reproduce</title><style>"
        "body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child{text-align:left}"
        "th{background:#f4f4f4}tr.delta td{background:#fafaf0}.verdict{padding:.6em 1em;background:#eef3fb;border-left:4px solid #4a78c2}"
        "</style></head><body>"
        "<h1>Reasoning with Exploration: the paper's experiment on one model</h1>"
        f"<p>{settings}</p>"
        f"<h2>Table 2/3: {html.escape(s['benchmark'])}</h2>{table}"
        f"<p>Rows with a minus sign are paired differences B - A in percentage points: mean over the {s['num_problems']} "
        "problems of the per-problem difference (both models sampled every problem with the same seeds), with a 95% "
        "bootstrap CI over problems in brackets; <b>bold</b>: the CI excludes 0.</p>"
        f"<p class='verdict'>{html.escape(s['verdict'])}.</p>"
        + (seeds_html(s["across_seeds"]) if s.get("across_seeds") else "") +
        f"<h2>Training (first third of the steps → last third)</h2><table>{tr_head}{''.join(tr_rows)}</table>"
        "<h2>Entropy analysis of each model's evaluation samples (paper section 2)</h2>"
        "<p>Per-response differences of mean entropy (nats): pivotal words vs other words, reflective vs other sentences, "
        "rare sentences (far from every base-model sentence) vs the rest; 95% cluster-bootstrap CI and Wilcoxon p over "
        "prompts.</p>"
        f"<table>{an_head}{''.join(an_rows)}</table>"
        f"<h2>Reports</h2><ul>{link_list}</ul>"
        "<p>Stage times: <a href='stages.json'>stages.json</a>; settings: <a href='reproduce.json'>reproduce.json</a>; "
        "every number above: <a href='summary.json'>summary.json</a>.</p>"
        "</body></html>"
    )
