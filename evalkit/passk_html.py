"""passk.html: a self-contained page that lets a user audit the grades behind the numbers.

Sections: the settings as a table; per benchmark the pass@k and maj@k table and curves (bootstrap
95% CI over problems), a histogram of per-problem accuracy and the response lengths of correct vs
wrong samples; then one table of problems (sortable, searchable) where a click opens the
problem's distinct extracted answers with their counts and verdicts, the sizes of its answer
classes (the votes of maj@k), and its samples (extracted answer, verdict, response text, long
ones folded).

Offline and bounded in size: plotly.js is inlined once; the samples travel gzip-compressed
(base64) and are unpacked by the browser (`DecompressionStream`). At most `max_samples` samples
per problem are shown (every distinct answer is still counted), and response texts are cut
(head, the part around the extracted answer, tail) to the longest length that keeps the sample
data within `samples_budget` bytes: 500 problems x 16 samples stay well under 6 MB.

As in the analysis report, a small script writes ``ok plots=N/N problems=P`` (or the errors)
into ``#ek-status``; with ``#selftest`` in the address it also searches, sorts and opens a
problem through the page's own event handlers and appends ``selftest=pass`` (or why not).
"""

from __future__ import annotations

import base64
import gzip
import json
from typing import Sequence

from entropykit.html import escape as _e  # one escaper for every page

DEFAULT_MAX_SAMPLES = 16
TARGET_PAGE_BYTES = 5_600_000  # the samples get what the rest of the page (plotly.js: 4.8 MB) leaves
MIN_SAMPLES_BUDGET = 300_000
_MAX_TEXT_CHARS = 20_000
_MIN_TEXT_CHARS = 160
_GOOD_TEXT_CHARS = 600  # below this, fewer samples per problem are shown instead
_MAX_ANSWERS_LISTED = 50

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]




def _script_json(obj) -> str:
    """JSON safe inside <script>: no '</script>', no U+2028/2029 line breaks."""
    return (json.dumps(obj, ensure_ascii=True, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


# ---------------------------------------------------------------------------------------------
# data


def _fold(text: str, pred: str | None, cap: int) -> str:
    """`text` cut to about `cap` characters: head, the part around the last `pred`, and tail."""
    if len(text) <= cap:
        return text
    head, tail = int(cap * 0.2), int(cap * 0.5)
    window = cap - head - tail
    parts = [(0, head)]
    at = text.rfind(pred) if pred else -1
    if at > head and at + len(pred) < len(text) - tail:
        a = max(head, at - window // 2)
        parts.append((a, min(len(text) - tail, a + window)))
    parts.append((len(text) - tail, len(text)))
    out, pos = [], 0
    for a, b in parts:
        if a > pos:
            out.append(f"\n[… {a - pos:,} characters not shown …]\n")
        out.append(text[max(a, pos):b])
        pos = max(pos, b)
    return "".join(out)


def _verdict_code(r: dict) -> int:
    if r.get("timed_out"):
        return 2
    return 1 if r.get("correct") else 0


def _pick_samples(recs: list[dict], cap: int) -> list[dict]:
    """Up to `cap` samples: one per distinct extracted answer first, then in sample order."""
    recs = sorted(recs, key=lambda r: int(r.get("sample_idx", 0)))
    if len(recs) <= cap:
        return recs
    chosen, seen = [], set()
    for r in recs:
        p = r.get("pred")
        if p not in seen and len(chosen) < cap:
            seen.add(p)
            chosen.append(r)
    ids = {id(r) for r in chosen}
    chosen += [r for r in recs if id(r) not in ids][: cap - len(chosen)]
    return sorted(chosen, key=lambda r: int(r.get("sample_idx", 0)))


def problem_rows(problems: Sequence[dict], records: Sequence[dict], *,
                 max_samples: int = DEFAULT_MAX_SAMPLES) -> tuple[list[dict], list[list[dict]]]:
    """(one row per problem for the table, the samples shown for each problem)."""
    by_problem: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        by_problem.setdefault((str(r["benchmark"]), str(r["problem_id"])), []).append(r)
    rows, picked = [], []
    for p in problems:
        recs = by_problem.get((str(p["benchmark"]), str(p["problem_id"])), [])
        answers: dict = {}
        for r in recs:
            a = answers.setdefault(r.get("pred"), [0, _verdict_code(r)])
            a[0] += 1
        listed = sorted(answers.items(), key=lambda kv: -kv[1][0])[:_MAX_ANSWERS_LISTED]
        ks = list(p.get("pass_at_k", {}))
        kmax = ks[-1] if ks else None
        shown = _pick_samples(recs, max_samples)
        votes = p.get("votes")
        rows.append({"b": p["benchmark"], "id": str(p["problem_id"]), "gold": str(p.get("answer") or ""),
                     "n": p["n"], "c": p["c"], "acc": p["accuracy"], "k": kmax,
                     "pk": p["pass_at_k"][kmax] if kmax else None, "to": p.get("timeouts", 0),
                     "mk": (p.get("maj_at_k") or {}).get(kmax) if kmax else None,
                     # answer classes that vote: the right one (if any sample is right) and the wrong ones
                     "nc": None if votes is None else (votes["correct"] > 0) + len(votes["wrong"]),
                     "vw": None if votes is None else votes["wrong"][:_MAX_ANSWERS_LISTED],
                     "vu": None if votes is None else votes["unanswered"],
                     "na": len(answers), "ans": [[a, cnt, code] for a, (cnt, code) in listed],
                     "shown": len(shown)})
        picked.append(shown)
    return rows, picked


def _encode(picked: list[list[dict]], cap: int) -> str:
    samples = [[[int(r.get("sample_idx", 0)), r.get("pred"), _verdict_code(r), r.get("num_tokens"),
                 r.get("finish_reason"), _fold(str(r.get("response") or ""), r.get("pred"), cap),
                 len(str(r.get("response") or ""))] for r in shown] for shown in picked]
    raw = json.dumps(samples, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return base64.b64encode(gzip.compress(raw, 6, mtime=0)).decode("ascii")


def samples_blob(picked: list[list[dict]], budget: int) -> tuple[str, int]:
    """(base64 of the gzip JSON of the shown samples, text cap used): texts are folded to about
    the longest cap that keeps the blob within `budget` bytes.

    The cap is first estimated from the compression ratio of an evenly spread subset (one
    compression of everything per try, not one per candidate cap), then trimmed if needed.
    """
    flat = [r for shown in picked for r in shown]
    if not flat:
        return _encode(picked, _MAX_TEXT_CHARS), _MAX_TEXT_CHARS
    lengths = sorted(len(str(r.get("response") or "")) for r in flat)
    step = max(1, len(flat) // 300)
    probe = [flat[i::step][:1] for i in range(0, min(len(flat), 300 * step), step)]
    probe_raw = sum(min(len(str(r[0].get("response") or "")), _MAX_TEXT_CHARS) + 60 for r in probe)
    ratio = len(_encode(probe, _MAX_TEXT_CHARS)) / max(1, probe_raw)  # blob bytes per raw character

    def raw_size(cap: int) -> int:
        return sum(min(n, cap) + 60 for n in lengths)

    lo, hi = _MIN_TEXT_CHARS, _MAX_TEXT_CHARS
    while lo < hi:  # the largest cap whose estimated blob fits
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if raw_size(mid) * ratio <= budget else (lo, mid - 1)
    cap = lo
    while True:
        blob = _encode(picked, cap)
        if len(blob) <= budget or cap <= _MIN_TEXT_CHARS:
            return blob, cap
        cap = max(_MIN_TEXT_CHARS, int(cap * min(0.9, 0.97 * budget / len(blob))))


# ---------------------------------------------------------------------------------------------
# figures


def figure_html(fig, first: bool) -> str:
    import plotly.io as pio

    return pio.to_html(fig, include_plotlyjs=True if first else False, full_html=False,
                       config={"displaylogo": False, "responsive": True})


def log2_axis(ks: list[int]) -> dict:
    return dict(type="log", tickvals=ks, ticktext=[str(k) for k in ks], title="k (log2 scale)")


def curve_traces(go, label: str, b: dict, color: str | None = None, metric: str = "pass_at_k") -> list:
    """A curve of `metric` ("pass_at_k" or "maj_at_k", dashed) with its 95% CI band; none when absent."""
    if not b.get(metric):
        return []
    ks = [int(k) for k in b[metric]]
    ys = [b[metric][str(k)] for k in ks]
    ci = b.get(f"{metric}_ci95") or {}
    name = "maj@k" if metric == "maj_at_k" else "pass@k"
    traces = []
    if ci:
        lo = [ci[str(k)][0] for k in ks]
        hi = [ci[str(k)][1] for k in ks]
        traces.append(go.Scatter(x=ks + ks[::-1], y=hi + lo[::-1], fill="toself", line=dict(width=0),
                                 opacity=0.2, hoverinfo="skip", showlegend=False, name=f"{label} 95% CI",
                                 fillcolor=color, legendgroup=label))
    line = dict(color=color) if color else {}
    if metric == "maj_at_k":
        line["dash"] = "dash"
    traces.append(go.Scatter(x=ks, y=ys, mode="lines+markers", name=label, legendgroup=label, line=line or None,
                             hovertemplate="k=%{x}<br>" + name + "=%{y:.4f}<extra>" + _e(label) + "</extra>"))
    return traces


def _accuracy_histogram(go, name: str, probs: list[dict]):
    ns = {p["n"] for p in probs}
    if len(ns) == 1 and next(iter(ns)) <= 64:
        n = next(iter(ns))
        counts = [0] * (n + 1)
        for p in probs:
            counts[p["c"]] += 1
        fig = go.Figure(go.Bar(x=list(range(n + 1)), y=counts, marker_color="#1f77b4",
                               hovertemplate="%{x} of " + str(n) + " correct: %{y} problems<extra></extra>"))
        xaxis = dict(title=f"correct samples out of n={n}", dtick=max(1, n // 16))
    else:
        fig = go.Figure(go.Histogram(x=[p["accuracy"] for p in probs], xbins=dict(start=0, end=1.0001, size=0.05),
                                     marker_color="#1f77b4"))
        xaxis = dict(title="per-problem accuracy", range=[0, 1])
    fig.update_layout(title=f"{name}: per-problem accuracy ({len(probs)} problems)", xaxis=xaxis,
                      yaxis=dict(title="problems"), template="plotly_white", height=360, bargap=0.05)
    return fig


def _length_figure(go, name: str, recs: list[dict]):
    def length(r):
        return r["num_tokens"] if isinstance(r.get("num_tokens"), int) else len(str(r.get("response") or ""))

    unit = "tokens" if all(isinstance(r.get("num_tokens"), int) for r in recs) else "characters"
    fig = go.Figure()
    for label, pick, color in (("correct", True, "#2ca02c"), ("wrong", False, "#d62728")):
        xs = [length(r) for r in recs if bool(r.get("correct")) == pick]
        if xs:
            fig.add_trace(go.Histogram(x=xs, name=f"{label} ({len(xs)} samples, mean {sum(xs) / len(xs):.0f})",
                                       marker_color=color, opacity=0.6, nbinsx=40))
    fig.update_layout(title=f"{name}: response length, correct vs wrong samples", barmode="overlay",
                      xaxis=dict(title=f"length ({unit})"), yaxis=dict(title="samples"), template="plotly_white",
                      height=360)
    return fig


# ---------------------------------------------------------------------------------------------
# page


def _settings_table(summary: dict) -> str:
    rows = [("model", summary.get("model"))]
    for k, v in (summary.get("sampling") or {}).items():
        if k != "model":  # already the first row
            rows.append((k, v))
    cells = "".join(f"<tr><th>{_e(k)}</th><td class='l'><code>{_e(json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v)}</code></td></tr>"
                    for k, v in rows)
    return f"<h2>Settings</h2><table class='settings'>{cells}</table>"


def _pass_table(name: str, b: dict) -> str:
    ci = b.get("pass_at_k_ci95") or {}
    maj, mci = b.get("maj_at_k") or {}, b.get("maj_at_k_ci95") or {}

    def cells(v, lohi) -> str:
        if v is None:
            return "<td>—</td><td>—</td>"
        return f"<td>{100 * v:.2f}</td><td>" + (f"{100 * lohi[0]:.1f} – {100 * lohi[1]:.1f}" if lohi else "—") + "</td>"

    rows = "".join(f"<tr><td>{_e(k)}</td>" + cells(v, ci.get(k)) + (cells(maj.get(k), mci.get(k)) if maj else "") + "</tr>"
                   for k, v in b["pass_at_k"].items())
    extra = f", {b['timeouts']} verifier timeouts" if b.get("timeouts") else ""
    head = "<tr><th>k</th><th>pass@k (%)</th><th>95% CI (%)</th>" + (
        "<th>maj@k (%)</th><th>95% CI (%)</th>" if maj else "") + "</tr>"
    note = ("<p class='muted'>maj@k: the majority vote of k samples is right (answers grouped by equivalence, "
            "unanswered samples do not vote, a tie broken uniformly at random), the mean over all k-subsets of "
            "the n samples.</p>" if maj else
            f"<p class='muted'>maj@k {_e(b['maj_at_k_note'])}</p>" if b.get("maj_at_k_note") else "")
    return (f"<h2>{_e(name)}</h2><p>{b['num_problems']} problems × n={b['n']}; mean accuracy (Avg) "
            f"<b>{100 * b['mean_accuracy']:.2f}%</b>{extra}</p>"
            f"<table>{head}{rows}</table>{note}")


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}table.settings th{text-align:left}
#ek-problems th{cursor:pointer;user-select:none;white-space:nowrap}#ek-problems th.sorted-asc:after{content:' ▲'}
#ek-problems th.sorted-desc:after{content:' ▼'}#ek-problems tr.prob{cursor:pointer}#ek-problems tr.prob:hover{background:#f0f6ff}
#ek-problems tr.open{background:#e8f0fe}td.detail{text-align:left;background:#fafafa}
.ok{color:#1a7f37;font-weight:bold}.bad{color:#c62828;font-weight:bold}.to{color:#b26a00;font-weight:bold}
.sample{border:1px solid #ddd;border-radius:4px;margin:.4em 0;padding:.3em .6em;background:#fff}
.sample pre{white-space:pre-wrap;word-break:break-word;max-height:40em;overflow:auto;background:#f7f7f7;padding:.5em;margin:.3em 0}
.pred{font-family:monospace;background:#fff7d6;padding:0 .3em}.muted{color:#777}
#ek-search{width:24em;padding:4px}#ek-status{color:#999;font-size:.8em}
"""

_JS = r"""
(function(){
const errs=[];window.addEventListener('error',e=>errs.push(String(e.message||e)));
const P=JSON.parse(document.getElementById('ek-problems-data').textContent);
const KS=P.length?P[0].k:null;let S=null;
const V=['wrong','correct','timeout'],VC=['bad','ok','to'];
function el(tag,cls,text){const e=document.createElement(tag);if(cls)e.className=cls;if(text!==undefined)e.textContent=text;return e;}
async function inflate(b64){const bin=Uint8Array.from(atob(b64),c=>c.charCodeAt(0));
  const s=new Blob([bin]).stream().pipeThrough(new DecompressionStream('gzip'));return JSON.parse(await new Response(s).text());}
const cols=[['b','benchmark',0],['id','problem',0],['gold','gold',0],['c','c / n',1],['acc','accuracy',1],['pk','pass@k',1],['mk','maj@k',1],['to','timeouts',1],['na','distinct answers',1],['nc','answer classes',1]];
const multi=new Set(P.map(p=>p.b)).size>1;
const table=document.getElementById('ek-problems');let sortKey=null,sortDir=1;
function head(){const tr=el('tr');for(const [k,label] of cols){if(k==='b'&&!multi)continue;
  const th=el('th',k==='id'||k==='gold'||k==='b'?'l':'',k==='pk'&&KS?'pass@'+KS:(k==='mk'&&KS?'maj@'+KS:label));th.dataset.key=k;
  th.addEventListener('click',()=>{sortDir=(sortKey===k)?-sortDir:(cols.find(c=>c[0]===k)[2]?-1:1);sortKey=k;render();});tr.appendChild(th);}
  const th=table.querySelector('thead');th.replaceChildren(tr);}
function cmp(a,b){const x=a[sortKey],y=b[sortKey];if(typeof x==='number'&&typeof y==='number')return (x-y)*sortDir;
  return String(x).localeCompare(String(y),undefined,{numeric:true})*sortDir;}
function matches(p,q){if(!q)return true;q=q.toLowerCase();if(p.id.toLowerCase().includes(q)||p.gold.toLowerCase().includes(q)||p.b.toLowerCase().includes(q))return true;
  return p.ans.some(a=>a[0]!==null&&String(a[0]).toLowerCase().includes(q));}
function render(){const q=document.getElementById('ek-search').value.trim();
  const idx=P.map((p,i)=>i).filter(i=>matches(P[i],q));if(sortKey)idx.sort((i,j)=>cmp(P[i],P[j]));
  const body=table.querySelector('tbody');body.replaceChildren();
  for(const i of idx){const p=P[i];const tr=el('tr','prob');tr.dataset.i=i;
    for(const [k] of cols){if(k==='b'&&!multi)continue;let t=p[k];
      if(k==='c')t=p.c+' / '+p.n;else if(k==='acc')t=(100*p.acc).toFixed(1)+'%';else if(k==='pk'||k==='mk')t=(t===null||t===undefined)?'—':(100*t).toFixed(1)+'%';else if(k==='nc'&&(t===null||t===undefined))t='—';
      tr.appendChild(el('td',k==='id'||k==='gold'||k==='b'?'l':'',String(t)));}
    tr.addEventListener('click',()=>toggle(tr));body.appendChild(tr);}
  for(const th of table.querySelectorAll('th')){th.classList.toggle('sorted-asc',th.dataset.key===sortKey&&sortDir>0);th.classList.toggle('sorted-desc',th.dataset.key===sortKey&&sortDir<0);}
  document.getElementById('ek-count').textContent=idx.length+' of '+P.length+' problems';}
function verdictSpan(code){return el('span',VC[code],V[code]);}
function toggle(tr){const next=tr.nextSibling;if(next&&next.classList&&next.classList.contains('detail-row')){next.remove();tr.classList.remove('open');return;}
  const p=P[+tr.dataset.i];const row=el('tr','detail-row');const td=el('td','detail');td.colSpan=tr.children.length;row.appendChild(td);
  const ans=el('div');ans.appendChild(el('b',null,'Extracted answers over all '+p.n+' samples: '));
  for(const [a,cnt,code] of p.ans){const s=el('span');s.appendChild(el('span','pred',a===null?'(no answer)':a));s.appendChild(document.createTextNode(' ×'+cnt+' '));s.appendChild(verdictSpan(code));s.appendChild(document.createTextNode('   '));ans.appendChild(s);}
  if(p.na>p.ans.length)ans.appendChild(el('span','muted',' (+'+(p.na-p.ans.length)+' more)'));
  td.appendChild(ans);
  if(p.vw)td.appendChild(el('div','muted','Votes (answers grouped by equivalence): right '+p.c+', wrong classes ['+p.vw.join(', ')+(p.nc-(p.c>0?1:0)>p.vw.length?', …':'')+'], no answer '+p.vu+'.'));td.appendChild(el('div',null,'Gold answer: ')).appendChild(el('span','pred',p.gold));
  if(p.shown<p.n)td.appendChild(el('p','muted','Showing '+p.shown+' of '+p.n+' samples (one per distinct answer first); the counts above cover all of them.'));
  for(const s of (S?S[+tr.dataset.i]:[])){const [idx,pred,code,ntok,fin,text,full]=s;const box=el('div','sample');
    const h=el('div');h.appendChild(el('b',null,'sample '+idx+' '));h.appendChild(verdictSpan(code));
    h.appendChild(document.createTextNode('  answer graded: '));h.appendChild(el('span','pred',pred===null?'(no answer)':pred));
    h.appendChild(el('span','muted','  '+(ntok!==null&&ntok!==undefined?ntok+' tokens, ':'')+full+' characters'+(fin?', finish: '+fin:'')));box.appendChild(h);
    const pre=el('pre',null,text);if(full>1500){const d=el('details');d.appendChild(el('summary',null,'response ('+full+' characters'+(text.length<full?', folded':'')+')'));d.appendChild(pre);box.appendChild(d);}else box.appendChild(pre);
    td.appendChild(box);}
  tr.classList.add('open');tr.after(row);}
function status(extra){const divs=[...document.querySelectorAll('.plotly-graph-div')];const ok=divs.filter(d=>d.classList.contains('js-plotly-plot')).length;
  document.getElementById('ek-status').textContent=(errs.length?'errors: '+errs.join(' | '):'ok')+' plots='+ok+'/'+divs.length+' problems='+P.length+(extra||'');}
function selftest(){try{const search=document.getElementById('ek-search');const rows0=table.querySelectorAll('tr.prob').length;
  const q=P.length?P[P.length-1].id:'';search.value=q;search.dispatchEvent(new Event('input'));
  const rows1=table.querySelectorAll('tr.prob').length;if(!(rows1>=1&&rows1<=rows0))return ' selftest=fail: search';
  search.value='';search.dispatchEvent(new Event('input'));
  const th=[...table.querySelectorAll('th')].find(t=>t.dataset.key==='acc');th.click();
  const accs=[...table.querySelectorAll('tr.prob')].map(tr=>P[+tr.dataset.i].acc);
  for(let i=1;i<accs.length;i++)if(accs[i]>accs[i-1])return ' selftest=fail: sort';
  const first=table.querySelector('tr.prob');first.click();const det=first.nextSibling;
  if(!det||!det.classList.contains('detail-row'))return ' selftest=fail: open';
  const ns=det.querySelectorAll('.sample').length;const p=P[+first.dataset.i];
  if(ns!==p.shown)return ' selftest=fail: samples '+ns+'/'+p.shown;
  if(!det.textContent.includes('answer graded'))return ' selftest=fail: verdicts';
  return ' selftest=pass samples='+ns;}catch(e){return ' selftest=fail: '+e;}}
head();render();document.getElementById('ek-search').addEventListener('input',render);
const blob=document.getElementById('ek-samples-data').textContent.trim();
window.addEventListener('load',async()=>{try{S=blob?await inflate(blob):P.map(()=>[]);}catch(e){errs.push('samples: '+e);}
  setTimeout(()=>status(location.hash==='#selftest'?selftest():''),50);});
})();
"""


def reported_section(rv: dict, grader: str) -> str:
    """The file's own verdicts (a reward, exact_match, correctness_*) beside the grader's, and the samples where they differ."""
    head = "".join(f"<th>{h}</th>" for h in ("benchmark", "problem", "sample", "their field", "theirs", grader, "gold", "extracted", "end of the response"))
    rows = "".join(
        f"<tr><td>{_e(d['benchmark'])}</td><td>{_e(d['problem_id'])}</td><td>{d['sample_idx']}</td><td>{_e(d['field'])} = {_e(d['value'])}</td>"
        f"<td>{'right' if d['theirs'] else 'wrong'}</td><td>{'right' if d['ours'] else 'wrong'}</td><td>{_e(d['answer'])}</td>"
        f"<td>{_e(d['pred'] if d['pred'] is not None else '(none)')}</td><td><pre>{_e(d['response_end'])}</pre></td></tr>"
        for d in rv["differ"])
    shown = "" if len(rv["differ"]) == rv["total"] - rv["agree"] else f" (the first {len(rv['differ'])} shown)"
    return (f"<h2>The file's own verdicts beside {_e(grader)}'s</h2>"
            f"<p>{_e(', '.join(rv['fields']))}: agree on <b>{rv['agree']} of {rv['total']}</b> samples. They call "
            f"<b>{rv['only_theirs_correct']}</b> right that {_e(grader)} calls wrong (a reward a stricter grader would not give), "
            f"and <b>{rv['only_ours_correct']}</b> wrong that it calls right. {_e(rv['rule'])}.</p>"
            + (f"<table class='differ'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table><p class='muted'>{rv['total'] - rv['agree']} "
               f"differ{shown}.</p>" if rows else ""))


def passk_page(summary: dict, problems: Sequence[dict] | None = None, records: Sequence[dict] | None = None, *,
               max_samples: int = DEFAULT_MAX_SAMPLES, target_bytes: int = TARGET_PAGE_BYTES) -> str:
    """The whole passk.html for a scored run (see the module docstring)."""
    import plotly.graph_objects as go

    problems = list(problems or [])
    records = list(records or [])
    parts = [_settings_table(summary)]
    first = True
    for i, (name, b) in enumerate(summary["benchmarks"].items()):
        if b.get("ungradable_gold"):
            listed = ", ".join(f"{g['problem_id']} ({g['answer']!r})" for g in b["ungradable_gold"][:20])
            parts.append(f"<p class='warn'><b>{len(b['ungradable_gold'])} problem(s) of {_e(name)} have a gold answer that "
                         f"cannot be parsed</b> and are left out of pass@k and accuracy: {_e(listed)}</p>")
        parts.append(_pass_table(name, b))
        color = PALETTE[i % len(PALETTE)]
        fig = go.Figure(curve_traces(go, f"{name} pass@k", b, color)
                        + curve_traces(go, f"{name} maj@k", b, color, metric="maj_at_k"))
        ks = [int(k) for k in b["pass_at_k"]]
        what = "pass@k and maj@k (dashed)" if b.get("maj_at_k") else "pass@k"
        fig.update_layout(title=f"{name}: {what} — shaded: bootstrap 95% CI over problems",
                          xaxis=log2_axis(ks), yaxis=dict(title="pass@k, maj@k" if b.get("maj_at_k") else "pass@k",
                                                          rangemode="tozero"),
                          template="plotly_white", height=420)
        parts.append(figure_html(fig, first))
        first = False
        probs = [p for p in problems if p["benchmark"] == name]
        recs = [r for r in records if str(r.get("benchmark")) == name]
        if probs:
            parts.append(figure_html(_accuracy_histogram(go, name, probs), False))
        if recs:
            parts.append(figure_html(_length_figure(go, name, recs), False))
    if summary.get("reported_verdicts"):
        parts.append(reported_section(summary["reported_verdicts"], summary.get("sampling", {}).get("grader", "entropykit")))
    title = f"pass@k — {summary.get('model')}"
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>" + _e(title) + "</title><style>" + _CSS
            + "</style></head><body><h1>" + _e(title) + "</h1>" + "".join(parts)
            + "<h2>Problems</h2><p>Click a column to sort, a problem to see its extracted answers and samples. @NOTE@</p>"
            "<p><input id='ek-search' type='search' placeholder='search problem id, gold or extracted answer'> "
            "<span id='ek-count' class='muted'></span></p>"
            "<table id='ek-problems'><thead></thead><tbody></tbody></table>"
            "<script type='application/json' id='ek-problems-data'>@ROWS@</script>"
            "<script type='text/plain' id='ek-samples-data'>@BLOB@</script>"
            f"<p id='ek-status'>loading</p><script>{_JS}</script></body></html>")
    # Fewer samples per problem with readable texts beat many samples cut to a few words.
    for shown in sorted({m for m in (max_samples, 8, 4) if m <= max_samples}, reverse=True):
        rows, picked = problem_rows(problems, records, max_samples=shown)
        rows_json = _script_json(rows)
        budget = max(MIN_SAMPLES_BUDGET, target_bytes - len(page.encode("utf-8")) - len(rows_json))
        blob, cap = samples_blob(picked, budget)
        if cap >= _GOOD_TEXT_CHARS:
            break
    note = (f"Response texts longer than {cap:,} characters are folded (beginning, the part around the "
            f"extracted answer, end) to keep this page small." if cap < _MAX_TEXT_CHARS else "")
    if any(r["shown"] < r["n"] for r in rows):
        note = f"At most {shown} samples per problem are shown (one per distinct answer first). " + note
    return page.replace("@NOTE@", _e(note), 1).replace("@ROWS@", rows_json, 1).replace("@BLOB@", blob, 1)
