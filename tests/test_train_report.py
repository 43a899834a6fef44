"""The training dashboard as a browser draws it: integer step ticks, a legend clear of every
axis title, tick label and subplot title (headless Chromium measures the drawn SVG)."""

import json
import re
import shutil
import subprocess

import pytest

from entropykit.io import atomic_write_json, atomic_write_text
from entropykit.train.report import PANELS, build_report, step_dtick

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")

# Runs in the page after plotly has drawn: every bounding box the legend must not touch, and
# the text of every x tick label.
PROBE = """
<script>
window.addEventListener("load", () => setTimeout(() => {
  const box = (e) => e.getBoundingClientRect();
  const hit = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  const legend = box(document.querySelector("g.legend"));
  // tick labels of every axis, axis titles (g-xtitle, g-x2title, ...), subplot titles, the title
  const others = [...document.querySelectorAll(
      "g.xaxislayer-above text, g.yaxislayer-above text, g[class^='g-x'][class$='title'] text, " +
      "g[class^='g-y'][class$='title'] text, g.annotation text, g.g-gtitle text")];
  const res = {
    legend: [legend.left, legend.top, legend.right, legend.bottom],
    n_others: others.length,
    overlaps: others.filter((e) => hit(legend, box(e))).map((e) => e.textContent),
    xticks: [...document.querySelectorAll("g.xaxislayer-above text")].map((e) => e.textContent),
  };
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(res);
  document.body.appendChild(pre);
}, 300));
</script>
"""


def _fake_run(folder, steps, algo, entropy_adv, keys):
    recs = [{"step": s, **{k: 0.1 * s + 0.01 * i for i, k in enumerate(keys)}} for s in range(1, steps + 1)]
    atomic_write_text(folder / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in recs))
    atomic_write_json(folder / "config.json", {"algo": algo, "entropy_adv": entropy_adv})
    return folder


def test_step_dtick_is_an_integer_spacing():
    assert [step_dtick(x) for x in (1, 3, 10, 11, 21, 99, 101, 1000, 5001)] == [1, 1, 1, 2, 5, 10, 20, 100, 1000]


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install -y chromium)")
@pytest.mark.parametrize("keys", [["reward_mean", "accuracy", "entropy"], [k for k, _ in PANELS]], ids=["one-row", "all-panels"])
def test_two_run_report_in_a_browser_has_integer_ticks_and_a_clear_legend(tmp_path, keys):
    runs = [_fake_run(tmp_path / "grpo-entropy-advantage-run", 3, "grpo", True, keys),
            _fake_run(tmp_path / "grpo-baseline-without-entropy-advantage", 3, "grpo", False, keys)]
    page = build_report(runs, tmp_path / "report.html").read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>", 1))
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--window-size=1400,1000", "--virtual-time-budget=15000", "--dump-dom", probe.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    m = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert m, "the page did not render in chromium"
    res = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert res["n_others"] >= 5 * len(keys)  # the probe really saw every axis and title
    assert res["overlaps"] == []
    assert res["xticks"] and all(re.fullmatch(r"\d+", t) for t in res["xticks"]), res["xticks"]
    assert set(res["xticks"]) <= {"0", "1", "2", "3", "4"}


def test_unwritable_report_fails_before_reading_runs(tmp_path):
    from entropykit.errors import UserError

    afile = tmp_path / "afile"
    afile.write_text("x")
    for bad in ("/proc/entropykit-report.html", afile / "r.html"):
        with pytest.raises(UserError):
            build_report([tmp_path / "no-such-run"], bad)  # the output is checked first
