"""`reproduce --seeds N` (issue 25): the run layout, extending by seeds, and the across-seeds table
computed from the runs' own passk outputs (hand-made here; the statistics themselves are tested
in tests/test_seed_stats.py, by exact cases and simulation)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import passk_run
from entropykit.errors import UserError
from entropykit.reproduce.config import ReproduceConfig
from entropykit.reproduce.layout import Layout, run_name, runs
from entropykit.reproduce.stages import build_stages, train_config


def _cfg(tmp_path, **kw) -> ReproduceConfig:
    return ReproduceConfig(out=str(tmp_path), preset="smoke", variants=["grpo", "grpo-ent"], **kw).resolve()


def test_runs_seed_by_seed_and_their_training_seeds(tmp_path):
    cfg = _cfg(tmp_path, seeds=3, seed=7)
    assert [n for _, _, n in runs(cfg)] == ["grpo", "grpo-ent", "grpo-seed1", "grpo-ent-seed1", "grpo-seed2", "grpo-ent-seed2"]
    lay = Layout(tmp_path)
    assert [train_config(cfg, lay, "grpo-ent", i).seed for i in range(3)] == [7, 8, 9]
    assert train_config(cfg, lay, "grpo-ent", 2).out == str(tmp_path / "grpo-ent-seed2" / "train")
    names = [s.name for s in build_stages(cfg, lay, print)]
    assert "train grpo-seed2" in names and "passk grpo-ent-seed1" in names and "analyze grpo-seed1" in names
    # one seed: the stages of before --seeds existed
    one = [s.name for s in build_stages(_cfg(tmp_path), lay, print)]
    assert not any("seed" in n for n in one)


def test_seeds_extend_a_finished_experiment_and_never_shrink(tmp_path):
    path = tmp_path / "reproduce.json"
    assert _cfg(tmp_path).check_against(path) == []
    assert "seeds" not in json.loads(path.read_text())  # --seeds 1 writes the settings as before
    added = _cfg(tmp_path, seeds=3).check_against(path)
    assert added and all("seeds 1..2" in a for a in added)
    assert json.loads(path.read_text())["seeds"] == 3
    with pytest.raises(UserError, match="seeds"):
        _cfg(tmp_path, seeds=2).check_against(path)
    assert _cfg(tmp_path, seeds=3).check_against(path) == []


def _problems(lay: Layout, name: str, acc: list[float], n: int = 4) -> None:
    passk_run(lay.passk(name), acc, n=n, bench="arith")


def test_across_seeds_summary_from_the_runs(tmp_path):
    from entropykit.reproduce.seeds import seed_summary

    cfg = _cfg(tmp_path, seeds=2)
    lay = Layout(tmp_path)
    _problems(lay, "base", [0.0, 0.25, 0.5])
    grid = {"grpo": [[0.25, 0.5, 0.5], [0.0, 0.5, 0.75]], "grpo-ent": [[0.5, 0.5, 1.0], [0.25, 0.75, 0.75]]}
    for v, rows in grid.items():
        for i, row in enumerate(rows):
            _problems(lay, run_name(v, i), row)
    s = seed_summary(cfg, lay, n_resamples=500)
    assert s["methods"]["grpo"]["seeds"] == pytest.approx([1.25 / 3, 1.25 / 3])
    pairs = {(p["a"], p["b"]): p for p in s["pairs"]}
    d = pairs[("grpo", "grpo-ent")]
    assert d["diff"] == pytest.approx(np.mean(grid["grpo-ent"]) - np.mean(grid["grpo"]))  # 3.75/6 - 2.5/6
    assert d["bootstrap_ci95"][0] <= d["diff"] <= d["bootstrap_ci95"][1]
    assert d["t_ci95"][0] <= d["diff"] <= d["t_ci95"][1]
    assert 0 <= d["probability_of_improvement"]["estimate"] <= 1
    assert d["power"]["mde_80"] > 0 and set(d["power"]["to_detect_delta"]) == {"seeds", "problems", "samples"}
    assert pairs[("base", "grpo")]["seeds"] == {"a": 1, "b": 2}
    json.dumps(s, allow_nan=False)  # summary.json takes it as it is
    assert s["seeds"] == 2 and s["seeds_per_method"] == {"grpo": 2, "grpo-ent": 2}
    assert s["training_seeds"] == {"grpo": [0, 1], "grpo-ent": [0, 1]}


def test_the_page_says_each_methods_seeds_when_they_differ(tmp_path):
    """A partly finished experiment (`reproduce power`'s `runs`): GRPO has seeds 0 and 2 evaluated,
    GRPO + ent seed 0 only; the summary and the page say so per method, not "across 3 seeds"."""
    from entropykit.reproduce.seeds import seed_summary, seeds_html

    cfg = _cfg(tmp_path, seeds=3, seed=5)
    lay = Layout(tmp_path)
    _problems(lay, "base", [0.0, 0.25, 0.5])
    for name, row in (("grpo", [0.25, 0.5, 0.5]), ("grpo-seed2", [0.0, 0.5, 0.75]), ("grpo-ent", [0.5, 0.5, 1.0])):
        _problems(lay, name, row)
    s = seed_summary(cfg, lay, n_resamples=200, runs={"grpo": ["grpo", "grpo-seed2"], "grpo-ent": ["grpo-ent"]})
    assert s["seeds"] is None and s["seeds_per_method"] == {"grpo": 2, "grpo-ent": 1}
    assert s["training_seeds"] == {"grpo": [5, 7], "grpo-ent": [5]}
    page = seeds_html(s)
    assert "Across training seeds (GRPO 2, GRPO + entropy adv. 1)" in page
    assert "GRPO trained with seeds 5, 7; GRPO + entropy adv. trained with seed 5" in page
    assert "has one training seed" in page  # why the t intervals of its pairs are empty
    json.dumps(s, allow_nan=False)
