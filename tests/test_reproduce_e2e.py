"""`entropykit reproduce` end to end: the smoke preset on the embedded model, and kill -9 in
every kind of stage (and, with --seeds 2, in the second seed's train and passk stages) followed
by reruns, which must end in the same summary.json as an uninterrupted run.

Run folders hold training checkpoints (gigabytes for the 135M model): each test removes its
own when it is done.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import pytest

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "entropykit.cli.app", "reproduce"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "COLUMNS": "200"}


def _run(args: list[str], timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + args, capture_output=True, text=True, timeout=timeout, env=ENV)


def _stages(out: Path) -> dict:
    try:
        return json.loads((out / "stages.json").read_text(encoding="utf-8"))["stages"]
    except (OSError, ValueError, KeyError):
        return {}


@pytest.fixture()
def run_dir(tmp_path):
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_smoke_preset_every_stage_and_a_rerun_that_redoes_nothing(run_dir):
    out = run_dir / "smoke"
    r = _run(["--preset", "smoke", "--out", str(out)])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    cfg = json.loads((out / "reproduce.json").read_text())
    variants = cfg["variants"]
    assert len(variants) >= 4

    stages = _stages(out)
    assert stages and all(s.get("finished") and s["attempts"] == 1 for s in stages.values())
    assert {f"train {v}" for v in variants} | {f"passk {v}" for v in variants} | {"passk base"} <= set(stages)
    for name in ["base", *variants]:  # every model: sampled, graded, analysed
        passk = json.loads((out / name / "passk" / "summary.json").read_text())
        (bench, b), = passk["benchmarks"].items()
        assert bench == "arith-eval" and b["num_problems"] == cfg["eval_problems"] and b["n"] == cfg["k"]
        samples = [json.loads(x) for x in open(out / name / "passk" / "samples.jsonl")]
        assert len(samples) == cfg["eval_problems"] * cfg["k"] and all("entropies" in s for s in samples)
        analysis = json.loads((out / name / "analysis" / "summary.json").read_text())
        assert analysis["num_responses"] == len(samples) and (out / name / "analysis" / "report.html").exists()
        assert ("rare" in analysis) == (name != "base")  # rare behaviors: against the base model's samples
    base_seeds = {(s["problem_id"], s["sample_idx"]): s["seed"] for s in map(json.loads, open(out / "base/passk/samples.jsonl"))}
    for v in variants:
        metrics = [json.loads(x) for x in open(out / v / "train" / "metrics.jsonl")]
        assert [m["step"] for m in metrics] == list(range(1, cfg["steps"] + 1))
        assert (out / v / "policy" / "config.json").exists()
        samples = list(map(json.loads, open(out / v / "passk" / "samples.jsonl")))
        assert all(s["model"] == str(out / v / "policy") for s in samples)  # named by the model that wrote them
        assert {(s["problem_id"], s["sample_idx"]): s["seed"] for s in samples} == base_seeds  # paired with the base
    for f in ("passk-compare.html", "passk-compare.json", "train-report.html", "analyze-base-vs-grpo.html",
              "analyze-grpo-vs-grpo-ent.html"):
        assert (out / "reports" / f).stat().st_size > 0, f

    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["models"]) == ["base", *variants]
    assert summary["models"]["grpo"]["model"] == "grpo/policy"  # relative: the folder can move
    labels = [d["label"] for d in summary["deltas"]]
    assert "GRPO + entropy adv. - GRPO" in labels and "GRPO + entropy adv. - GRPO + entropy reg." in labels
    for d in summary["deltas"]:
        assert d["problems"] == cfg["eval_problems"] and d["pairing"].startswith("paired by problem and sample seed")
        for x in [d["mean_accuracy"], *d["pass_at_k"].values()]:
            assert x["ci95"] is not None and x["ci95"][0] <= x["diff"] <= x["ci95"][1]
    assert "paired differences" in summary["verdict"]
    page = (out / "index.html").read_text()
    assert "Table 2/3" in page and page.count("<tr class='delta'>") == len(summary["deltas"])
    assert "<script" not in page and "http" not in page  # offline, nothing to fetch

    before = (out / "summary.json").read_bytes(), stages
    r2 = _run(["--preset", "smoke", "--out", str(out)])
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert (r2.stdout + r2.stderr).count("skipped") == len(stages)  # one line per stage, nothing redone
    assert (out / "summary.json").read_bytes() == before[0] and _stages(out) == before[1]

    r3 = _run(["--preset", "smoke", "--out", str(out), "--steps", "2"])  # other settings: refused, one line
    assert r3.returncode == 2 and "other settings" in r3.stderr and "Traceback" not in r3.stderr


def _kind(stage: str) -> str:
    return stage.split(":")[0].split()[0]


def _running(out: Path) -> str | None:
    """The stage under way: the first one stages.json records as started and not finished (a stage
    killed earlier stays so until a rerun finishes it)."""
    return next((n for n, s in _stages(out).items() if not s.get("finished")), None)


def _run_and_kill_9(args: list[str], out: Path, wanted: Callable[[str], bool], seconds: dict) -> tuple[bool, str | None]:
    """Start `reproduce ARGS --out OUT`; once a stage that `wanted` accepts is running, let it run for
    half its uninterrupted duration (`seconds`), then kill -9 the process group (the CLI and its
    verifier workers). Returns (killed, the stage that was running when the kill landed: under load
    the chosen one may have finished meanwhile); (False, None) when the command finished first, which
    it must do without error."""
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: nothing blocks on a full buffer
        proc = subprocess.Popen(CLI + args + ["--out", str(out)], stdout=subprocess.DEVNULL, stderr=err, env=ENV,
                                start_new_session=True)
        target = None
        while proc.poll() is None and target is None:
            running = _running(out)
            if running and wanted(running):
                target = running
            else:
                time.sleep(0.02)
        if target is not None:
            time.sleep(0.5 * seconds[target])
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True, _running(out)
        err.seek(0)
        assert proc.returncode == 0, err.read().decode(errors="replace")[-3000:]
        return False, None


def _reference_run(args: list[str], run_dir) -> tuple:
    """The uninterrupted run the killed one must equal: its folder and each stage's seconds."""
    ref = run_dir / "ref"
    r = _run(args + ["--out", str(ref)])
    assert r.returncode == 0, r.stderr[-3000:]
    return ref, {k: v["seconds"] for k, v in _stages(ref).items()}


def test_kill_9_in_every_kind_of_stage_then_rerun_gives_the_same_summary(run_dir, tiny_model_dir):
    """A tiny random model keeps each stage short; 2 steps so that training can be killed after
    its first checkpoint. Each kind of stage (data, passk, train, export, analyze, reports,
    table) is killed once, halfway through its uninterrupted duration, then the same command
    is rerun until it finishes."""
    args = ["--preset", "smoke", "--model", str(tiny_model_dir), "--variants", "grpo,grpo-ent,ppo-ent", "--steps", "2",
            "--critic-warmup", "1"]
    ref, seconds = _reference_run(args, run_dir)

    out = run_dir / "killed"
    killed: list[str] = []
    for _ in range(20):
        was_killed, stage = _run_and_kill_9(args, out, lambda n: _kind(n) not in {_kind(k) for k in killed}, seconds)
        if not was_killed:  # finished without a stage left to kill
            break
        if stage:
            killed.append(stage)
    assert {_kind(k) for k in killed} >= {"passk", "train", "analyze"}, killed
    r = _run(args + ["--out", str(out)])
    assert r.returncode == 0, r.stderr[-3000:]
    stages = _stages(out)
    assert all(stages[k]["attempts"] >= 2 for k in killed)
    assert (out / "summary.json").read_bytes() == (ref / "summary.json").read_bytes()


# what legitimately differs between two runs of the same command: wall times
TIMING_METRICS = ("tokens_per_s", "time_rollout", "time_scoring", "time_update", "time_step")


def _summary_without_timing(out: Path) -> dict:
    """summary.json less what is priced from this run's stage times (stages.json): the across-seeds
    costs and each pair's "next hour" of compute. Everything else is a function of the samples."""
    s = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    across = s["across_seeds"]
    assert across.pop("costs")["seconds_per_training_seed"] is not None
    for pair in across["pairs"]:
        pair["power"].pop("next_hour", None)
    return s


def _passk_records(out: Path, name: str) -> dict:
    """A run's passk outputs (every sample record, the per-problem records, the summary), with the
    run folder's own path (in each record's "model") written as <out>."""
    d = out / name / "passk"
    return {f: (d / f).read_text(encoding="utf-8").replace(str(out), "<out>") for f in ("samples.jsonl", "problems.jsonl", "summary.json")}


def _train_metrics(out: Path, name: str) -> list[dict]:
    return [{k: v for k, v in m.items() if k not in TIMING_METRICS}
            for m in map(json.loads, open(out / name / "train" / "metrics.jsonl", encoding="utf-8"))]


def test_kill_9_in_a_second_seeds_train_and_passk_then_rerun_gives_the_same_results(run_dir, tiny_model_dir):
    """`reproduce --seeds 2` (issue 25), two variants on the tiny random model: kill -9 halfway
    through a train stage of seed index 1 and, in the rerun, halfway through a passk stage of seed
    index 1; the same command run to the end then gives the summary (across seeds included), every
    run's passk records and training metrics of an uninterrupted run, less wall times.

    The random model never answers right, so every GRPO advantage is 0 and a GRPO policy does not
    move; entropy regularization's gradient moves it (a policy of its own per seed, which the
    passk records then check), and it comes first so that its seed-1 stages are the ones killed.
    With grpo-ent the summary holds a method-vs-method pair (the two-level bootstrap)."""
    args = ["--preset", "smoke", "--model", str(tiny_model_dir), "--variants", "grpo-entreg,grpo-ent", "--steps", "2",
            "--seeds", "2"]
    ref, seconds = _reference_run(args, run_dir)
    runs = ["grpo-entreg", "grpo-ent", "grpo-entreg-seed1", "grpo-ent-seed1"]
    logprobs = {n: [r["logprobs"] for r in map(json.loads, open(ref / n / "passk" / "samples.jsonl"))]
                for n in ("base", "grpo-entreg", "grpo-entreg-seed1")}
    assert logprobs["grpo-entreg-seed1"] != logprobs["grpo-entreg"] != logprobs["base"]  # trained, each seed its own policy
    assert {f"train {n}" for n in runs} | {f"passk {n}" for n in runs} <= set(seconds)

    out = run_dir / "killed"
    killed: list[str] = []

    def wanted(stage: str) -> bool:  # a seed-1 train or passk stage, of a kind not killed yet
        return stage.endswith("-seed1") and _kind(stage) in {"train", "passk"} - {_kind(k) for k in killed}

    for _ in range(6):
        was_killed, stage = _run_and_kill_9(args, out, wanted, seconds)
        if not was_killed:
            break
        if stage:
            killed.append(stage)
        if {_kind(k) for k in killed if k.endswith("-seed1")} >= {"train", "passk"}:
            break
    assert {_kind(k) for k in killed if k.endswith("-seed1")} >= {"train", "passk"}, killed
    r = _run(args + ["--out", str(out)])
    assert r.returncode == 0, r.stderr[-3000:]
    stages = _stages(out)
    assert set(stages) == set(seconds) and all(s.get("finished") for s in stages.values())
    assert all(stages[k]["attempts"] >= 2 for k in killed)

    assert _summary_without_timing(out) == _summary_without_timing(ref)
    for name in ["base", *runs]:
        assert _passk_records(out, name) == _passk_records(ref, name), name
    for name in runs:
        assert _train_metrics(out, name) == _train_metrics(ref, name), name
