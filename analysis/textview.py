"""The report's running-text view: each response as text, every token's background coloured by
its entropy on an absolute scale, pivotal words underlined, reflective and rare sentences
marked, hover with the token's entropy, log-prob and the model's top alternatives.

The data travel compactly: column arrays (entropy and log-prob quantized to 0.01 nats,
alternative probabilities to 0.5%, alternatives under 1% left out, and the most likely
alternative stored only when it is not the token itself, whose probability is exp(log-prob)),
gzip-compressed and base64-encoded in the page, unpacked in the browser with the standard
``DecompressionStream`` (no library, works offline). Only the selected response is turned into
DOM nodes, so a page of 50 x 2K tokens opens quickly.
"""

from __future__ import annotations

import json
import math
from typing import Sequence

import numpy as np

from .align import assign_tokens, token_anchors
from entropykit.html import pack

FLAG_PIVOTAL, FLAG_REFLECTIVE, FLAG_RARE, FLAG_UNCOMMON, FLAG_TOP1_IS_TOKEN = 1, 2, 4, 8, 16
MIN_ALT_P = 0.01  # alternatives below 1% are left out of the page (the hover says so)
PROMPT_CHARS = 400


def _utf16_index(text: str) -> np.ndarray | None:
    """``idx[i]`` = UTF-16 position of code point i (JS strings count UTF-16 units); None when the
    text has no character outside the BMP (then the two agree)."""
    wide = np.fromiter((ord(c) > 0xFFFF for c in text), dtype=bool, count=len(text))
    if not wide.any():
        return None
    return np.concatenate([[0], np.cumsum(1 + wide)]).astype(np.int64)


def _flags(n: int, first: np.ndarray, last: np.ndarray, flag: int) -> np.ndarray:
    """``flag`` on tokens ``first[j]..last[j]`` (inclusive), as a uint8 mask of length n."""
    mark = np.zeros(n + 1, np.int32)
    np.add.at(mark, first, 1)
    np.add.at(mark, last + 1, -1)
    return np.where(np.cumsum(mark[:n]) > 0, flag, 0).astype(np.uint8)


def build_payload(result, indices: Sequence[int]) -> dict:
    """The view's data for responses ``indices``: ``{"meta": base64 gzip JSON, "bin": base64 gzip
    column bytes, "layout": ...}`` (see `render_js` for how the browser reads it)."""
    table, words = result.table, result.words
    metas, texts = [], []
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("start", "len", "h", "lp", "flags", "nalt", "alt", "altp")}
    alt_index: dict[int, int] = {}
    alt_text: list[str] = []
    sents_by_resp: dict[int, list[dict]] = {}
    for s in result.sentences:
        sents_by_resp.setdefault(s["response"], []).append(s)
    resp_rows = result.responses
    for r in indices:
        rows = table.rows(r)
        rec = result.records[r]
        text = rec["response"]
        n = rows.stop - rows.start
        off = table.offsets[rows].astype(np.int64)
        u16 = _utf16_index(text)
        if u16 is not None:
            off = u16[off]
        flags = np.zeros(n, np.uint8)
        wm = words.response == r
        for mask, flag in ((words.common, FLAG_PIVOTAL), (words.pivotal & ~words.common, FLAG_UNCOMMON)):
            m = wm & mask
            flags |= _flags(n, words.first_token[m] - rows.start, words.last_token[m] - rows.start, flag)
        sents = sents_by_resp.get(r, [])
        if sents:
            who = assign_tokens(token_anchors(text, table.offsets[rows]), [(s["start"], s["end"]) for s in sents])
            refl = np.array([s["reflective"] for s in sents] + [False])
            rare = np.array([bool(s.get("rare")) for s in sents] + [False])
            flags |= np.where(refl[who], FLAG_REFLECTIVE, 0).astype(np.uint8)
            flags |= np.where(rare[who], FLAG_RARE, 0).astype(np.uint8)
        starts = off[:, 0]
        cols["start"].append(np.diff(np.concatenate([[0], starts])).clip(0, 65535).astype(np.uint16))
        cols["len"].append((off[:, 1] - off[:, 0]).clip(0, 65535).astype(np.uint16))
        cols["h"].append(np.round(table.entropy[rows].astype(np.float64) * 100).clip(0, 65534).astype(np.uint16))
        lp = table.logprob[rows].astype(np.float64)
        cols["lp"].append(np.where(np.isfinite(lp), np.round(-lp * 100).clip(0, 65534), 65535).astype(np.uint16))
        ids, lps = table.top_ids[rows], table.top_logprob[rows]
        p = np.where(ids >= 0, np.exp(np.nan_to_num(lps, nan=-np.inf)), 0.0)
        keep = (ids >= 0) & ((p >= MIN_ALT_P) | (np.arange(ids.shape[1]) == 0))
        if ids.shape[1]:  # the top alternative is the token itself: implied by the flag (p = exp(log-prob))
            top1 = (ids[:, 0] == table.token_id[rows]) & (ids[:, 0] >= 0) & np.isfinite(lp)
            flags |= np.where(top1, FLAG_TOP1_IS_TOKEN, 0).astype(np.uint8)
            keep[:, 0] &= ~top1
        cols["flags"].append(flags)
        cols["nalt"].append(keep.sum(axis=1).astype(np.uint8))
        for i in ids[keep].tolist():
            if i not in alt_index:
                alt_index[i] = len(alt_text)
                alt_text.append(table.top_text.get(i, ""))
        cols["alt"].append(np.array([alt_index[i] for i in ids[keep].tolist()], dtype=np.uint32))
        cols["altp"].append(np.round(p[keep] * 200).astype(np.uint8))
        row = resp_rows[r]
        texts.append(text)
        metas.append({"id": str(rec["id"]), "source": rec["source"], "n": int(n), "mean": _r(row["mean_entropy"]),
                      "correct": rec.get("correct"), "prompt": rec["prompt"][-PROMPT_CHARS:],
                      "pivotal": int(row["pivotal_count"]), "reflective": int(row["reflective_count"])})
    alt_dtype = np.uint16 if len(alt_text) < 65536 else np.uint32
    order = [("alt", alt_dtype), ("start", np.uint16), ("len", np.uint16), ("h", np.uint16), ("lp", np.uint16),
             ("flags", np.uint8), ("nalt", np.uint8), ("altp", np.uint8)]
    blob, layout, pos = [], {}, 0
    for name, dt in order:
        arr = np.concatenate(cols[name]).astype(dt) if cols[name] else np.zeros(0, dt)
        pad = (-pos) % 4
        blob.append(b"\0" * pad)
        pos += pad
        layout[name] = [pos, int(arr.size), np.dtype(dt).name]
        blob.append(arr.astype(np.dtype(dt).newbyteorder("<")).tobytes())
        pos += arr.nbytes
    all_h = table.entropy
    meta = {"responses": metas, "texts": texts, "alts": alt_text, "layout": layout,
            "p99": _r(float(np.quantile(all_h, 0.99)) if all_h.size else 1.0)}
    return {
        "meta": pack(json.dumps(meta, ensure_ascii=False, separators=(",", ":")).encode("utf-8")),
        "bin": pack(b"".join(blob)),
    }


def _r(x):
    return None if x is None or not math.isfinite(x) else round(float(x), 3)


CSS = """
#tv-controls{display:flex;flex-wrap:wrap;gap:10px 18px;align-items:center;margin:.5em 0}
#tv-controls label{white-space:nowrap}
#tv-list{width:100%;font-family:ui-monospace,Menlo,monospace;font-size:.85em}
#tv-text{white-space:pre-wrap;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:14px;line-height:1.9;
  border:1px solid #ddd;border-radius:6px;padding:10px 12px;max-height:70vh;overflow:auto;background:#fff}
#tv-text span.t{border-radius:2px}
#tv-text.piv span.piv{text-decoration:underline;text-decoration-thickness:2px;text-underline-offset:3px;font-weight:600}
#tv-text.piv span.unc{text-decoration:underline dotted;text-underline-offset:3px}
#tv-text.refl span.refl{box-shadow:inset 0 2px 0 #1f77b4}
#tv-text.rare span.rare{box-shadow:inset 0 -3px 0 #9467bd}
#tv-text.refl.rare span.refl.rare{box-shadow:inset 0 2px 0 #1f77b4,inset 0 -3px 0 #9467bd}
#tv-text span.sat{outline:1px solid #5a0000;outline-offset:-1px}
#tv-prompt{color:#555;font-size:.85em;white-space:pre-wrap;max-height:6em;overflow:auto;border-left:3px solid #ddd;padding-left:8px}
#tv-bar{display:flex;align-items:center;gap:8px;font-size:.85em}
#tv-grad{width:260px;height:14px;border:1px solid #ccc}
#tv-tip{position:fixed;z-index:10;display:none;background:#fff;border:1px solid #999;border-radius:6px;padding:6px 9px;
  font-size:12px;box-shadow:0 2px 8px rgba(0,0,0,.2);pointer-events:none;min-width:180px}
#tv-tip table{margin:2px 0;font-size:12px} #tv-tip td{border:none;padding:0 4px;text-align:left}
#tv-tip .b{display:inline-block;height:8px;background:#d62728}
.legend-piv{text-decoration:underline;text-decoration-thickness:2px;font-weight:600}
.legend-refl{box-shadow:inset 0 2px 0 #1f77b4}.legend-rare{box-shadow:inset 0 -3px 0 #9467bd}
"""


def render_html(payload: dict, *, color_range: str, color_max: float, has_rare: bool) -> str:
    """The view's HTML (controls, colour bar, text box, tooltip) and its script."""
    data = json.dumps({"meta": payload["meta"], "bin": payload["bin"], "mode": color_range, "max": color_max})
    rare_ctl = ("<label><input type='checkbox' id='tv-rare' checked> <span class='legend-rare'>rare sentences</span></label>"
                if has_rare else "")
    return f"""
<div id="tv-controls">
  <input id="tv-filter" type="search" placeholder="filter by response id or source" size="28">
  <button id="tv-prev" type="button">&larr; prev</button><button id="tv-next" type="button">next &rarr;</button>
  <label><input type="checkbox" id="tv-piv" checked> <span class="legend-piv">pivotal words</span></label>
  <label><input type="checkbox" id="tv-refl" checked> <span class="legend-refl">reflective sentences</span></label>
  {rare_ctl}
  <label><input type="checkbox" id="tv-color" checked> entropy colour</label>
  <label><input type="checkbox" id="tv-run"{' checked' if color_range == 'run' else ''}> scale to this run (0&ndash;99th percentile)</label>
</div>
<select id="tv-list" size="6"></select>
<div id="tv-bar"><span>0</span><div id="tv-grad"></div><span id="tv-max"></span><span id="tv-sat" class="muted"></span></div>
<div id="tv-prompt"></div>
<div id="tv-text" class="piv refl rare color" tabindex="0"></div>
<div id="tv-tip"></div>
<script type="application/json" id="tv-data">{data}</script>
<script>{_JS}</script>"""


_JS = r"""
(function(){
  var D = JSON.parse(document.getElementById('tv-data').textContent);
  var STOPS = [[255,255,255],[255,247,188],[254,217,118],[254,178,76],[253,141,60],[252,78,42],[227,26,28],[177,0,38]];
  function colour(h, top){
    var x = Math.max(0, Math.min(1, h / top)) * (STOPS.length - 1), i = Math.min(STOPS.length - 2, Math.floor(x)), f = x - i;
    var a = STOPS[i], b = STOPS[i + 1];
    return 'rgb(' + Math.round(a[0] + f * (b[0] - a[0])) + ',' + Math.round(a[1] + f * (b[1] - a[1])) + ',' + Math.round(a[2] + f * (b[2] - a[2])) + ')';
  }
  var unpack = window.__ekUnpack;
  function col(buf, spec){
    var T = {uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array}[spec[2]];
    return new T(buf.buffer, buf.byteOffset + spec[0], spec[1]);
  }
  function esc(s){ return s.replace(/&/g,'&amp;').replace(/</g,'&lt;').replace(/>/g,'&gt;'); }
  function vis(s){ return esc(s).replace(/ /g,'\u2423').replace(/\n/g,'\u21b5').replace(/\t/g,'\u21e5') || '(empty)'; }
  var V = window.__ekText = {ready: false};
  async function init(){
    var meta = JSON.parse(new TextDecoder().decode(await unpack(D.meta)));
    var buf = await unpack(D.bin), L = meta.layout;
    var C = {}; for (var k in L) C[k] = col(buf, L[k]);
    var R = meta.responses, first = [], afirst = [], t = 0, a = 0;
    for (var r = 0; r < R.length; r++){
      first.push(t); afirst.push(a);
      for (var j = 0; j < R[r].n; j++) a += C.nalt[t + j];
      t += R[r].n;
    }
    var box = document.getElementById('tv-text'), list = document.getElementById('tv-list'), tip = document.getElementById('tv-tip');
    var top = D.max, cur = -1;
    function scaleTop(){ return document.getElementById('tv-run').checked ? Math.max(meta.p99, 0.01) : D.max; }
    function bar(){
      top = scaleTop();
      var g = []; for (var i = 0; i <= 10; i++) g.push(colour(top * i / 10, top) + ' ' + (i * 10) + '%');
      document.getElementById('tv-grad').style.background = 'linear-gradient(to right,' + g.join(',') + ')';
      document.getElementById('tv-max').textContent = top.toFixed(2) + ' nats';
      document.getElementById('tv-sat').textContent = 'outlined: entropy above ' + top.toFixed(2) + ' (saturated)';
    }
    function fill(){
      var q = document.getElementById('tv-filter').value.trim().toLowerCase(), keep = cur;
      list.innerHTML = '';
      R.forEach(function(m, r){
        var label = '#' + r + '  id=' + m.id + '  ' + m.source + '  ' + m.n + ' tok  H\u0304=' + (m.mean == null ? '-' : m.mean.toFixed(3))
          + '  pivotal ' + m.pivotal + '  reflective ' + m.reflective + (m.correct == null ? '' : (m.correct ? '  \u2713' : '  \u2717'));
        if (q && (m.id + ' ' + m.source).toLowerCase().indexOf(q) < 0) return;
        var o = document.createElement('option'); o.value = r; o.textContent = label; list.appendChild(o);
      });
      if (list.options.length && (keep < 0 || !Array.prototype.some.call(list.options, function(o){ return +o.value === keep; })))
        keep = +list.options[0].value;
      list.value = keep; return keep;
    }
    function show(r){
      if (r == null || r < 0 || r >= R.length) { box.textContent = 'no response matches the filter'; return; }
      cur = r; list.value = r;
      var m = R[r], text = meta.texts[r], f = document.createDocumentFragment(), pos = 0, cursor = 0, s0 = first[r];
      document.getElementById('tv-prompt').textContent = 'prompt (end): ' + m.prompt;
      for (var j = 0; j < m.n; j++){
        var i = s0 + j; pos += C.start[i]; var s = Math.max(pos, cursor), e = pos + C.len[i];
        if (s > cursor) f.appendChild(document.createTextNode(text.slice(cursor, s)));
        if (e <= s) continue;
        var sp = document.createElement('span'), h = C.h[i] / 100, fl = C.flags[i];
        sp.className = 't' + (fl & 1 ? ' piv' : '') + (fl & 8 ? ' unc' : '') + (fl & 2 ? ' refl' : '') + (fl & 4 ? ' rare' : '') + (h > top ? ' sat' : '');
        sp.dataset.i = j; sp.textContent = text.slice(s, e);
        if (box.classList.contains('color')) sp.style.backgroundColor = colour(h, top);
        f.appendChild(sp); cursor = e;
      }
      if (cursor < text.length) f.appendChild(document.createTextNode(text.slice(cursor)));
      box.innerHTML = ''; box.appendChild(f);
      V.shown = r; V.tokens = box.querySelectorAll('span.t').length;
    }
    function tipFor(j){
      var r = cur, i = first[r] + j, a0 = afirst[r]; for (var k = first[r]; k < i; k++) a0 += C.nalt[k];
      var pos = 0; for (var k2 = first[r]; k2 <= i; k2++) pos += C.start[k2];
      var text = meta.texts[r].slice(pos, pos + C.len[i]);
      var lp = C.lp[i] === 65535 ? null : -C.lp[i] / 100, fl = C.flags[i], rows = '';
      function row(t, p, self){
        return '<tr><td><code>' + vis(t) + '</code>' + (self ? ' (this token)' : '') + '</td><td>' + (100 * p).toFixed(1) + '%</td><td><span class="b" style="width:' + Math.round(60 * p) + 'px"></span></td></tr>';
      }
      if (fl & 16) rows += row(text, Math.exp(lp), true);
      for (var q = 0; q < C.nalt[i]; q++) rows += row(meta.alts[C.alt[a0 + q]], C.altp[a0 + q] / 200, false);
      var nrows = C.nalt[i] + ((fl & 16) ? 1 : 0);
      return '<b><code>' + vis(text) + '</code></b><br>entropy <b>' + (C.h[i] / 100).toFixed(2) + '</b> nats' +
        (lp == null ? '' : ' &middot; log-prob ' + lp.toFixed(2) + ' (p ' + (100 * Math.exp(lp)).toFixed(1) + '%)') +
        ((fl & 1) ? '<br><i>pivotal word</i>' : (fl & 8) ? '<br><i>lexicon word below --min-word-count</i>' : '') + ((fl & 2) ? '<br><i>reflective sentence</i>' : '') + ((fl & 4) ? '<br><i>rare sentence</i>' : '') +
        (nrows ? '<br>model\u2019s top alternatives (1% and up):<table>' + rows + '</table>' : '<br><i>no alternatives stored</i>');
    }
    box.addEventListener('mouseover', function(ev){
      var sp = ev.target.closest ? ev.target.closest('span.t') : null;
      if (!sp) { tip.style.display = 'none'; return; }
      tip.innerHTML = tipFor(+sp.dataset.i); tip.style.display = 'block';
      var x = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 8), y = ev.clientY + 16;
      if (y + tip.offsetHeight > window.innerHeight) y = ev.clientY - tip.offsetHeight - 10;
      tip.style.left = x + 'px'; tip.style.top = y + 'px';
    });
    box.addEventListener('mouseleave', function(){ tip.style.display = 'none'; });
    function toggle(id, cls){ var el = document.getElementById(id); if (el) el.addEventListener('change', function(){ box.classList.toggle(cls, el.checked); if (cls === 'color') show(cur); }); }
    toggle('tv-piv', 'piv'); toggle('tv-refl', 'refl'); toggle('tv-rare', 'rare'); toggle('tv-color', 'color');
    document.getElementById('tv-run').addEventListener('change', function(){ bar(); show(cur); });
    list.addEventListener('change', function(){ show(+list.value); });
    document.getElementById('tv-filter').addEventListener('input', function(){ show(fill()); });
    function step(d){ var o = Array.prototype.map.call(list.options, function(x){ return +x.value; }), k = o.indexOf(cur); if (o.length) show(o[Math.max(0, Math.min(o.length - 1, k + d))]); }
    document.getElementById('tv-prev').addEventListener('click', function(){ step(-1); });
    document.getElementById('tv-next').addEventListener('click', function(){ step(1); });
    bar(); cur = R.length ? 0 : -1; show(fill());
    V.ready = true; V.count = R.length; V.tipFor = tipFor;
  }
  V.promise = init().catch(function(e){ (window.__ekErrors = window.__ekErrors || []).push('text view: ' + e); V.ready = true; });
})();
"""
