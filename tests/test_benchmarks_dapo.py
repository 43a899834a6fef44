"""`--data dapo17k`: DAPO-Math-17k (the paper's training set) read through `datasets`, each problem
once and taken out of DAPO's prompt; a local copy of the same layout loads the same way. Tested
on a small parquet written here in the hub's layout (no hub on our machines)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from entropykit import benchmarks
from entropykit.benchmarks import load_benchmark, load_problems
from entropykit.errors import UserError
from entropykit.prompts import render_prompt

PROBLEMS = [  # (problem, answer); DAPO's answers are integers
    ("Find the number of ordered pairs $(a,b)$ of positive integers with $a+b=10$.", "9"),
    ("What is the remainder when $2^{10}$ is divided by $7$?", "2"),
    ("Let $f(x)=x^2+1$. Compute $f(f(1))$.", "5"),
]


def _dapo_parquet(path, repeats=3):
    """Rows as the hub stores them: each problem repeated, a fresh uuid-like index per row."""
    rows = []
    for r in range(repeats):
        for i, (problem, answer) in enumerate(PROBLEMS):
            rows.append({
                "data_source": "math_dapo",
                "prompt": [{"content": render_prompt("dapo", problem), "role": "user"}],
                "ability": "MATH",
                "reward_model": {"ground_truth": answer, "style": "rule-lighteval/MATH_v2"},
                "extra_info": {"index": f"row-{r}-{i}"},
            })
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_local_copy_is_deduplicated_and_unwrapped(tmp_path):
    bench = load_benchmark(str(_dapo_parquet(tmp_path / "dapo-math-17k.parquet")))
    assert [(p.problem, p.answer) for p in bench] == PROBLEMS  # each once, in first-seen order, prompt removed
    assert [p.id for p in bench] == ["row-0-0", "row-0-1", "row-0-2"]


def test_registered_name_goes_through_datasets(tmp_path, monkeypatch):
    import datasets

    path = _dapo_parquet(tmp_path / "train.parquet", repeats=5)
    seen, real_load_dataset = {}, datasets.load_dataset

    def load_dataset(name, config=None, split=None):  # the hub is unreachable here: serve the same layout locally
        seen["args"] = (name, config, split)
        return real_load_dataset("parquet", data_files=str(path), split="train")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    monkeypatch.setattr("entropykit.models.hub_reachable", lambda **kw: True)
    problems = load_problems("dapo17k")
    assert seen["args"] == ("BytedTsinghua-SIA/DAPO-Math-17k", None, "train")
    assert [(p["problem"], p["answer"]) for p in problems] == PROBLEMS
    assert {p["benchmark"] for p in problems} == {"dapo17k"}
    assert load_problems("dapo-math-17k") == problems  # alias


def test_a_message_in_another_template_is_kept_and_bad_rows_refused(tmp_path):
    rows = benchmarks.dapo_rows([
        {"prompt": [{"role": "user", "content": render_prompt("math", "What is 1+1?")}], "reward_model": {"ground_truth": "2"}},
        {"prompt": [{"role": "user", "content": "A question written freely"}], "reward_model": {"ground_truth": 3}},
    ])
    assert [(r["problem"], r["answer"], r["id"]) for r in rows] == [("What is 1+1?", "2", "0"), ("A question written freely", "3", "1")]
    with pytest.raises(UserError, match="row 1"):
        benchmarks.dapo_rows([{"prompt": "plain text", "reward_model": {"ground_truth": "1"}}])
