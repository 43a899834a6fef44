"""report.html: one self-contained, offline page (plotly.js inlined once, no CDN, no fetches).

Sections (with a table of contents): the scorer, warnings, key numbers; the headline
comparison with the response as the unit (paper Figure 2, right); the responses as running text
coloured by token entropy (Figure 2, left; `textview`); the entropy distribution; pivotal words
per category and per word; forking tokens; reflective and rare examples; behavior clusters
(UMAP, Figure 3); test-time dynamics (Figure 8).

The page machinery (compressed plotly.js, charts from JSON, the ``#ek-status`` line that the
browser test and bench/analysis.py read) is the core's `entropykit.html`.
"""

from __future__ import annotations

import math

import numpy as np

from entropykit.html import escape, fig_html, fmt_p, page, table


def fmt_num(x, fmt="{:.3f}") -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else fmt.format(x)


def _plot_text(s: str) -> str:
    """Token text for plotly's pseudo-HTML renderer: escape markup, make whitespace visible."""
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return s.replace("\n", "↵").replace("\t", "⇥")


def _wrap(s: str, width: int = 80, max_lines: int = 6) -> str:
    s = _plot_text(" ".join(s.split()))
    lines, cur = [], ""
    for w in s.split(" "):
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    lines.append(cur)
    if len(lines) > max_lines:
        lines = lines[:max_lines] + ["…"]
    return "<br>".join(lines)


_GROUPS = (("pivotal", "pivotal words", "other words"), ("reflection", "reflective sentences", "other sentences"),
           ("rare", "rare sentences", "other sentences"))


def _why_empty(key: str, summary: dict) -> str:
    c = summary.get(key)
    if key == "rare" and not c:
        return "no rare-behavior analysis: pass --base with a reference model's outputs"
    if key == "pivotal" and c["count"] == 0:
        found = sum(c["lexicon_filter"]["dropped"].values())
        return ("0 pivotal words found: is the text English? see --lexicon" if not found else
                f"{found} lexicon word(s) found, none {c['lexicon_filter']['min_count']}+ times (--min-word-count)")
    if key == "reflection" and c["count"] == 0:
        return "0 reflective sentences found (patterns: --reflective)"
    return c["per_response"].get("note") or "no estimate"


def comparison_figure(summary: dict):
    """Headline: per-response mean difference (group - other) with its 95% cluster-bootstrap CI,
    the number of responses on every bar, and why a group is empty when it is."""
    import plotly.graph_objects as go

    fig = go.Figure()
    xs, ys, hi, lo, text, notes = [], [], [], [], [], []
    for key, group, other in _GROUPS:
        label = f"{group}<br>vs {other}"
        c = summary.get(key)
        pr = c["per_response"] if c else None
        if not pr or pr["mean_diff"] is None or pr["ci95"] is None:
            notes.append((label, _why_empty(key, summary)))
            xs.append(label), ys.append(0), hi.append(0), lo.append(0), text.append("")
            continue
        label += f"<br><b>n = {pr['responses']} responses, p = {fmt_p(pr['p_value'])}</b>"
        xs.append(label)
        ys.append(pr["mean_diff"])
        hi.append(pr["ci95"][1] - pr["mean_diff"])
        lo.append(pr["mean_diff"] - pr["ci95"][0])
        text.append(f"{pr['mean_diff']:+.2f}")
    fig.add_bar(x=xs, y=ys, marker_color=["#d62728" if y > 0 else "#1f77b4" for y in ys], text=text, textposition="inside", insidetextanchor="start",
                error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo, color="#333"),
                hovertemplate="%{x}<br>mean difference %{y:+.3f} nats<extra></extra>")
    for label, note in notes:
        fig.add_annotation(x=label, y=0, text=_wrap(note, 34), showarrow=False, yshift=40, font=dict(size=12, color="#a00"))
    fig.add_hline(y=0, line_color="#888")
    span = max([abs(y) + max(h, l_) for y, h, l_ in zip(ys, hi, lo)] + [0.1])
    fig.update_layout(title="Entropy of each group minus the rest of the same response (per-response mean, 95% CI)",
                      yaxis_title="difference (nats)", yaxis_range=[-1.5 * span, 1.5 * span], showlegend=False)
    return fig


def pivotal_word_figure(summary: dict, top: int = 30):
    """Per word: per-response mean difference vs other words, 95% CI, responses on each bar."""
    import plotly.graph_objects as go

    words = [w for w in summary["pivotal"]["words"] if w["common"]][:top]
    ok = [w for w in words if w["per_response"]["ci95"] is not None]
    fig = go.Figure()
    fig.add_bar(
        x=[f"{w['word']}<br>n={w['per_response']['responses']}" for w in ok], y=[w["per_response"]["mean_diff"] for w in ok], marker_color="#d62728",
        error_y=dict(type="data", symmetric=False, array=[w["per_response"]["ci95"][1] - w["per_response"]["mean_diff"] for w in ok],
                     arrayminus=[w["per_response"]["mean_diff"] - w["per_response"]["ci95"][0] for w in ok], color="#333"),
        customdata=[[w["count"], w["category"], fmt_p(w["per_response"]["p_value_holm"])] for w in ok],
        hovertemplate="%{x} (%{customdata[1]})<br>difference %{y:+.3f} nats<br>%{customdata[0]} occurrences, Holm p %{customdata[2]}<extra></extra>")
    fig.add_hline(y=0, line_color="#888")
    fig.update_layout(title="Pivotal words: entropy minus other words of the same response (per-response mean, 95% CI)",
                      yaxis_title="difference (nats)")
    return fig


def umap_figure(umap_data: dict, clusters: list[dict]):
    import plotly.graph_objects as go

    x = np.asarray(umap_data["x"])
    y = np.asarray(umap_data["y"])
    is_out = np.asarray(umap_data["is_outputs"], dtype=bool)
    rare = np.asarray(umap_data["rare"], dtype=bool)
    lab = np.asarray(umap_data["cluster"])
    texts = [_wrap(t) for t in umap_data["text"]]
    ent = umap_data["entropy"]
    fig = go.Figure()
    for name, m, color, size in (("BASE sentences", ~is_out, "#9e9e9e", 5), ("OUTPUTS sentences", is_out & ~rare, "#1f77b4", 6), ("rare OUTPUTS sentences", rare, "#d62728", 8)):
        idx = np.nonzero(m)[0]
        fig.add_scattergl(
            x=x[idx], y=y[idx], mode="markers", name=name, marker=dict(color=color, size=size, opacity=0.75),
            customdata=[[texts[i], int(lab[i]), fmt_num(ent[i])] for i in idx],
            hovertemplate="%{customdata[0]}<br><i>cluster %{customdata[1]}, entropy %{customdata[2]}</i><extra>" + name + "</extra>",
        )
    for c in clusters:
        m = lab == c["cluster"]
        if m.any():
            fig.add_annotation(x=float(np.median(x[m])), y=float(np.median(y[m])), text=f"<b>C{c['cluster']}</b>",
                               showarrow=False, font=dict(size=14), bgcolor="rgba(255,255,255,0.7)")
    fig.update_layout(title="Behavior clusters: UMAP of sentence embeddings (hover for the sentence)",
                      xaxis=dict(title="UMAP 1", zeroline=False), yaxis=dict(title="UMAP 2", zeroline=False))
    return fig


def dynamics_figure(summary: dict):
    from plotly.subplots import make_subplots

    dyn = summary["dynamics"]["by_source"]
    srcs = list(dyn)
    metrics = (("mean_num_tokens", "length (tokens)"), ("mean_pivotal_count", "pivotal words"),
               ("mean_reflective_count", "reflective sentences"), ("mean_repetition_rate", f"repetition rate (rep-{summary['dynamics']['repetition_n']})"))
    fig = make_subplots(rows=1, cols=4, subplot_titles=[m[1] for m in metrics])
    palette = ["#1f77b4", "#9e9e9e", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
    for j, (k, _) in enumerate(metrics):
        fig.add_bar(x=srcs, y=[dyn[s].get(k) for s in srcs], marker_color=[palette[i % len(palette)] for i in range(len(srcs))],
                    showlegend=False, row=1, col=j + 1, hovertemplate="%{x}: %{y:.3f}<extra></extra>")
    fig.update_layout(title="Test-time dynamics per response (mean per source)")
    return fig


def entropy_histogram(table):
    """Token entropy distribution, binned here (the page carries 60 counts, not the tokens)."""
    import plotly.graph_objects as go

    ent = table.entropy.astype(np.float64)
    counts, edges = np.histogram(ent, bins=60, range=(0.0, max(float(ent.max()), 1e-6)) if ent.size else (0.0, 1.0))
    mids = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure()
    fig.add_bar(x=np.round(mids, 3).tolist(), y=counts.tolist(), width=float(edges[1] - edges[0]), marker_color="#ff7f0e",
                hovertemplate="%{x:.2f} nats: %{y} tokens<extra></extra>")
    fig.update_layout(title="Token entropy distribution (all tokens)", xaxis_title="entropy (nats)", yaxis_title="tokens",
                      yaxis_type="log", bargap=0)
    return fig


def _ci(ci) -> str:
    return f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "–"


def _headline_row(label: str, c: dict | None, holm: bool = False) -> list:
    pr = c["per_response"]
    row = [escape(label), pr["responses"], pr["prompts"], fmt_num(pr["mean_group"]), fmt_num(pr["mean_other"]), fmt_num(pr["mean_diff"], "{:+.3f}"),
           _ci(pr["ci95"]), fmt_p(pr["p_value"]), fmt_p(pr["p_value_t"]), fmt_p(pr.get("p_value_responses"))]
    if holm:
        row.append(fmt_p(pr.get("p_value_holm")))
    if pr.get("note"):
        row[0] += f"<br><span class='note'>{escape(pr['note'])}</span>"
    return row


_HEAD = ["group vs other", "responses", "prompts", "group H (mean of responses)", "other H", "mean diff", "95% CI (cluster bootstrap)",
         "Wilcoxon p", "paired t p", "Wilcoxon p over responses"]


def _pooled_row(label: str, c: dict) -> list:
    return [escape(label) + (f"<br><span class='note'>{escape(c['note'])}</span>" if c.get("note") else ""), c["count"], c["other_count"],
            fmt_num(c["mean_entropy"]), fmt_num(c["other_mean_entropy"]), fmt_num(c["diff"], "{:+.3f}"), _ci(c["ci95"]), fmt_p(c["p_value"]),
            fmt_p(c["p_value_mannwhitney"]), fmt_num(c["effect_size"], "{:+.2f}")]


_POOLED_HEAD = ["group vs other", "group n", "other n", "mean H", "other H", "diff", "95% CI (i.i.d. bootstrap)", "Welch p",
                "Mann-Whitney p", "Cohen's d"]


class _Sections:
    """The page being built: its parts, its table of contents and its charts (numbered ids)."""

    def __init__(self):
        self.parts: list[str] = []
        self.toc: list[tuple[str, str]] = []
        self.n_plots = 0

    def plot(self, fig, height, top=60) -> None:
        self.n_plots += 1
        self.parts.append(fig_html(fig, f"ek-plot-{self.n_plots}", height, top))

    def section(self, anchor: str, title: str, intro: str = "") -> None:
        self.toc.append((anchor, title))
        self.parts.append(f"<h2 id='{anchor}'>{escape(title)}</h2>" + (f"<p>{intro}</p>" if intro else ""))


def build_report(result) -> str:
    """The whole page as one string, from an `AnalysisResult`: its sections in reading order."""
    from . import textview

    s, cfg, tokens = result.summary, result.config, result.table
    page_ = _Sections()
    _header(page_, s)
    toc_at = len(page_.parts)  # the table of contents goes here, above the cards
    _cards(page_, s)
    _headline(page_, s, cfg)
    _text_view(page_, s, cfg, result)
    _distribution(page_, s, tokens)
    _pivotal(page_, s)
    _forking(page_, s)
    _reflection(page_, s, cfg)
    _rare(page_, s, result)
    _dynamics(page_, s)
    _training_steps(page_, s)
    page_.parts.insert(toc_at, "<nav class='toc'><b>Contents</b>" + "".join(f"<a href='#{a}'>{escape(t)}</a>" for a, t in page_.toc) + "</nav>")
    page_.parts.append("<p id='ek-status'>loading</p>")
    return page("entropykit analyze report", "\n".join(page_.parts), css=textview.CSS)


def _header(page_: _Sections, s: dict) -> None:
    """The title, where the entropies come from, warnings and the summary cards."""
    sc = s["scorer"]
    how = {"records": "the model that wrote the records (their <code>model</code> field)", "option": "named with --model",
           "default": "<b>the default scorer: the records do not name the model that wrote them</b>"}[sc["source"]]
    if sc["from_records"] == s["num_responses"]:
        how = "as carried by the records (their per-token arrays; no model was loaded)"
    page_.parts.append(f"<h1>Token entropy analysis</h1><p class='muted'>outputs: <code>{escape(s['inputs']['outputs'])}</code>"
                 + (f" · base: <code>{escape(s['inputs']['base'])}</code>" if s["inputs"]["base"] else "") + "</p>")
    page_.parts.append(f"<div class='scorer'>Entropies from <b><code>{escape(sc['model'])}</code></b>, {how}. "
                 f"{sc['from_records']} response(s) carried their own per-token entropies, {sc['scored']} were scored, "
                 f"{sc['reused_from_cache']} came from the cache. Entropy in nats of the next-token distribution at temperature "
                 f"{sc['temperature']:g}, teacher-forced.</div>")
    if s.get("warnings"):
        page_.parts.append("<div class='warn'><b>Warnings</b><ul>" + "".join(f"<li>{escape(w)}</li>" for w in s["warnings"]) + "</ul></div>")


def _cards(page_: _Sections, s: dict) -> None:
    """The summary cards: counts and the mean token entropy."""
    cards = [("responses", s["num_responses"]), ("prompts", s["num_prompts"]), ("tokens", s["num_tokens"]),
             ("mean token entropy", fmt_num(s["mean_entropy"])), ("pivotal words (common)", s["pivotal"]["count"]),
             ("reflective sentences", s["reflection"]["count"])]
    if s.get("rare"):
        cards.append(("rare sentences", s["rare"]["count"]))
    page_.parts.append("<div class='cards'>" + "".join(f"<div class='card'><b>{escape(v)}</b>{escape(k)}</div>" for k, v in cards) + "</div>")


def _headline(page_: _Sections, s: dict, cfg) -> None:
    """The headline: each group against the rest of its response, per response with CIs (Figure 2)."""
    page_.section("headline", "Exploratory reasoning vs entropy",
            "Is entropy higher at pivotal words, in reflective sentences and in rare sentences than in the rest of the same "
            "response? The unit is the <b>response</b>: for every response that has both, <i>d</i> = mean entropy of the group "
            "minus mean entropy of the rest; the bars are the mean of <i>d</i> over responses with a 95% cluster-bootstrap CI "
            "(resampling prompts, then responses), <i>p</i> is the Wilcoxon signed-rank test of the <i>d</i> (of their "
            "per-prompt means when prompts have several responses: those are the independent units). "
            f"Pivotal words are compared with the {'first token' if cfg.pivotal_entropy == 'first' else 'mean token entropy'} "
            "of the other <i>words</i> (not with whitespace, digits or punctuation); a sentence's entropy is the mean over its tokens.")
    page_.plot(comparison_figure(s), 440)
    rows = [_headline_row("pivotal vs other words", s["pivotal"]), _headline_row("reflective vs other sentences", s["reflection"])]
    if s.get("rare"):
        rows.append(_headline_row("rare vs other sentences", s["rare"]))
    page_.parts.append(table(_HEAD, rows))
    page_.parts.append("<p class='muted'>When prompts have several responses, the Wilcoxon and paired t tests use the per-prompt mean "
                 "<i>d</i> (the responses of one prompt are correlated); the last column, the Wilcoxon test over responses, is then "
                 "descriptive only. Groups in fewer than "
                 f"{cfg.min_responses} responses get no p-value (--min-responses).</p>")
    mm = [(k, (s.get(k) or {}).get("mixed_model")) for k, _, _ in _GROUPS if (s.get(k) or {}).get("mixed_model")]
    if mm:
        page_.parts.append("<p><b>Mixed model</b> (statsmodels MixedLM, REML; assumes independent tokens inside a response, so its "
                     "CI can be too narrow when they are correlated)</p>")
        page_.parts.append(table(["group", "formula", "rows", "coefficient", "95% CI", "p"],
                            [[k, escape(m["formula"]), m["rows"], fmt_num(m["coef"], "{:+.3f}"), _ci(m["ci95"]), fmt_p(m["p_value"])] for k, m in mm]))
    page_.parts.append("<details><summary>Pooled figures (descriptive: tokens and sentences treated as independent, which "
                 "overstates the evidence)</summary>")
    prow = [_pooled_row("pivotal vs other words", s["pivotal"]),
            _pooled_row("pivotal vs all other tokens", s["pivotal"]["vs_all_other_tokens"]),
            _pooled_row("reflective vs other sentences", s["reflection"])]
    if s.get("rare"):
        prow.append(_pooled_row("rare vs other sentences", s["rare"]))
    page_.parts.append(table(_POOLED_HEAD, prow) + "</details>")


def _text_view(page_: _Sections, s: dict, cfg, result) -> None:
    """The responses as running text coloured by token entropy."""
    from . import textview

    shown = list(range(min(cfg.text_responses, s["num_responses"])))
    page_.section("text", "Responses as text, coloured by token entropy",
            f"{len(shown)} of {s['num_responses']} responses (--text-responses). Background: entropy of each token on an "
            f"{'absolute scale, 0 to ' + format(cfg.color_max, 'g') + ' nats' if cfg.color_range == 'absolute' else 'the run' + chr(39) + 's own scale'}"
            " (tokens above the top are outlined); pivotal words underlined (dotted: lexicon words below --min-word-count), "
            "reflective sentences with a blue line above, rare sentences with a purple line below; each has a toggle. "
            "Hover a token for its entropy, log-probability and the model's top alternatives; filter the list by response id.")
    payload = textview.build_payload(result, shown)
    page_.parts.append(textview.render_html(payload, color_range=cfg.color_range, color_max=cfg.color_max, has_rare=bool(s.get("rare"))))


def _distribution(page_: _Sections, s: dict, tokens) -> None:
    """The token entropy histogram."""
    page_.section("distribution", "Token entropy distribution")
    page_.plot(entropy_histogram(tokens), 320)
    te = s["token_entropy"]
    page_.parts.append(f"<p class='muted'>mean {fmt_num(te['mean'])}, median {fmt_num(te['quantiles'].get('0.5'))}, 90th percentile "
                 f"{fmt_num(te['quantiles'].get('0.9'))}, max {fmt_num(te['max'])} nats.</p>")


def _pivotal(page_: _Sections, s: dict) -> None:
    """Pivotal words: the lexicon, per category and per word."""
    piv = s["pivotal"]
    lf = piv["lexicon_filter"]
    page_.section("pivotal", "Pivotal words",
            f"Lexicon <code>{escape(piv['lexicon_spec'])}</code> (--lexicon; words of a category, with inflected forms, matched as whole "
            f"words and aligned to tokens by character offsets). Only <i>commonly occurring</i> words enter the comparison: at "
            f"least {lf['min_count']} occurrences (--min-word-count). Kept: "
            + (", ".join(f"{escape(w)} ({c})" for w, c in lf["kept"].items()) or "none")
            + ". Left out: " + (", ".join(f"{escape(w)} ({c})" for w, c in lf["dropped"].items()) or "none") + ".")
    if piv["count"] == 0:
        page_.parts.append(f"<p class='note'>{escape(_why_empty('pivotal', s))}</p>")
    page_.parts.append("<p>Per category (Holm-corrected across categories):</p>")
    page_.parts.append(table(["category"] + _HEAD[1:] + ["Holm p"], [_headline_row(k, v, holm=True) for k, v in piv["categories"].items()]))
    if any(w["common"] for w in piv["words"]):
        page_.plot(pivotal_word_figure(s), 400)
    if piv["words"]:
        page_.parts.append(table(["word", "category", "occurrences", "mean H", "responses", "mean diff", "95% CI", "Wilcoxon p", "Holm p"],
                            [[escape(w["word"]) + ("" if w["common"] else " <span class='note'>(rare)</span>"), escape(w["category"]), w["count"],
                              fmt_num(w["mean_entropy"]), w["per_response"]["responses"], fmt_num(w["per_response"]["mean_diff"], "{:+.3f}"),
                              _ci(w["per_response"]["ci95"]), fmt_p(w["per_response"]["p_value"]), fmt_p(w["per_response"].get("p_value_holm"))]
                             for w in piv["words"]]))


def _forking(page_: _Sections, s: dict) -> None:
    """Forking tokens: the tokens and words most often in the top entropy quantile."""
    fk = s["forking"]
    page_.section("forking", "Forking tokens", f"Tokens and words whose entropy is in the top {100 * (1 - fk['quantile']):.0f}% "
            f"(entropy ≥ {fk['threshold']:.3f} nats), by how often they are that uncertain.")
    page_.parts.append("<div class='cards'>")
    for title, rows_ in (("tokens", fk["tokens"]), ("words (entropy per --pivotal-entropy)", fk["words"])):
        page_.parts.append("<div>" + f"<b>{title}</b>" + table(["", "high-entropy count", "all", "share high", "mean H"],
                     [[escape(r["key"]), r["high_count"], r["count"], fmt_num(r["high_fraction"], "{:.2f}"), fmt_num(r["mean_entropy"])] for r in rows_[:20]]) + "</div>")
    page_.parts.append("</div>")


def _reflection(page_: _Sections, s: dict, cfg) -> None:
    """Reflective sentences, highest entropy first."""
    page_.section("reflection", "Reflective sentences", "Sentences (maths-aware splitting) matching a self-verification pattern "
            f"(--reflective <code>{escape(cfg.reflective)}</code>), highest entropy first.")
    if s["reflection"]["count"] == 0:
        page_.parts.append(f"<p class='note'>{escape(_why_empty('reflection', s))}</p>")
    page_.parts.append(table(["sentence", "mean H", "response"], [[escape(x["text"]), fmt_num(x["mean_entropy"]), x["response"]] for x in s["reflection"]["examples"]], "text"))
    page_.parts.append("<p class='muted'>patterns: " + " · ".join(f"<code>{escape(p)}</code>" for p in s["reflection"]["patterns"]) + "</p>")


def _rare(page_: _Sections, s: dict, result) -> None:
    """Rare behaviors against the base outputs, the UMAP map and the behavior clusters."""
    if s.get("rare") and result.umap is not None:
        rr = s["rare"]
        page_.section("rare", "Rare behaviors and behavior clusters",
                f"Every OUTPUTS sentence gets the mean cosine distance to its {rr['k']} nearest BASE sentences (SBERT, "
                f"<code>{escape(rr['embedder'])}</code>); the top {100 * rr['fraction']:.0f}% are rare (distance ≥ "
                f"{fmt_num(rr['threshold_distance'])}). The map shows {rr['umap_points']} sentences (UMAP); clusters are k-means "
                "on the embeddings, summarized by their most central sentences.")
        page_.plot(umap_figure(result.umap, rr["clusters"]), 620)
        page_.parts.append(table(["cluster", "size", "OUTPUTS", "BASE", "rare", "mean H (OUTPUTS)", "most central sentences"],
                            [[f"C{c['cluster']}", c["size"], c["outputs"], c["base"], c["rare"], fmt_num(c["mean_entropy_outputs"]),
                              "<br>".join(escape(t[:200]) for t in c["central_sentences"])] for c in rr["clusters"]], "text"))
        page_.parts.append("<p><b>Most isolated sentences</b></p>")
        page_.parts.append(table(["sentence", "distance", "mean H"], [[escape(x["text"]), fmt_num(x["rarity"]), fmt_num(x["mean_entropy"])] for x in rr["examples"]], "text"))
    else:
        page_.section("rare", "Rare behaviors", escape(_why_empty("rare", s)))


def _mean_ci(point: dict) -> str:
    ci = point["ci95"]
    return f"{point['mean']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _training_steps(page_: _Sections, s: dict) -> None:
    """Entropy over training (the records' steps): the paper's Figures 6-7 from a run's own dumps."""
    dyn = s.get("training_steps")
    if not dyn:
        return
    from .steps import steps_figure

    page_.section("steps", "Across training steps", f"The records span {len(dyn['steps'])} training steps "
                  f"({escape(str(dyn['steps'][0]))} to {escape(str(dyn['steps'][-1]))}). Each point is the mean over that step's "
                  f"responses; the band is a 95% CI ({escape(dyn['unit'])}).")
    page_.plot(steps_figure(dyn), 190 * len(dyn["metrics"]) + 60)
    rows = []
    for name, m in dyn["metrics"].items():
        first, last = m["points"][0], m["points"][-1]
        rows.append([escape(m["label"]), _mean_ci(first), _mean_ci(last),
                     f"{first['responses']} / {last['responses']}"])
    page_.parts.append(table(["metric", "first step", "last step", "responses (first / last)"], rows))


def _dynamics(page_: _Sections, s: dict) -> None:
    """Test-time dynamics per source."""
    page_.section("dynamics", "Test-time dynamics", "Per response: length, pivotal words, reflective sentences and the "
            f"{escape(s['dynamics']['repetition_rate'])}; means per source. Compare two runs with "
            "<code>entropykit analyze compare RUN_A RUN_B</code>.")
    page_.plot(dynamics_figure(s), 360)
    dyn = s["dynamics"]["by_source"]
    page_.parts.append(table(["source", "responses", "tokens", "words", "sentences", "pivotal", "reflective", "repetition rate"],
                        [[escape(k), v["count"], fmt_num(v["mean_num_tokens"], "{:.1f}"), fmt_num(v["mean_num_words"], "{:.1f}"), fmt_num(v["mean_num_sentences"], "{:.1f}"),
                          fmt_num(v["mean_pivotal_count"], "{:.2f}"), fmt_num(v["mean_reflective_count"], "{:.2f}"), fmt_num(v["mean_repetition_rate"], "{:.3f}")]
                         for k, v in dyn.items()]))
