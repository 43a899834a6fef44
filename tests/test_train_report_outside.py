"""`entropykit train report` on training logs entropykit did not write (issue 23, item 4): veRL's
file logger (also RUN/verl/metrics.jsonl of `train --engine verl`) and TRL's trainer_state.json,
through the CLI, each page checked for its charts (subplot titles, trace names and values), not
only for exit 0.

Fixtures: tests/data/outside/ (written by veRL's and TRL's own code, scripts/make_outside_fixtures/)
where present; and VERL_FILE_LOGGER_LINES below, written by veRL 0.9.1's own
`verl.utils.tracking.FileLogger` (verl-0.9.1-py3-none-any.whl, verl/utils/tracking.py, class
FileLogger: `orjson.dumps({"step": step, "data": data}, option=OPT_SERIALIZE_NUMPY) + b"\\n"`)
from the metrics of VERL_STEPS_SRC, the names RayPPOTrainer.fit() of 0.9.1 logs
(verl/trainer/ppo/ray_trainer.py, metric_utils.py, core_algos.py) plus entropykit's plugin's;
`test_verl_fixture_is_verl_own_output` rewrites it with .venv-verl's veRL where that exists.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli
from entropykit.io import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
OUTSIDE = ROOT / "tests" / "data" / "outside"

# The metrics veRL 0.9.1's RayPPOTrainer.fit() hands `logger.log(data=metrics, step=...)` in a 3-step
# GRPO run with entropykit's plugin and a validation before training (step 0) and at the end.
VERL_STEPS_SRC = '''
def verl_steps():
    val = lambda a: {"val-core/entropykit/math500/acc/mean@4": a, "val-aux/entropykit/math500/reward/mean@4": 2 * a - 1,
                     "val-aux/entropykit/math500/score/mean@4": 2 * a - 1, "val-aux/entropykit/math500/acc/std@4": 0.25}
    out = [(0, val(0.25))]
    for s in (1, 2, 3):
        m = {"training/global_step": s, "training/epoch": 0,
             "critic/score/mean": -0.5 + 0.25 * s, "critic/score/max": 1.0, "critic/score/min": -1.0,
             "critic/rewards/mean": -0.5 + 0.25 * s, "critic/rewards/max": 1.0, "critic/rewards/min": -1.0,
             "critic/advantages/mean": 0.0, "critic/advantages/max": 1.5, "critic/advantages/min": -1.5,
             "critic/returns/mean": 0.0, "critic/returns/max": 1.5, "critic/returns/min": -1.5,
             "response_length/mean": 300.0 - 20 * s, "response_length/max": 512.0, "response_length/min": 40.0,
             "response_length/clip_ratio": 0.125, "prompt_length/mean": 90.0, "prompt_length/max": 120.0,
             "prompt_length/min": 60.0, "prompt_length/clip_ratio": 0.0,
             "actor/entropy": 0.9 - 0.1 * s, "actor/entropy_loss": 0.88 - 0.1 * s, "actor/pg_loss": -0.01 * s,
             "actor/pg_clipfrac": 0.002 * s, "actor/ppo_kl": 0.0001 * s, "actor/pg_clipfrac_lower": 0.0,
             "actor/entropy_adv_psi": 0.3 - 0.02 * s, "actor/entropy_adv_psi_ratio": 0.35 - 0.03 * s,
             "actor/grad_norm": 0.5 + 0.1 * s, "actor/lr": 1e-6, "perf/mfu/actor": 0.3, "perf/mfu/actor_infer": 0.2,
             "perf/max_memory_allocated_gb": 40.5, "perf/total_num_tokens": 12345, "perf/time_per_step": 60.0 + s,
             "perf/throughput": 1500.0, "timing_s/gen": 30.0 + s, "timing_s/reward": 2.0, "timing_s/old_log_prob": 5.0,
             "timing_s/adv": 0.1, "timing_s/update_actor": 20.0, "timing_s/step": 60.0 + s,
             "timing_per_token_ms/gen": 0.05, "timing_per_token_ms/update_actor": 0.02}
        if s == 3:
            m.update(val(0.5))
        out.append((s, m))
    return out
'''

VERL_FILE_LOGGER_LINES = (
    '{"step":0,"data":{"val-core/entropykit/math500/acc/mean@4":0.25,"val-aux/entropykit/math500/reward/mean@'
    '4":-0.5,"val-aux/entropykit/math500/score/mean@4":-0.5,"val-aux/entropykit/math500/acc/std@4":0.25}}',
    '{"step":1,"data":{"training/global_step":1,"training/epoch":0,"critic/score/mean":-0.25,"critic/score/ma'
    'x":1.0,"critic/score/min":-1.0,"critic/rewards/mean":-0.25,"critic/rewards/max":1.0,"critic/rewards/min"'
    ':-1.0,"critic/advantages/mean":0.0,"critic/advantages/max":1.5,"critic/advantages/min":-1.5,"critic/retu'
    'rns/mean":0.0,"critic/returns/max":1.5,"critic/returns/min":-1.5,"response_length/mean":280.0,"response_'
    'length/max":512.0,"response_length/min":40.0,"response_length/clip_ratio":0.125,"prompt_length/mean":90.'
    '0,"prompt_length/max":120.0,"prompt_length/min":60.0,"prompt_length/clip_ratio":0.0,"actor/entropy":0.8,'
    '"actor/entropy_loss":0.78,"actor/pg_loss":-0.01,"actor/pg_clipfrac":0.002,"actor/ppo_kl":0.0001,"actor/p'
    'g_clipfrac_lower":0.0,"actor/entropy_adv_psi":0.27999999999999997,"actor/entropy_adv_psi_ratio":0.319999'
    '99999999995,"actor/grad_norm":0.6,"actor/lr":1e-6,"perf/mfu/actor":0.3,"perf/mfu/actor_infer":0.2,"perf/'
    'max_memory_allocated_gb":40.5,"perf/total_num_tokens":12345,"perf/time_per_step":61.0,"perf/throughput":'
    '1500.0,"timing_s/gen":31.0,"timing_s/reward":2.0,"timing_s/old_log_prob":5.0,"timing_s/adv":0.1,"timing_'
    's/update_actor":20.0,"timing_s/step":61.0,"timing_per_token_ms/gen":0.05,"timing_per_token_ms/update_act'
    'or":0.02}}',
    '{"step":2,"data":{"training/global_step":2,"training/epoch":0,"critic/score/mean":0.0,"critic/score/max"'
    ':1.0,"critic/score/min":-1.0,"critic/rewards/mean":0.0,"critic/rewards/max":1.0,"critic/rewards/min":-1.'
    '0,"critic/advantages/mean":0.0,"critic/advantages/max":1.5,"critic/advantages/min":-1.5,"critic/returns/'
    'mean":0.0,"critic/returns/max":1.5,"critic/returns/min":-1.5,"response_length/mean":260.0,"response_leng'
    'th/max":512.0,"response_length/min":40.0,"response_length/clip_ratio":0.125,"prompt_length/mean":90.0,"p'
    'rompt_length/max":120.0,"prompt_length/min":60.0,"prompt_length/clip_ratio":0.0,"actor/entropy":0.7,"act'
    'or/entropy_loss":0.6799999999999999,"actor/pg_loss":-0.02,"actor/pg_clipfrac":0.004,"actor/ppo_kl":0.000'
    '2,"actor/pg_clipfrac_lower":0.0,"actor/entropy_adv_psi":0.26,"actor/entropy_adv_psi_ratio":0.29,"actor/g'
    'rad_norm":0.7,"actor/lr":1e-6,"perf/mfu/actor":0.3,"perf/mfu/actor_infer":0.2,"perf/max_memory_allocated'
    '_gb":40.5,"perf/total_num_tokens":12345,"perf/time_per_step":62.0,"perf/throughput":1500.0,"timing_s/gen'
    '":32.0,"timing_s/reward":2.0,"timing_s/old_log_prob":5.0,"timing_s/adv":0.1,"timing_s/update_actor":20.0'
    ',"timing_s/step":62.0,"timing_per_token_ms/gen":0.05,"timing_per_token_ms/update_actor":0.02}}',
    '{"step":3,"data":{"training/global_step":3,"training/epoch":0,"critic/score/mean":0.25,"critic/score/max'
    '":1.0,"critic/score/min":-1.0,"critic/rewards/mean":0.25,"critic/rewards/max":1.0,"critic/rewards/min":-'
    '1.0,"critic/advantages/mean":0.0,"critic/advantages/max":1.5,"critic/advantages/min":-1.5,"critic/return'
    's/mean":0.0,"critic/returns/max":1.5,"critic/returns/min":-1.5,"response_length/mean":240.0,"response_le'
    'ngth/max":512.0,"response_length/min":40.0,"response_length/clip_ratio":0.125,"prompt_length/mean":90.0,'
    '"prompt_length/max":120.0,"prompt_length/min":60.0,"prompt_length/clip_ratio":0.0,"actor/entropy":0.6,"a'
    'ctor/entropy_loss":0.58,"actor/pg_loss":-0.03,"actor/pg_clipfrac":0.006,"actor/ppo_kl":0.000300000000000'
    '00003,"actor/pg_clipfrac_lower":0.0,"actor/entropy_adv_psi":0.24,"actor/entropy_adv_psi_ratio":0.26,"act'
    'or/grad_norm":0.8,"actor/lr":1e-6,"perf/mfu/actor":0.3,"perf/mfu/actor_infer":0.2,"perf/max_memory_alloc'
    'ated_gb":40.5,"perf/total_num_tokens":12345,"perf/time_per_step":63.0,"perf/throughput":1500.0,"timing_s'
    '/gen":33.0,"timing_s/reward":2.0,"timing_s/old_log_prob":5.0,"timing_s/adv":0.1,"timing_s/update_actor":'
    '20.0,"timing_s/step":63.0,"timing_per_token_ms/gen":0.05,"timing_per_token_ms/update_actor":0.02,"val-co'
    're/entropykit/math500/acc/mean@4":0.5,"val-aux/entropykit/math500/reward/mean@4":0.0,"val-aux/entropykit'
    '/math500/score/mean@4":0.0,"val-aux/entropykit/math500/acc/std@4":0.25}}',
)


def verl_file(path: Path, lines=VERL_FILE_LOGGER_LINES) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def figure(page: Path) -> dict:
    """The dashboard's plotly figure as the page carries it."""
    m = re.search(r'<script type="application/json" class="ek-fig" data-div="ek-train">(.*?)</script>', page.read_text(), re.S)
    assert m, "no chart in the page"
    return json.loads(m.group(1).replace("<\\/", "</"))


def panels(fig: dict) -> dict[str, dict[str, list]]:
    """subplot title -> {trace name: [(step, value), ...]} (subplot j's axes are x{j+1}/y{j+1})."""
    titles = [a["text"] for a in fig["layout"]["annotations"]]
    out: dict[str, dict[str, list]] = {t: {} for t in titles}
    for tr in fig["data"]:
        j = int(tr.get("xaxis", "x")[1:] or 1) - 1
        out[titles[j]][tr["name"]] = list(zip(tr["x"], tr["y"]))
    return out


def sources(page: Path) -> list[tuple[str, str, str]]:
    """(run label, format, file read) rows of the page's table of runs."""
    table = re.search(r'<div id="sources">(.*?)</div>', page.read_text(), re.S).group(1)
    return re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>", table)


def report(capsys, *args) -> tuple[int, str]:
    capsys.readouterr()
    rc = run_cli("train", "report", *args)
    return rc, capsys.readouterr().err


def close(pts, expected):
    assert [s for s, _ in pts] == [s for s, _ in expected]
    assert all(abs(v - e) < 1e-9 for (_, v), (_, e) in zip(pts, expected)), pts


# ---- veRL


def test_verl_launch_folder_draws_entropy_psi_reward_clip_kl_and_heldout(tmp_path, capsys):
    """RUN/verl/metrics.jsonl of `entropykit train --engine verl` (its launch.json gives the label and the
    +1/-1 reward, so accuracy = (mean score + 1) / 2), given as the run folder."""
    run = tmp_path / "grpo-ent"
    verl_file(run / "verl" / "metrics.jsonl")
    atomic_write_json(run / "verl" / "launch.json", {"train_config": {"algo": "grpo", "entropy_adv": True, "reward": "math"}})
    page = tmp_path / "page.html"
    rc, err = report(capsys, run, "-o", page)
    assert rc == 0, err
    label = "grpo-ent (grpo + entropy adv) [veRL]"
    assert sources(page) == [(label, "veRL file logger", str(run / "verl" / "metrics.jsonl"))]
    p = panels(figure(page))
    steps = [1, 2, 3]
    close(p["mean token entropy (nats)"][label], [(s, 0.9 - 0.1 * s) for s in steps])
    close(p["entropy advantage psi/|A| (A != 0)"][label], [(s, 0.35 - 0.03 * s) for s in steps])
    close(p["mean psi (A != 0)"][label], [(s, 0.3 - 0.02 * s) for s in steps])
    close(p["mean reward"][label], [(s, -0.5 + 0.25 * s) for s in steps])
    close(p["accuracy"][label], [(s, (0.5 + 0.25 * s) / 2) for s in steps])
    close(p["response length (tokens)"][label], [(s, 300.0 - 20 * s) for s in steps])
    close(p["clip fraction, either side (low + high)"][label], [(s, 0.002 * s) for s in steps])
    close(p["clip fraction, dual clip (A < 0, ratio > c)"][label], [(s, 0.0) for s in steps])
    close(p["approx KL(old || new)"][label], [(s, 0.0001 * s) for s in steps])
    close(p["policy grad norm"][label], [(s, 0.5 + 0.1 * s) for s in steps])
    close(p["held-out accuracy"][label], [(0, 0.25), (3, 0.5)])
    assert "groups with zero advantage (share)" not in p and "KL to the reference policy" not in p
    # the names with no panel: one line on stderr, and listed on the page
    note = [line for line in err.splitlines() if line.startswith("note:")]
    assert len(note) == 1 and "metric names have no panel" in note[0] and "actor/lr" in note[0]
    assert "perf/throughput" in page.read_text().split('<div id="sources">')[1].split("</div>")[0]


def test_verl_file_given_directly_and_earlier_attempts_read_first(tmp_path, capsys):
    """A veRL file by path (veRL's default PROJECT/EXPERIMENT.jsonl: labelled by its name); and a run folder whose
    earlier attempt the launcher moved aside (metrics.TIMESTAMP.jsonl): every step, the later attempt's winning."""
    f = verl_file(tmp_path / "entropykit" / "grpo-smollm2.jsonl")
    page = tmp_path / "direct.html"
    assert report(capsys, f, "-o", page)[0] == 0
    assert sources(page) == [("grpo-smollm2 [veRL]", "veRL file logger", str(f))]
    assert len(panels(figure(page))["mean token entropy (nats)"]["grpo-smollm2 [veRL]"]) == 3

    run = tmp_path / "resumed"
    verl_file(run / "verl" / "metrics.20260101-120000.jsonl", VERL_FILE_LOGGER_LINES[:3])  # steps 0-2, then killed
    later = [json.loads(x) for x in VERL_FILE_LOGGER_LINES[2:]]  # resumed from step 2
    later[0]["data"]["actor/entropy"] = 0.123
    verl_file(run / "verl" / "metrics.jsonl", [json.dumps(x) for x in later])
    page = tmp_path / "resumed.html"
    assert report(capsys, run, "-o", page)[0] == 0
    close(panels(figure(page))["mean token entropy (nats)"]["resumed [veRL]"], [(1, 0.8), (2, 0.123), (3, 0.6)])


def test_native_and_verl_runs_on_one_page(tmp_path, capsys):
    """Each shared panel has both runs; the entropykit run's either-side clip fraction is low + high."""
    native = tmp_path / "native-grpo"
    native.mkdir()
    recs = [{"step": s, "reward_mean": 0.1 * s, "accuracy": 0.5, "response_length": 200.0, "entropy": 0.7,
             "clip_frac_low": 0.001, "clip_frac_high": 0.002 * s, "clip_frac_dual": 0.0, "approx_kl": 0.01,
             "zero_adv_group_frac": 0.25, "psi_ratio": 0.2} for s in (1, 2)]
    (native / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    atomic_write_json(native / "config.json", {"algo": "grpo", "entropy_adv": True})
    run = tmp_path / "cluster"
    verl_file(run / "verl" / "metrics.jsonl")
    page = tmp_path / "mixed.html"
    rc, err = report(capsys, native, run, "-o", page)
    assert rc == 0, err
    a, b = "native-grpo (grpo + entropy adv)", "cluster [veRL]"
    assert sources(page) == [(a, "entropykit metrics.jsonl", str(native / "metrics.jsonl")),
                             (b, "veRL file logger", str(run / "verl" / "metrics.jsonl"))]
    p = panels(figure(page))
    for title in ("mean reward", "response length (tokens)", "mean token entropy (nats)", "entropy advantage psi/|A| (A != 0)",
                  "clip fraction, either side (low + high)", "clip fraction, dual clip (A < 0, ratio > c)", "approx KL(old || new)"):
        assert set(p[title]) == {a, b}, title
    close(p["clip fraction, either side (low + high)"][a], [(1, 0.003), (2, 0.005)])
    assert set(p["groups with zero advantage (share)"]) == {a} and set(p["clip fraction, high (1 + eps_high)"]) == {a}
    assert not [line for line in err.splitlines() if "native-grpo" in line]  # nothing is said about a native run


def test_verl_heldout_per_data_source_and_reward_without_acc(tmp_path, capsys):
    """veRL's val-core names: one held-out accuracy panel per data source when several; a reward that returns no
    `acc` gives val-core/<source>/reward/mean@<n>, drawn as held-out reward."""
    two = tmp_path / "two.jsonl"
    two.write_text(json.dumps({"step": 1, "data": {"actor/entropy": 0.5, "val-core/gsm8k/acc/mean@1": 0.7,
                                                   "val-core/lighteval/MATH/acc/mean@4": 0.3}}) + "\n")
    page = tmp_path / "two.html"
    assert report(capsys, two, "-o", page)[0] == 0
    p = panels(figure(page))
    assert p["held-out accuracy (gsm8k)"] == {"two [veRL]": [(1, 0.7)]}
    assert p["held-out accuracy (lighteval/MATH)"] == {"two [veRL]": [(1, 0.3)]} and "held-out accuracy" not in p
    rew = tmp_path / "rew.jsonl"
    rew.write_text(json.dumps({"step": 2, "data": {"val-core/math/reward/mean@8": -0.25, "val-aux/math/reward/std@8": 0.5}}) + "\n")
    page = tmp_path / "rew.html"
    assert report(capsys, rew, "-o", page)[0] == 0
    assert panels(figure(page)) == {"held-out reward (math)": {"rew [veRL]": [(2, -0.25)]}}


@pytest.mark.skipif(not (OUTSIDE / "verl" / "metrics.jsonl").exists(), reason="tests/data/outside/verl not there")
def test_verl_fixture_from_outside_folder(tmp_path, capsys):
    f = OUTSIDE / "verl" / "metrics.jsonl"
    data = [json.loads(x) for x in f.read_text().splitlines() if x.strip()]
    page = tmp_path / "p.html"
    rc, err = report(capsys, f, "-o", page)
    assert rc == 0, err
    (label, fmt, _), = sources(page)
    assert fmt == "veRL file logger"
    p = panels(figure(page))
    for name, title in (("actor/entropy", "mean token entropy (nats)"), ("critic/score/mean", "mean reward"),
                        ("actor/entropy_adv_psi_ratio", "entropy advantage psi/|A| (A != 0)"),
                        ("response_length/mean", "response length (tokens)"), ("actor/pg_clipfrac", "clip fraction, either side (low + high)"),
                        ("actor/ppo_kl", "approx KL(old || new)")):
        close(p[title][label], [(d["step"], d["data"][name]) for d in data if name in d["data"]])


@pytest.mark.skipif(not (ROOT / ".venv-verl" / "bin" / "python").exists(), reason="needs .venv-verl (scripts/setup_verl.sh)")
def test_verl_fixture_is_verl_own_output(tmp_path):
    """VERL_FILE_LOGGER_LINES are what veRL's own FileLogger writes for VERL_STEPS_SRC."""
    out = tmp_path / "m.jsonl"
    code = VERL_STEPS_SRC + (
        "import os, sys\nos.environ['VERL_FILE_LOGGER_PATH'] = sys.argv[1]\n"
        "from verl.utils.tracking import FileLogger\nlg = FileLogger('entropykit', 'fixture')\n"
        "for s, m in verl_steps():\n    lg.log(m, s)\nlg.finish()\n")
    subprocess.run([str(ROOT / ".venv-verl" / "bin" / "python"), "-c", code, str(out)], check=True, timeout=300,
                   capture_output=True)
    assert out.read_text().splitlines() == list(VERL_FILE_LOGGER_LINES)


# ---- TRL

TRL_STATES = sorted(OUTSIDE.glob("trl/*/trainer_state.json"))


@pytest.mark.skipif(not TRL_STATES, reason="tests/data/outside/trl not there")
@pytest.mark.parametrize("state", TRL_STATES, ids=lambda p: p.parent.name)
def test_trl_trainer_state_from_trl(tmp_path, capsys, state):
    """TRL's own trainer_state.json (GRPOTrainer, 2 steps): reward, accuracy (its accuracy_reward), each other reward
    function, zero-std groups, length, entropy, clip fractions."""
    hist = json.loads(state.read_text())["log_history"]
    page = tmp_path / "p.html"
    rc, err = report(capsys, state, "-o", page)
    assert rc == 0, err
    label = f"{state.parent.name} [TRL]"
    assert sources(page) == [(label, "TRL trainer_state.json", str(state))]
    p = panels(figure(page))
    for name, title in (("reward", "mean reward"), ("rewards/accuracy_reward/mean", "accuracy"),
                        ("rewards/format_reward/mean", "reward function format_reward (TRL, mean)"),
                        ("frac_reward_zero_std", "groups with zero advantage (share)"),
                        ("completions/mean_length", "response length (tokens)"), ("entropy", "mean token entropy (nats)"),
                        ("clip_ratio/low_mean", "clip fraction, low (1 - eps_low)"),
                        ("clip_ratio/high_mean", "clip fraction, high (1 + eps_high)"),
                        ("clip_ratio/region_mean", "clip fraction, either side (low + high)"), ("grad_norm", "policy grad norm")):
        close(p[title][label], [(h["step"], h[name]) for h in hist if name in h])


def trl_state(steps: int, *, final: bool = False) -> dict:
    """A trainer_state.json as transformers' TrainerState.save_to_json writes it for TRL's GRPOTrainer
    (trl 1.16: GRPOTrainer.log averages its metrics and calls Trainer.log, which appends {**logs, "step": global_step}
    to log_history); an evaluation adds eval_-prefixed names; the end of training a summary line at the last step."""
    hist = []
    for s in range(1, steps + 1):
        hist.append({"clip_ratio/high_max": 0.0, "clip_ratio/high_mean": 0.01 * s, "clip_ratio/low_mean": 0.0,
                     "clip_ratio/low_min": 0.0, "clip_ratio/region_mean": 0.01 * s, "completions/clipped_ratio": 0.0,
                     "completions/mean_length": 40.0 + s, "entropy": 1.0 - 0.1 * s, "epoch": float(s), "frac_reward_zero_std": 0.5,
                     "grad_norm": 0.1, "kl": 0.001 * s, "learning_rate": 1e-6, "loss": 0.02, "num_tokens": 800.0 * s,
                     "reward": 0.2 * s, "reward_std": 0.5, "rewards/correctness/mean": 0.1 * s, "rewards/correctness/std": 0.3,
                     "step": s, "step_time": 10.0})
        if s == steps:
            hist.append({"epoch": float(s), "eval_reward": 0.5, "eval_rewards/correctness/mean": 0.4, "eval_loss": 0.1,
                         "eval_runtime": 1.0, "step": s})
    if final:
        hist.append({"epoch": float(steps), "step": steps, "total_flos": 0.0, "train_loss": 0.02, "train_runtime": 30.0})
    return {"global_step": steps, "log_history": hist, "max_steps": 4, "epoch": float(steps)}


def test_trl_output_folder_reads_the_latest_checkpoint(tmp_path, capsys):
    """An output folder with checkpoint-2 and checkpoint-4 (and no top-level file yet): checkpoint-4's history,
    with kl to the reference, held-out accuracy and a reward function named for correctness as accuracy."""
    out = tmp_path / "trl-out"
    for n in (2, 4):
        atomic_write_json(out / f"checkpoint-{n}" / "trainer_state.json", trl_state(n))
    (out / "checkpoint-10").mkdir()  # a checkpoint still being written: no trainer_state.json yet
    page = tmp_path / "p.html"
    rc, err = report(capsys, out, "-o", page)
    assert rc == 0, err
    assert sources(page) == [("trl-out [TRL]", "TRL trainer_state.json", str(out / "checkpoint-4" / "trainer_state.json"))]
    p = panels(figure(page))
    close(p["accuracy"]["trl-out [TRL]"], [(s, 0.1 * s) for s in (1, 2, 3, 4)])
    close(p["KL to the reference policy"]["trl-out [TRL]"], [(s, 0.001 * s) for s in (1, 2, 3, 4)])
    close(p["held-out accuracy"]["trl-out [TRL]"], [(4, 0.4)])
    close(p["mean token entropy (nats)"]["trl-out [TRL]"], [(s, 1.0 - 0.1 * s) for s in (1, 2, 3, 4)])
    # training ended: the top-level file (same steps plus the summary line) is read
    atomic_write_json(out / "trainer_state.json", trl_state(4, final=True))
    assert report(capsys, out, "-o", page)[0] == 0
    assert sources(page)[0][2] == str(out / "trainer_state.json")
    # a checkpoint folder itself is labelled by the output folder; the page goes beside a file by default
    assert report(capsys, out / "checkpoint-2")[0] == 0
    assert sources(out / "checkpoint-2" / "report.html")[0][0] == "trl-out [TRL]"
    assert report(capsys, out / "checkpoint-4" / "trainer_state.json")[0] == 0
    assert (out / "checkpoint-4" / "report.html").exists()


def test_trl_before_0_17_names(tmp_path, capsys):
    """TRL < 0.17 logged completion_length, rewards/<func> (no /mean) and clip_ratio (trl v0.16.0
    grpo_trainer.py, `self._metrics[mode][...]`)."""
    s = tmp_path / "old" / "trainer_state.json"
    atomic_write_json(s, {"global_step": 1, "log_history": [
        {"completion_length": 120.0, "rewards/accuracy_reward": 0.25, "rewards/format_reward": 1.0, "reward": 1.25,
         "reward_std": 0.4, "kl": 0.0, "clip_ratio": 0.0, "loss": 0.0, "grad_norm": 0.2, "learning_rate": 1e-6,
         "epoch": 0.1, "step": 1}]})
    page = tmp_path / "p.html"
    assert report(capsys, s, "-o", page)[0] == 0
    p = panels(figure(page))
    assert p["response length (tokens)"] == {"old [TRL]": [(1, 120.0)]} and p["accuracy"] == {"old [TRL]": [(1, 0.25)]}
    assert p["reward function format_reward (TRL, mean)"] == {"old [TRL]": [(1, 1.0)]}
    assert p["clip fraction, either side (low + high)"] == {"old [TRL]": [(1, 0.0)]}


# ---- refusals: one line on stderr, exit 2, no page


def _refused(capsys, tmp_path, *args) -> str:
    page = tmp_path / "refused.html"
    rc, err = report(capsys, *args, "-o", page)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("entropykit: error: "), err
    assert not page.exists()
    return lines[0]


def test_a_log_with_no_panel_is_an_error_naming_what_was_found(tmp_path, capsys):
    f = tmp_path / "other.jsonl"
    f.write_text('{"step": 1, "data": {"perf/throughput": 10.0, "my/custom_metric": 1}}\n')
    line = _refused(capsys, tmp_path, f)
    assert "veRL file logger" in line and "no dashboard panel" in line
    assert "my/custom_metric, perf/throughput" in line and "formats understood" in line and "trainer_state.json" in line
    # the same for a flat JSONL, a trainer_state.json whose history has nothing drawable, and with a good run beside it
    f.write_text('{"step": 1, "loss_xyz": 0.5}\n')
    assert "loss_xyz" in _refused(capsys, tmp_path, f)
    s = tmp_path / "trainer_state.json"
    atomic_write_json(s, {"log_history": [{"step": 1, "loss": 0.3, "learning_rate": 1e-6}]})
    assert "learning_rate, loss" in _refused(capsys, tmp_path, s)
    good = verl_file(tmp_path / "good" / "verl" / "metrics.jsonl")
    assert "trainer_state.json" in _refused(capsys, tmp_path, good, s)


def test_empty_and_unknown_inputs_are_refused(tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert "empty" in _refused(capsys, tmp_path, empty)
    run = tmp_path / "run"
    (run / "verl").mkdir(parents=True)
    (run / "verl" / "metrics.jsonl").write_text("\n")  # veRL started, nothing logged yet
    assert "no metrics yet" in _refused(capsys, tmp_path, run)
    (tmp_path / "nothing").mkdir()
    assert "formats understood" in _refused(capsys, tmp_path, tmp_path / "nothing")
    atomic_write_json(tmp_path / "config.json", {"algo": "grpo"})
    assert "log_history" in _refused(capsys, tmp_path, tmp_path / "config.json")
    atomic_write_json(tmp_path / "trainer_state.json", {"log_history": []})
    assert "empty" in _refused(capsys, tmp_path, tmp_path / "trainer_state.json")
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"prompt": "x", "response": "y"}\n')
    assert 'no "step"' in _refused(capsys, tmp_path, rows)


def test_the_page_never_replaces_a_log_given_as_a_file(tmp_path, capsys):
    f = verl_file(tmp_path / "m.jsonl")
    rc, err = report(capsys, f, "-o", f)
    assert rc == 2 and "would replace" in err and len(err.strip().splitlines()) == 1
    assert f.read_text().splitlines() == list(VERL_FILE_LOGGER_LINES)
