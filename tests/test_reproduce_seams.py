"""The seams the experiment composes (issue 14): each failed, or was untested, before
`entropykit reproduce` put the tools in one pipeline.

- the trainer's periodic evaluation draws exactly the samples `passk` draws (prompts, sample
  seeds, sampling settings) and grades them with the same grader;
- `passk compare` pairs two runs by problem only when their samples were drawn with the same
  seeds and settings;
- an exported policy loads by path in `passk`, `score` and `analyze`, and samples name the
  model that wrote them, so `analyze` scores them with it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import toy_config, write_toy_data

from entropykit.io import atomic_write_jsonl
from entropykit.sampling import PAPER_EVAL_TEMPERATURE, PAPER_EVAL_TOP_P, Completion, backend_info


class RecordingGenerator:
    """Records every (prompt, seed, temperature, top_p, max_tokens) it is asked for; each
    answer says "The answer is 7." (right for the toy problems)."""

    info = backend_info("hf")  # the Generator protocol: what callers ask of a backend
    batch_size = 16

    def check_fits(self, prompts, max_tokens, name):
        pass
    tokenizer = None

    def __init__(self):
        self.asked: list[tuple] = []

    def _comp(self, seed: int) -> Completion:
        return Completion(text="The answer is 7.", token_ids=[1, 2, 3], finish_reason="stop", seed=seed)

    def stream(self, prompts, sampling, seeds):
        for i, (p, ss) in enumerate(zip(prompts, seeds)):
            for j, s in enumerate(ss):
                self.asked.append((p, s, sampling.temperature, sampling.top_p, sampling.max_tokens))
                yield i, j, self._comp(s)

    def stream_chunks(self, chunks, sampling):
        from entropykit.generation import chunks_one_by_one

        return chunks_one_by_one(self, chunks, sampling)

    def generate(self, prompts, sampling, seeds=None, progress=None):
        out = [[] for _ in prompts]
        for i, _, c in self.stream(prompts, sampling, seeds):
            out[i].append(c)
        return out

    def sync_weights(self, named=None, folder=None) -> None:
        pass

    def close(self) -> None:
        pass


def test_trainer_evaluation_draws_and_grades_the_samples_passk_draws(tmp_path):
    from entropykit.benchmarks import load_problems
    from entropykit.evalkit.config import PasskConfig
    from entropykit.evalkit.runner import run_passk
    from entropykit.train.data import MathReward
    from entropykit.train.loop import evaluate

    data = write_toy_data(tmp_path / "toy.jsonl")
    cfg = toy_config("unused", data, tmp_path / "run", prompt_template="math", max_tokens=48, eval_n=4, seed=3,
                     eval_every=1, eval_data=data)
    trainer_gen = RecordingGenerator()
    reward = MathReward(workers=0)
    try:
        metrics = evaluate(trainer_gen, cfg, load_problems(data), reward)
    finally:
        reward.close()

    passk_gen = RecordingGenerator()
    summary = run_passk(PasskConfig(model="unused", benchmarks=[data], out=str(tmp_path / "passk"), n=4, seed=3,
                                    max_tokens=48, backend="hf", workers=0, chat=False, html=False, quiet=True),
                        generator=passk_gen)
    assert sorted(trainer_gen.asked) == sorted(passk_gen.asked)  # prompts, seeds and settings alike
    assert {a[2:] for a in passk_gen.asked} == {(PAPER_EVAL_TEMPERATURE, PAPER_EVAL_TOP_P, 48)}
    (bench,) = summary["benchmarks"].values()
    assert metrics["eval_accuracy"] == bench["mean_accuracy"] == 1.0  # the same grader says the same
    assert metrics["eval_pass@4"] == bench["pass_at_k"]["4"]


def _fake_passk_run(folder: Path, *, seed: int, correct: list[int], n: int = 4, template: str = "{problem}",
                    prompt: str = "Q{i}") -> tuple[Path, dict]:
    from entropykit.evalkit.report import score_records, write_outputs

    records = [{"benchmark": "b", "problem_id": str(i), "sample_idx": j, "prompt": prompt.format(i=i), "response": "1", "answer": "1",
                "correct": j < c} for i, c in enumerate(correct) for j in range(n)]
    summary, problems = score_records(records, [1, 2, 4])
    summary.update(model=folder.name, sampling={"seed": seed, "prompt_template": template, "chat": None,
                                                "temperature": 0.6, "top_p": 0.95, "max_tokens": 64, "grader": "entropykit"})
    folder.mkdir()
    write_outputs(folder, summary, problems, html=False)
    atomic_write_jsonl(folder / "samples.jsonl", records)
    return folder, summary


def test_templates_in_two_notations_pair_when_they_rendered_the_same_prompts(tmp_path):
    """A run made before entropykit.prompts recorded its template with doubled braces; the same
    prompts, so its samples pair with a run made after. Other prompts do not pair."""
    from entropykit.evalkit.report import paired_runs

    old = _fake_passk_run(tmp_path / "old", seed=0, correct=[0, 1, 2, 0], template="{problem} \\boxed{{}}.",
                          prompt="Q{i} \\boxed{{}}.")
    new = _fake_passk_run(tmp_path / "new", seed=0, correct=[1, 1, 3, 0], template="{problem} \\boxed{}.",
                          prompt="Q{i} \\boxed{{}}.")
    other = _fake_passk_run(tmp_path / "other", seed=0, correct=[1, 1, 3, 0], template="Solve: {problem}",
                            prompt="Solve: Q{i}")
    assert paired_runs(old, new, "b", [1, 4])["problems"] == 4
    assert paired_runs(old, other, "b", [1, 4]) is None


def test_passk_runs_are_paired_by_problem_only_with_the_same_seeds(tmp_path):
    from entropykit.evalkit.report import compare_runs, paired_runs

    base = _fake_passk_run(tmp_path / "base", seed=0, correct=[0, 1, 2, 0, 4, 1])
    rl = _fake_passk_run(tmp_path / "rl", seed=0, correct=[1, 1, 3, 0, 4, 2])
    other_seed = _fake_passk_run(tmp_path / "other", seed=1, correct=[1, 1, 3, 0, 4, 2])
    p = paired_runs(base, rl, "b", [1, 4])
    assert p["problems"] == 6
    # mean accuracy: per-problem differences (1, 0, 1, 0, 0, 1) / 4 samples
    assert p["mean_accuracy"]["diff"] == pytest.approx(3 / 4 / 6)
    assert p["pass_at_k"]["1"]["diff"] == pytest.approx(p["mean_accuracy"]["diff"])
    assert paired_runs(base, other_seed, "b", [1, 4]) is None  # other sample seeds: not paired

    report = compare_runs([str(base[0]), str(rl[0]), str(other_seed[0])], str(tmp_path / "cmp.html"))
    paired = report["benchmarks"]["b"]["paired"]
    assert [(x["a"], x["b"]) for x in paired] == [("base", "rl")]  # the seed-1 run is left unpaired
    assert "paired differences" in (tmp_path / "cmp.html").read_text()


@pytest.mark.slow
def test_exported_policy_loads_by_path_and_analyze_scores_with_the_model_named_in_the_samples(tmp_path, tiny_model_dir):
    from entropykit.analysis import run_analysis
    from entropykit.analysis.config import AnalyzeConfig
    from entropykit.scoring import score_file
    from entropykit.scoring_config import ScoreConfig
    from entropykit.evalkit.config import PasskConfig
    from entropykit.evalkit.runner import run_passk
    from entropykit.train.checkpoint import export_policy
    from entropykit.train.loop import train

    data = write_toy_data(tmp_path / "toy.jsonl")
    run = train(toy_config(tiny_model_dir, data, tmp_path / "run", steps=1, prompts_per_step=2, n_samples=2,
                           mini_batch_size=4, max_tokens=8, save_every=1, lr=1e-3))
    policy = export_policy(run, tmp_path / "policy")

    summary = run_passk(PasskConfig(model=str(policy), benchmarks=[data], out=str(tmp_path / "passk"), n=2, limit=3,
                                    max_tokens=12, backend="hf", workers=0, html=False, quiet=True))
    assert summary["model"] == str(policy)
    samples = [json.loads(x) for x in open(tmp_path / "passk" / "samples.jsonl")]
    assert {s["model"] for s in samples} == {str(policy)} and "entropies" not in samples[0]

    # analyze finds no per-token arrays, so it scores the samples itself, with the model they name
    res = run_analysis(AnalyzeConfig(outputs=str(tmp_path / "passk" / "samples.jsonl"), out=str(tmp_path / "an"), report=False))
    assert res["model"] == str(policy) and res["cache"]["scored"] == len(samples)

    # score by path: the teacher-forced entropies equal those analyze computed with the same model
    atomic_write_jsonl(tmp_path / "recs.jsonl", [{"prompt": s["prompt"], "response": s["response"]} for s in samples])
    out = score_file(ScoreConfig(str(tmp_path / "recs.jsonl"), str(tmp_path / "scored.jsonl"), model=str(policy), progress=False))
    assert out["num_responses"] == len(samples)
