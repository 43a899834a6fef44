"""report.html: one self-contained, offline page (plotly.js inlined once, no CDN, no fetches).

Sections: key numbers, comparison bars with 95% CIs (paper Figure 2, right), token entropy
heatmap with a response selector (Figure 2, left), pivotal words per category and per word,
forking tokens, reflective and rare examples, behavior clusters (UMAP scatter, Figure 3) and
test-time dynamics per source (Figure 8).

A small script records JavaScript errors and, once the page has loaded, writes
``ok plots=N/N`` (or the errors) into ``#ek-status``; the browser test reads it.
"""

from __future__ import annotations

import html
import math
from typing import Sequence

import numpy as np

MAX_HEATMAP_TOKENS = 2048  # per response; longer responses are cut in the heatmap only
_COLORSCALE = "YlOrRd"


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _f(x, fmt="{:.3f}") -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else fmt.format(x)


def _p(x) -> str:
    if x is None:
        return "–"
    return "&lt;1e-300" if x == 0 else (f"{x:.2g}" if x < 0.001 else f"{x:.3f}")


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


def _fig_html(fig, div_id: str, height: int, top: int = 60) -> str:
    fig.update_layout(template="plotly_white", height=height, margin=dict(l=60, r=30, t=top, b=50))
    return fig.to_html(
        full_html=False, include_plotlyjs=False, div_id=div_id, default_height=f"{height}px",
        config={"displaylogo": False, "responsive": True},
    )


def comparison_figure(summary: dict):
    """Grouped bars: mean entropy of each group and of its 'other', 95% bootstrap CI error bars."""
    import plotly.graph_objects as go

    names, g, o, ge, oe, notes = [], [], [], [], [], []
    for key, label in (("pivotal", "pivotal words<br>vs other tokens"), ("reflection", "reflective sentences<br>vs other sentences"), ("rare", "rare sentences<br>vs other sentences")):
        c = summary.get(key)
        if not c or c.get("mean_entropy") is None or c.get("other_mean_entropy") is None:
            continue
        names.append(label)
        g.append(c["mean_entropy"])
        o.append(c["other_mean_entropy"])
        mc = c.get("mean_ci95") or [c["mean_entropy"]] * 2
        oc = c.get("other_mean_ci95") or [c["other_mean_entropy"]] * 2
        ge.append((mc[1] - c["mean_entropy"], c["mean_entropy"] - mc[0]))
        oe.append((oc[1] - c["other_mean_entropy"], c["other_mean_entropy"] - oc[0]))
        notes.append(f"n={c['count']}, p={_p(c['p_value'])}, d={_f(c['effect_size'], '{:+.2f}')}")
    fig = go.Figure()
    fig.add_bar(name="group", x=names, y=g, marker_color="#d62728",
                error_y=dict(type="data", symmetric=False, array=[a for a, _ in ge], arrayminus=[b for _, b in ge]),
                hovertemplate="%{x}<br>group mean: %{y:.3f} nats<extra></extra>")
    fig.add_bar(name="other", x=names, y=o, marker_color="#7f7f7f",
                error_y=dict(type="data", symmetric=False, array=[a for a, _ in oe], arrayminus=[b for _, b in oe]),
                hovertemplate="%{x}<br>other mean: %{y:.3f} nats<extra></extra>")
    top = max(g + o + [0.0])
    for i, n in enumerate(notes):
        fig.add_annotation(x=names[i], y=top * 1.18 + 0.02, text=n, showarrow=False, font=dict(size=12))
    fig.update_layout(barmode="group", title="Mean entropy: group vs other (95% bootstrap CI; Welch p, Cohen's d)",
                      yaxis_title="mean entropy (nats)", yaxis_range=[0, top * 1.3 + 0.05])
    return fig


def heatmap_figure(records: Sequence[dict], table, resp_rows: Sequence[dict], n_show: int, width: int):
    """Token entropy heatmap: one grid of tokens per response (``width`` tokens per row), all on
    one colour scale (0 .. 99th percentile of the shown tokens), response picked in a dropdown."""
    import plotly.graph_objects as go

    n_show = min(n_show, table.num_responses)
    shown = [table.rows(r) for r in range(n_show)]
    vals = np.concatenate([table.entropy[s][:MAX_HEATMAP_TOKENS] for s in shown]) if shown else np.zeros(1)
    zmax = float(max(np.quantile(vals, 0.99), 1e-6)) if vals.size else 1.0
    fig = go.Figure()
    heights = []
    for r, s in enumerate(shown):
        ent = table.entropy[s][:MAX_HEATMAP_TOKENS].astype(float)
        lp = table.logprob[s][:MAX_HEATMAP_TOKENS].astype(float)
        toks = table.token[s.start : s.start + len(ent)]
        n = len(ent)
        rows = max(1, math.ceil(n / width))
        z = [[None] * width for _ in range(rows)]
        txt = [[""] * width for _ in range(rows)]
        cd = [[["", 0.0]] * width for _ in range(rows)]
        for i in range(n):
            a, b = divmod(i, width)
            z[a][b] = round(float(ent[i]), 4)
            t = _plot_text(toks[i])
            shown_t = t.strip() or ("↵" if "↵" in t else "␣")
            txt[a][b] = shown_t if len(shown_t) <= 12 else shown_t[:11] + "…"
            cd[a][b] = [t, round(float(lp[i]), 4)]
        heights.append(rows)
        fig.add_heatmap(
            z=z, text=txt, customdata=cd, texttemplate="%{text}", textfont=dict(size=10),
            colorscale=_COLORSCALE, zmin=0.0, zmax=zmax, xgap=1, ygap=1, visible=(r == 0),
            colorbar=dict(title="entropy<br>(nats)"),
            hovertemplate="token: <b>%{customdata[0]}</b><br>entropy: %{z:.3f} nats<br>log-prob: %{customdata[1]:.3f}<extra></extra>",
            name=f"response {r}",
        )
    def h_of(rows):  # margins (top 110 for title + menu) + 24 px per token row
        return int(min(2600, max(280, 160 + 24 * rows)))

    buttons = []
    for r in range(n_show):
        row = resp_rows[r]
        vis = [i == r for i in range(n_show)]
        label = f"#{r} id={row['id']} ({row['source']}) H̄={_f(row['mean_entropy'])}"
        title = f"Response #{r} (id {_e(row['id'])}, {_e(row['source'])}): {row['num_tokens']} tokens, mean entropy {_f(row['mean_entropy'])} nats"
        if row["num_tokens"] > MAX_HEATMAP_TOKENS:
            title += f" (first {MAX_HEATMAP_TOKENS} tokens shown)"
        buttons.append(dict(label=label, method="update", args=[{"visible": vis}, {"title.text": title, "height": h_of(heights[r])}]))
    first_title = buttons[0]["args"][1]["title.text"] if buttons else "no responses"
    fig.update_layout(
        title=dict(text=first_title, yref="container", y=0.985, yanchor="top"),
        updatemenus=[dict(buttons=buttons, direction="down", x=0.0, xanchor="left", y=1.0, yanchor="bottom", pad=dict(b=6))] if n_show > 1 else [],
        xaxis=dict(visible=False), yaxis=dict(visible=False, autorange="reversed"),
    )
    return fig, (h_of(heights[0]) if heights else 300)


def pivotal_word_figure(summary: dict, top: int = 30):
    import plotly.graph_objects as go

    piv = summary["pivotal"]
    words = piv["words"][:top]
    key = "mean_entropy_first" if piv.get("entropy_of_word") == "first_token" else "mean_entropy_mean"
    fig = go.Figure()
    fig.add_bar(x=[w["word"] for w in words], y=[w[key] for w in words],
                customdata=[[w["count"], w["category"], _p(w["p_value"])] for w in words],
                marker_color="#d62728",
                hovertemplate="%{x} (%{customdata[1]})<br>mean entropy %{y:.3f} nats<br>count %{customdata[0]}, Welch p %{customdata[2]}<extra></extra>")
    if piv.get("other_mean_entropy") is not None:
        fig.add_hline(y=piv["other_mean_entropy"], line_dash="dash", line_color="#555",
                      annotation_text=f"other tokens {piv['other_mean_entropy']:.3f}")
    fig.update_layout(title="Pivotal words: mean entropy per word (most frequent first)", yaxis_title="nats")
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
            customdata=[[texts[i], int(lab[i]), _f(ent[i])] for i in idx],
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
    import plotly.graph_objects as go

    ent = table.entropy
    if ent.size > 200_000:  # a fixed-seed sample keeps the page small
        ent = np.random.default_rng(0).choice(ent, 200_000, replace=False)
    fig = go.Figure()
    fig.add_histogram(x=ent.astype(float), nbinsx=60, marker_color="#ff7f0e", hovertemplate="%{x}: %{y} tokens<extra></extra>")
    fig.update_layout(title="Token entropy distribution (all tokens)", xaxis_title="entropy (nats)", yaxis_title="tokens", yaxis_type="log")
    return fig


def _table(headers: Sequence[str], rows: Sequence[Sequence], cls: str = "") -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _cmp_row(label: str, c: dict) -> list:
    ci = c.get("ci95")
    return [
        _e(label), c["count"], _f(c["mean_entropy"]), _f(c["other_mean_entropy"]), _f(c["diff"], "{:+.3f}"),
        f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "–", _p(c["p_value"]), _p(c["p_value_mannwhitney"]), _f(c["effect_size"], "{:+.2f}"),
    ]


_CMP_HEAD = ["group", "count", "mean H", "other H", "diff", "95% CI of diff", "Welch p", "Mann-Whitney p", "Cohen's d"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:16px 24px;color:#222}
h1{font-size:1.6em;margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em} th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4} td:first-child,th:first-child{text-align:left}
table.text td{text-align:left;max-width:800px}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{background:#f7f7f9;border-radius:8px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:1.4em}.muted{color:#666;font-size:.9em}
#ek-status{color:#999;font-size:.8em}
"""


def build_report(summary, records, table, piv_rows, resp_rows, base_resp_rows, umap_data, cfg) -> str:
    """The whole page as one string."""
    from plotly.offline import get_plotlyjs

    parts: list[str] = []
    n_plots = 0

    def plot(fig, height, top=60):
        nonlocal n_plots
        n_plots += 1
        parts.append(_fig_html(fig, f"ek-plot-{n_plots}", height, top))

    s = summary
    parts.append(f"<h1>Token entropy analysis</h1><p class='muted'>outputs: <code>{_e(s['inputs']['outputs'])}</code>"
                 + (f" · base: <code>{_e(s['inputs']['base'])}</code>" if s["inputs"]["base"] else "")
                 + f" · scorer: <code>{_e(s['model'])}</code> · entropies in nats (natural log), of the temperature-1 next-token distribution, teacher-forced.</p>")
    cards = [("responses", s["num_responses"]), ("tokens", s["num_tokens"]), ("mean token entropy", _f(s["mean_entropy"])),
             ("pivotal words found", s["pivotal"]["count"]), ("reflective sentences", s["reflection"]["count"])]
    if s.get("rare"):
        cards.append(("rare sentences", s["rare"]["count"]))
    if s["inputs"]["skipped_empty_responses"]:
        cards.append(("skipped (empty response)", s["inputs"]["skipped_empty_responses"]))
    parts.append("<div class='cards'>" + "".join(f"<div class='card'><b>{_e(v)}</b>{_e(k)}</div>" for k, v in cards) + "</div>")

    # comparisons
    parts.append("<h2>Exploratory reasoning vs entropy</h2><p>Is entropy higher at pivotal words, in reflective sentences and in rare sentences than elsewhere? "
                 "Bars are means with 95% bootstrap CIs; <i>p</i> is Welch's t-test (Mann-Whitney U in the table); <i>d</i> is Cohen's d (pooled SD). "
                 f"A pivotal word's entropy is {'its first token' if cfg.pivotal_entropy == 'first' else 'the mean over its tokens'}; a sentence's entropy is the mean over its tokens.</p>")
    plot(comparison_figure(s), 460)
    rows = [_cmp_row("pivotal words vs other tokens", s["pivotal"]), _cmp_row("reflective vs other sentences", s["reflection"])]
    if s.get("rare"):
        rows.append(_cmp_row("rare vs other sentences", s["rare"]))
    parts.append(_table(_CMP_HEAD, rows))

    # heatmap
    n_show = min(cfg.heatmap_responses, s["num_responses"])
    parts.append(f"<h2>Token entropy heatmap</h2><p>Each cell is one token of the response, read left to right, top to bottom; colour = entropy "
                 f"(one scale for all responses). Hover a cell for the token, its entropy and log-probability. Pick a response in the menu "
                 f"({n_show} of {s['num_responses']} shown; ↵ marks a newline, ␣ a space token).</p>")
    hfig, hh = heatmap_figure(records, table, resp_rows, cfg.heatmap_responses, cfg.heatmap_width)
    plot(hfig, hh, top=110)
    plot(entropy_histogram(table), 340)
    parts.append(f"<p class='muted'>Token entropy: mean {_f(s['token_entropy']['mean'])}, median {_f(s['token_entropy']['quantiles'].get('0.5'))}, "
                 f"90th percentile {_f(s['token_entropy']['quantiles'].get('0.9'))}, max {_f(s['token_entropy']['max'])} nats.</p>")

    # pivotal
    piv = s["pivotal"]
    parts.append("<h2>Pivotal words</h2><p>The paper's four categories (causal, contrastive, sequential, reasoning verbs), matched as whole words "
                 "and aligned to tokens by character offsets (a word split into several tokens counts once).</p>")
    parts.append(_table(["category"] + _CMP_HEAD[1:], [_cmp_row(k, v) for k, v in piv["categories"].items()]))
    if piv["words"]:
        plot(pivotal_word_figure(s), 400)
        parts.append(_table(["word", "category", "count", "mean H (first token)", "mean H (all its tokens)", "tokens per word", "diff vs other", "Welch p", "Cohen's d"],
                            [[_e(w["word"]), _e(w["category"]), w["count"], _f(w["mean_entropy_first"]), _f(w["mean_entropy_mean"]),
                              _f(w["mean_num_tokens"], "{:.2f}"), _f(w["diff_vs_other"], "{:+.3f}"), _p(w["p_value"]), _f(w["effect_size"], "{:+.2f}")]
                             for w in piv["words"]]))

    fk = s["forking"]
    parts.append(f"<h2>Forking tokens</h2><p>Tokens and words whose entropy is in the top {100 * (1 - fk['quantile']):.0f}% "
                 f"(entropy ≥ {fk['threshold']:.3f} nats), by how often they are that uncertain.</p><div class='cards'>")
    for title, rows_ in (("tokens", fk["tokens"]), ("words (first token)", fk["words"])):
        parts.append("<div>" + f"<b>{title}</b>" + _table(["", "high-entropy count", "all", "share high", "mean H"],
                     [[_e(r["key"]), r["high_count"], r["count"], _f(r["high_fraction"], "{:.2f}"), _f(r["mean_entropy"])] for r in rows_[:20]]) + "</div>")
    parts.append("</div>")

    # reflection
    parts.append("<h2>Reflective sentences</h2><p>Sentences (pySBD) matching a self-verification / correction pattern, highest entropy first.</p>")
    parts.append(_table(["sentence", "mean H", "response"], [[_e(x["text"]), _f(x["mean_entropy"]), x["response"]] for x in s["reflection"]["examples"]], "text"))
    parts.append("<p class='muted'>patterns: " + " · ".join(f"<code>{_e(p)}</code>" for p in s["reflection"]["patterns"]) + "</p>")

    # rare
    if s.get("rare") and umap_data is not None:
        rr = s["rare"]
        parts.append(f"<h2>Rare behaviors and behavior clusters</h2><p>Every OUTPUTS sentence gets the mean cosine distance to its {rr['k']} nearest BASE "
                     f"sentences (SBERT, <code>{_e(rr['embedder'])}</code>); the top {100 * rr['fraction']:.0f}% are rare "
                     f"(distance ≥ {_f(rr['threshold_distance'])}). The map shows {rr['umap_points']} sentences (UMAP); "
                     "clusters are k-means on the embeddings, summarized by their most central sentences.</p>")
        plot(umap_figure(umap_data, rr["clusters"]), 620)
        parts.append(_table(["cluster", "size", "OUTPUTS", "BASE", "rare", "mean H (OUTPUTS)", "most central sentences"],
                            [[f"C{c['cluster']}", c["size"], c["outputs"], c["base"], c["rare"], _f(c["mean_entropy_outputs"]),
                              "<br>".join(_e(t[:200]) for t in c["central_sentences"])] for c in rr["clusters"]], "text"))
        parts.append("<p><b>Most isolated sentences</b></p>")
        parts.append(_table(["sentence", "distance", "mean H"], [[_e(x["text"]), _f(x["rarity"]), _f(x["mean_entropy"])] for x in rr["examples"]], "text"))

    # dynamics
    parts.append("<h2>Test-time dynamics</h2><p>Per response: length, pivotal words, reflective sentences and the "
                 f"{_e(s['dynamics']['repetition_rate'])}; means per source.</p>")
    plot(dynamics_figure(s), 360)
    dyn = s["dynamics"]["by_source"]
    parts.append(_table(["source", "responses", "tokens", "words", "sentences", "pivotal", "reflective", "repetition rate"],
                        [[_e(k), v["count"], _f(v["mean_num_tokens"], "{:.1f}"), _f(v["mean_num_words"], "{:.1f}"), _f(v["mean_num_sentences"], "{:.1f}"),
                          _f(v["mean_pivotal_count"], "{:.2f}"), _f(v["mean_reflective_count"], "{:.2f}"), _f(v["mean_repetition_rate"], "{:.3f}")]
                         for k, v in dyn.items()]))
    if s.get("warnings"):
        parts.append("<h2>Warnings</h2><ul>" + "".join(f"<li>{_e(w)}</li>" for w in s["warnings"]) + "</ul>")
    parts.append("<p id='ek-status'>loading</p>")

    status_js = """
<script>
(function(){
  function check(){
    var divs=document.querySelectorAll('.plotly-graph-div'), ok=0;
    divs.forEach(function(d){ if(d._fullLayout && d.querySelector('.main-svg')) ok++; });
    var errs=window.__ekErrors||[];
    document.getElementById('ek-status').textContent=(errs.length?'errors: '+errs.join(' | '):'ok')+' plots='+ok+'/'+divs.length;
  }
  window.addEventListener('load', function(){ setTimeout(check, 300); });
})();
</script>"""
    head = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>entropykit analyze report</title>"
            f"<style>{_CSS}</style>"
            "<script>window.__ekErrors=[];window.addEventListener('error',function(e){window.__ekErrors.push(String(e.message||e));});</script>"
            f"<script>{get_plotlyjs()}</script></head><body>")
    return head + "\n".join(parts) + status_js + "</body></html>"
