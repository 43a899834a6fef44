"""Slow end to end: `entropykit analyze` on real SmolLM2-135M outputs (MATH-500 samples that
`entropykit passk` generated, committed in analysis/data) scored by the model that wrote them,
with the MATH-500 reference solutions as the rare-behavior reference; then the report in
headless Chromium, driven over the DevTools protocol: real hover, real clicks."""

import base64
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from entropykit.analysis import AnalyzeConfig, run_analysis
from entropykit.analysis.headless import Chromium, find_chromium

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parents[1] / "analysis" / "data"
SAMPLES = DATA / "smollm2_math500_samples.jsonl"
REFERENCE = DATA / "math500_reference.jsonl"
N = 8  # responses analyzed here (2 problems x 4 samples): the case study in analysis/README.md has them all


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("analyze") / "out"
    cmd = [sys.executable, "-m", "entropykit.cli.app", "analyze", str(SAMPLES), "--base", str(REFERENCE), "--out", str(out),
           "--limit", str(N), "--min-word-count", "2", "--min-responses", "4", "--clusters", "3", "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_real_outputs_scored_by_their_model(run):
    out, proc = run
    s = json.loads((out / "summary.json").read_text())
    recs = [json.loads(l) for l in SAMPLES.read_text().splitlines()[:N]]
    assert {r["model"] for r in recs} == {"smollm2-135m"}
    assert s["model"] == "smollm2-135m" and s["scorer"]["source"] == "records" and s["scorer"]["scored"] == N
    assert "scorer: smollm2-135m" in proc.stdout
    assert s["num_responses"] == N and s["num_prompts"] == 2 and 0 < s["mean_entropy"] < 10.81
    for key in ("pivotal", "reflection", "rare"):
        pr = s[key]["per_response"]
        assert set(pr) >= {"responses", "mean_diff", "ci95", "p_value", "p_value_t"}, key
        assert isinstance(s[key]["count"], int)
    assert s["pivotal"]["count"] > 0 and s["rare"]["count"] > 0
    assert s["rare"]["clusters"] and s["dynamics"]["by_source"]["reference"]["count"] == 50
    assert s["dynamics"]["by_source"]["reference"]["mean_num_tokens"] > 0  # counted with the tokenizer alone
    assert "pivotal" in proc.stdout and "rare" in proc.stdout
    for f in ("report.html", "tokens.parquet", "responses.jsonl", "sentences.jsonl", "embeddings.npz"):
        assert (out / f).stat().st_size > 0
    import pyarrow.parquet as pq

    t = pq.read_table(out / "tokens.parquet")
    tops = t.column("top_logprobs").to_pylist()
    assert all(len(x) == 5 for x in tops) and all(a >= b for x in tops[:200] for a, b in zip(x, x[1:]))
    # a rerun into the same folder reuses every token entropy (no model loaded for scoring)
    s2 = run_analysis(AnalyzeConfig(outputs=str(SAMPLES), out=str(out), limit=N, report=False, pivotal_entropy="mean"))
    assert s2["cache"]["reused"] == N and s2["mean_entropy"] == pytest.approx(s["mean_entropy"])


def _png_pixels(data: bytes):
    """Decode an 8-bit RGB/RGBA PNG (no PIL): returns (width, height, bytes per pixel, rows)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        n, typ = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + n]
        if typ == b"IHDR":
            w, h, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and color in (2, 6)
            bpp = 3 if color == 2 else 4
        elif typ == b"IDAT":
            idat += chunk
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


READY = "(function(){var t=document.getElementById('ek-status').textContent; return t.startsWith('loading') ? '' : t;})()"


def _center(page, selector: str):
    return page.evaluate(f"""(function(){{var e=document.querySelector({json.dumps(selector)}); if(!e) return null;
        e.scrollIntoView({{block:'center'}}); var b=e.getBoundingClientRect(); return [b.x+b.width/2, b.y+b.height/2];}})()""")


@pytest.mark.browser
def test_report_in_headless_chromium(run):
    if find_chromium() is None:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    out, _ = run
    report = out / "report.html"
    html = report.read_text()
    assert "<script src=" not in html and "cdn.plot.ly" not in html  # works offline
    assert report.stat().st_size < 6e6
    recs = [json.loads(l) for l in SAMPLES.read_text().splitlines()[:N]]
    import pyarrow.parquet as pq

    tok = pq.read_table(out / "tokens.parquet").to_pydict()
    with Chromium() as browser:
        page = browser.open(report.as_uri())
        status = page.wait_for(READY, timeout=120)
        n = html.count('class="plotly-graph-div"')
        assert status.startswith(f"ok plots={n}/{n} text="), status  # every chart drawn, text view rendered, no JS error
        # the running text: every character of the response, whitespace and newlines kept, one span per token
        assert page.evaluate("document.getElementById('tv-text').textContent") == recs[0]["response"]
        n0 = sum(1 for r in tok["response"] if r == 0)
        assert page.evaluate("document.querySelectorAll('#tv-text span.t').length") == n0
        assert page.evaluate("document.querySelectorAll('#tv-list option').length") == N
        # hover (a real mouse move) shows the token, its entropy, log-prob and the top alternatives
        j = page.evaluate("(function(){var s=document.querySelectorAll('#tv-text span.t'); for (var i=0;i<s.length;i++)"
                          " if (s[i].textContent.trim().length>2) return +s[i].dataset.i; return 0;})()")
        xy = _center(page, f"#tv-text span.t[data-i='{j}']")
        page.hover(*xy)
        tip = page.wait_for("document.getElementById('tv-tip').style.display==='block' && document.getElementById('tv-tip').innerText")
        assert f"entropy {tok['entropy'][j]:.2f} nats" in tip and f"log-prob {tok['logprob'][j]:.2f}" in tip, tip
        assert "top alternatives" in tip and "%" in tip
        # pivotal words are underlined; the toggle removes the underline
        piv = "getComputedStyle(document.querySelector('#tv-text span.piv')).textDecorationLine"
        if page.evaluate("!!document.querySelector('#tv-text span.piv')") is False:
            page.evaluate("(function(){var s=document.getElementById('tv-list'); for (var o of s.options){ s.value=o.value;"
                          " s.dispatchEvent(new Event('change')); if (document.querySelector('#tv-text span.piv')) return; }})()")
        assert page.evaluate(piv) == "underline"
        page.click(*_center(page, "#tv-piv"))
        assert page.evaluate(piv) == "none" and page.evaluate("document.getElementById('tv-piv').checked") is False
        # the colour toggle: backgrounds on, then off
        bg = "getComputedStyle(document.querySelector('#tv-text span.t')).backgroundColor"
        assert page.evaluate(bg) not in ("rgba(0, 0, 0, 0)", "transparent")
        page.click(*_center(page, "#tv-color"))
        assert page.evaluate(bg) == "rgba(0, 0, 0, 0)"
        page.click(*_center(page, "#tv-color"))
        # filter by response id: only the matching response is listed and shown
        rid = recs[5]["id"]
        page.evaluate(f"(function(){{var f=document.getElementById('tv-filter'); f.value={json.dumps(rid)};"
                      " f.dispatchEvent(new Event('input'));})()")
        assert page.evaluate("document.querySelectorAll('#tv-list option').length") == 1
        assert page.evaluate("document.getElementById('tv-text').textContent") == recs[5]["response"]
        assert not browser.console_errors()
        shot = base64.b64decode(page.send("Page.captureScreenshot", {"format": "png"})["data"])
    w, h, bpp, rows = _png_pixels(shot)
    colors, nonwhite = set(), 0
    for row in rows[::4]:
        for x in range(0, w * bpp, bpp * 4):
            px = row[x : x + 3]
            colors.add(px)
            nonwhite += px != b"\xff\xff\xff"
    assert len(colors) > 20, len(colors)  # text, entropy colours, controls
    assert nonwhite > 0.02 * (w // 4) * (h // 4), nonwhite
