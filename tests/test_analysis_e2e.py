"""Slow end to end: `entropykit analyze` on the bundled demo data with the embedded scorer
(SmolLM2-135M) and embedder (all-MiniLM-L6-v2), then the report in headless Chromium."""

import json
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from entropykit.analysis import AnalyzeConfig, demo_paths, run_analysis

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("analyze") / "out"
    outputs, base = demo_paths()
    cmd = [sys.executable, "-m", "entropykit.cli.app", "analyze", outputs, "--base", base, "--out", str(out), "--no-progress"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_demo_summary(demo_run):
    out, proc = demo_run
    s = json.loads((out / "summary.json").read_text())
    assert s["num_responses"] == 8 and s["num_tokens"] > 400 and 0 < s["mean_entropy"] < 10.81
    for key in ("pivotal", "reflection", "rare"):
        c = s[key]
        assert c["count"] > 0, key
        for f in ("mean_entropy", "other_mean_entropy", "effect_size"):
            assert isinstance(c[f], float), (key, f)
        assert 0.0 <= c["p_value"] <= 1.0
        assert len(c["ci95"]) == 2 and c["ci95"][0] <= c["ci95"][1]
    assert s["rare"]["clusters"] and s["dynamics"]["by_source"]["rl"]["count"] == 8
    assert s["dynamics"]["by_source"]["base"]["mean_num_tokens"] > 0
    assert "pivotal" in proc.stdout and "rare" in proc.stdout  # the rich table
    for f in ("report.html", "tokens.parquet", "responses.jsonl", "sentences.jsonl", "embeddings.npz"):
        assert (out / f).stat().st_size > 0
    # a rerun into the same folder with other options (no --base, mean word entropy; in-process,
    # no report so the browser test below still sees the full one) reuses the token entropies
    s2 = run_analysis(AnalyzeConfig(outputs=demo_paths()[0], out=str(out), report=False, pivotal_entropy="mean"))
    assert s2["cache"]["reused"] == 8 and s2["mean_entropy"] == pytest.approx(s["mean_entropy"]) and "rare" not in s2


def _png_pixels(path):
    """Decode an 8-bit RGB/RGBA PNG (no PIL): returns (width, height, rows of bytes)."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", None
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


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


@pytest.mark.browser
def test_report_renders_in_headless_chromium(demo_run, tmp_path):
    exe = _chromium()
    if exe is None:
        pytest.skip("chromium not installed (apt-get install -y chromium)")
    report = demo_run[0] / "report.html"
    html = report.read_text()
    assert "<script src=" not in html  # plotly.js is inlined: works offline
    flags = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             "--enable-logging=stderr", "--v=0", "--virtual-time-budget=20000", "--window-size=1200,900"]
    dom = subprocess.run(flags + ["--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    status = dom.stdout.split('id="ek-status">', 1)[1].split("<", 1)[0]
    n = html.count('class="plotly-graph-div"')
    assert status == f"ok plots={n}/{n}", status  # every plot drawn, no JS error caught by the page
    console_errors = [l for l in dom.stderr.splitlines() if "CONSOLE" in l and ("Uncaught" in l or "Error" in l)]
    assert not console_errors, console_errors
    shot = tmp_path / "shot.png"
    r = subprocess.run(flags + [f"--screenshot={shot}", report.as_uri()], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0 and shot.exists(), r.stderr[-2000:]
    w, h, bpp, rows = _png_pixels(shot)
    assert (w, h) == (1200, 900)
    colors = set()
    nonwhite = 0
    for row in rows[::4]:
        for x in range(0, w * bpp, bpp * 4):
            px = row[x : x + 3]
            colors.add(px)
            nonwhite += px != b"\xff\xff\xff"
    assert len(colors) > 20, len(colors)  # text, bars, axes: many distinct colours
    assert nonwhite > 0.02 * (w // 4) * (h // 4), nonwhite
