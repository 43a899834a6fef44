"""Self-contained, offline HTML pages, shared by every tool's reports: `escape`, `table`, and
`page` with plotly.js embedded once, compressed, charts (`fig_html`) drawn from JSON once it is
loaded, and a status line that tests and benches read.

plotly.js is 4.8 MB; gzip-compressed and base64-encoded it is 2.0 MB, and the browser's
standard ``DecompressionStream`` unpacks it in milliseconds (no library, no network). Each
chart travels as its plotly JSON (``fig.to_json()``) and is drawn with ``Plotly.newPlot`` once
plotly.js is loaded.

When everything is drawn (and the report's text view, if any, is ready) the page writes
``ok plots=N/N [text=T] ms=M`` into ``#ek-status`` (``errors: ...`` if a script failed); M is
milliseconds since navigation started.
"""

from __future__ import annotations

import base64
import functools
import gzip
import html

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:16px 24px;color:#222}
h1{font-size:1.6em;margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em} th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4} td:first-child,th:first-child{text-align:left}
table.text td{text-align:left;max-width:800px}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{background:#f7f7f9;border-radius:8px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:1.4em}.muted{color:#666;font-size:.9em}.note{color:#a00;font-size:.85em}
.scorer{background:#fff8e1;border:1px solid #f0c36d;border-radius:6px;padding:8px 12px;margin:.6em 0}
.warn{background:#fdecea;border:1px solid #e57373;border-radius:6px;padding:6px 12px}
nav.toc{columns:3;font-size:.9em;background:#f7f7f9;border-radius:6px;padding:8px 14px} nav.toc a{display:block}
#ek-status{color:#999;font-size:.8em}
"""


def escape(x) -> str:
    """Text (any value) as HTML text or attribute value."""
    return html.escape(str(x), quote=True)


def fmt_p(x: float | None) -> str:
    """A p-value as HTML: "–" for none, 2 significant digits below 0.001, else 3 decimals."""
    if x is None:
        return "–"
    return "&lt;1e-300" if x == 0 else (f"{x:.2g}" if x < 0.001 else f"{x:.3f}")


def table(headers, rows, cls: str = "") -> str:
    """An HTML table: `headers` are escaped; the cells of `rows` are HTML already."""
    th = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def pack(raw: bytes) -> str:
    """gzip (deterministic: no timestamp) + base64, for ``unpack`` in the page."""
    return base64.b64encode(gzip.compress(raw, compresslevel=9, mtime=0)).decode("ascii")


@functools.lru_cache(maxsize=1)
def _plotly_packed() -> str:
    from plotly.offline import get_plotlyjs

    return pack(get_plotlyjs().encode("utf-8"))


def _json_in_script(s: str) -> str:
    """JSON safe inside <script>: "</" can never close the element ("<\\/" is the same JSON)."""
    return s.replace("</", "<\\/").replace("<!--", "<\\!--")


def fig_html(fig, div_id: str, height: int, top: int = 60) -> str:
    """A chart placeholder and its plotly JSON, drawn by the page's loader."""
    fig.update_layout(template="plotly_white", height=height, margin=dict(l=60, r=30, t=top, b=50))
    return (f'<div id="{div_id}" class="plotly-graph-div" style="height:{height}px;width:100%"></div>'
            f'<script type="application/json" class="ek-fig" data-div="{div_id}">{_json_in_script(fig.to_json())}</script>')


_HEAD_JS = """
<script>
window.__ekErrors = [];
window.addEventListener('error', function(e){ window.__ekErrors.push(String(e.message || e)); });
window.__ekUnpack = async function(b64){  // base64 + gzip -> bytes, with the browser's own decompressor
  var bin = atob(b64), bytes = new Uint8Array(bin.length);
  for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
};
</script>"""

_LOADER = """
<script>
window.__ekPlots = (async function(){
  var code = new TextDecoder().decode(await window.__ekUnpack(document.getElementById('ek-plotly').textContent));
  (0, eval)(code);  // defines window.Plotly (plotly.js, embedded above, compressed)
  var figs = document.querySelectorAll('script.ek-fig'), done = [];
  figs.forEach(function(s){
    var f = JSON.parse(s.textContent);
    done.push(Plotly.newPlot(document.getElementById(s.dataset.div), f.data, f.layout, {displaylogo: false, responsive: true}));
  });
  await Promise.all(done);
})().catch(function(e){ window.__ekErrors.push('plots: ' + e); });
</script>"""

_STATUS = """
<script>
(function(){
  function check(){
    var divs = document.querySelectorAll('.plotly-graph-div'), ok = 0;
    divs.forEach(function(d){ if (d._fullLayout && d.querySelector('.main-svg')) ok++; });
    var errs = window.__ekErrors || [], tv = window.__ekText;
    var txt = tv ? ' text=' + (tv.ready ? (tv.tokens || 0) : 'pending') : '';
    document.getElementById('ek-status').textContent = (errs.length ? 'errors: ' + errs.join(' | ') : 'ok') + ' plots=' + ok + '/' + divs.length
      + txt + ' ms=' + Math.round(performance.now());
  }
  window.addEventListener('load', function(){
    var text = (window.__ekText && window.__ekText.promise) || Promise.resolve();
    Promise.all([window.__ekPlots, text]).then(function(){ requestAnimationFrame(function(){ setTimeout(check, 0); }); });
  });
})();
</script>"""


def page(title: str, body: str, css: str = "") -> str:
    """The whole document: head (styles, error catcher, compressed plotly.js), ``body``, loader,
    status line (``body`` should hold ``<p id='ek-status'>loading</p>``)."""
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{CSS}{css}</style>{_HEAD_JS}"
            f"<script type='application/octet-stream' id='ek-plotly'>{_plotly_packed()}</script>"
            "</head><body>" + body + _LOADER + _STATUS + "</body></html>")
