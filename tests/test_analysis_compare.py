"""`entropykit analyze compare RUN_A RUN_B` (paper Figure 8) on two fake-scored analyses."""

import json

import pytest

from entropykit.analysis import AnalyzeConfig, run_analysis
from entropykit.analysis.compare import compare_metric, compare_runs

from test_analysis_pipeline import fake_scorer, run_cli, write_jsonl  # noqa: F401  (fixture)


def make_runs(tmp_path, n_prompts=8):
    a, b = [], []
    for p in range(n_prompts):
        for j in range(2):
            base = {"prompt": f"problem {p}", "benchmark": "toy", "problem_id": str(p), "sample_idx": j}
            a.append({**base, "id": f"a{p}-{j}", "model": "grpo", "response": f"We add {p} and {j}. The answer is {p + j}."})
            b.append({**base, "id": f"b{p}-{j}", "model": "grpo-ent",
                      "response": f"First, we add {p} and {j}. Then we verify: {p} + {j} = {p + j}. Therefore the answer is {p + j}."})
    for name, recs in (("a", a), ("b", b)):
        run_analysis(AnalyzeConfig(outputs=str(write_jsonl(tmp_path / f"{name}.jsonl", recs)), out=str(tmp_path / name),
                                   n_boot=100, report=False, min_word_count=1))
    return tmp_path / "a", tmp_path / "b"


def test_compare_runs_paired_by_prompt(tmp_path, fake_scorer):
    ra, rb = make_runs(tmp_path)
    rep = compare_runs(str(ra), str(rb), str(tmp_path / "cmp.html"), labels=["grpo", "grpo+entropy"], n_boot=200)
    m = {x["metric"]: x for x in rep["metrics"]}
    assert m["pivotal_per_1k"]["a"]["mean"] == 0 and m["pivotal_per_1k"]["b"]["mean"] > 100
    assert m["pivotal_per_1k"]["diff"] > 0 and m["pivotal_per_1k"]["diff_ci95"][0] > 0
    assert m["pivotal_per_1k"]["p_value"] == pytest.approx(2 / 2**8)  # all 8 prompts agree: exact Wilcoxon
    assert "paired by prompt (8 shared prompts)" in m["pivotal_per_1k"]["pairing"]
    assert m["reflective_per_1k"]["b"]["mean"] > 0 and m["pivotal_mean_entropy"]["a"]["responses"] == 0
    assert m["num_tokens"]["b"]["mean"] > m["num_tokens"]["a"]["mean"]
    assert [r["scorer"] for r in rep["runs"]] == ["grpo", "grpo-ent"]
    html = (tmp_path / "cmp.html").read_text()
    assert html.count('class="plotly-graph-div"') == 1 and "grpo+entropy" in html and "<script src=" not in html
    assert json.loads((tmp_path / "cmp.json").read_text())["metrics"][0]["metric"] == "pivotal_per_1k"


def test_compare_metric_independent_and_hand_checked():
    rows_a = [{"prompt_key": f"x{i}", "num_tokens": v} for i, v in enumerate([10, 20, 30, 40, 25])]
    rows_b = [{"prompt_key": f"y{i}", "num_tokens": v} for i, v in enumerate([50, 60, 70, 80, 65, None])]
    m = compare_metric(rows_a, rows_b, "num_tokens", n_boot=500)
    assert m["a"]["mean"] == 25 and m["b"]["mean"] == 65 and m["b"]["responses"] == 5 and m["diff"] == 40
    assert m["p_value"] == pytest.approx(2 / 252)  # exact Mann-Whitney, complete separation of 5 vs 5: 2 / C(10, 5)
    assert "independent" in m["pairing"] and m["diff_ci95"][0] < 40 < m["diff_ci95"][1]


def test_compare_cli(tmp_path, fake_scorer, capsys):
    ra, rb = make_runs(tmp_path, n_prompts=5)
    code, out, err = run_cli(["analyze", "compare", str(ra), str(rb), "--out", str(tmp_path / "c.html"), "--labels", "A,B"], capsys)
    assert code == 0, err
    assert "pivotal/1k" in out and "reflective/1k" in out and (tmp_path / "c.html").exists()
    code, _, err = run_cli(["analyze", "compare", str(ra), str(tmp_path / "missing"), "--out", str(tmp_path / "d.html")], capsys)
    assert code == 2 and "not a folder" in err and len(err.strip().splitlines()) == 1


def test_compare_metric_too_few_prompts_gives_no_ci():
    rows = [{"prompt_key": "p0", "num_tokens": 10}, {"prompt_key": "p1", "num_tokens": 30}]
    m = compare_metric(rows, rows, "num_tokens", n_boot=100)
    assert m["a"]["ci95"] is None and m["diff_ci95"] is None and m["diff"] == 0
