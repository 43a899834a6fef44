"""Config validation (before any model load), the CLI, and the report dashboard.

(The helpers the other trainer tests use, `write_toy_data`, `toy_config`, `run_cli`, are in conftest.py.)
"""

import re

import pytest
import torch

from conftest import run_cli, write_toy_data
from entropykit.errors import UserError
from entropykit.io import read_jsonl
from entropykit.train.config import PAPER_ALPHA, TrainConfig
from entropykit.benchmarks import load_problems
from entropykit.train.data import build_toy_model
from entropykit.train.loop import train

NO_MODEL = "/nonexistent/model/folder"



@pytest.fixture()
def data(tmp_path):
    return write_toy_data(tmp_path / "d.jsonl")


def test_paper_defaults():
    c = TrainConfig(data="x")
    assert (c.lr, c.critic_lr, c.kappa, c.eps_low, c.eps_high) == (1e-6, 2e-6, 2.0, 0.2, 0.28)
    assert (c.prompts_per_step, c.n_samples, c.mini_batch_size, c.updates_per_step) == (512, 8, 256, 16)
    assert (c.gamma, c.lam, c.critic_warmup, c.temperature) == (1.0, 1.0, 10, 1.0)
    assert c.entropy_adv and c.entropy_coef == 0 and c.kl_coef == 0
    assert c.alpha_value == 0.4 and TrainConfig(data="x", algo="ppo").alpha_value == 0.1 == PAPER_ALPHA["ppo"]
    c.validate()


@pytest.mark.parametrize(
    "kw, msg",
    [
        (dict(alpha=0.0), "alpha must be > 0"),
        (dict(alpha=-0.1), "alpha must be > 0"),
        (dict(kappa=1.0), "kappa must be > 1"),
        (dict(kappa=0.5), "kappa must be > 1"),
        (dict(prompts_per_step=3, n_samples=4, mini_batch_size=8), "does not divide"),
        (dict(micro_batch_tokens=-1), "micro-batch-tokens must be >= 0"),
        (dict(clip_ratio_c=1.0), "clip-ratio-c must be > 1"),
        (dict(loss_mode="nope"), "unknown policy loss 'nope'"),
        (dict(n_samples=1, mini_batch_size=512), "n-samples >= 2"),
        (dict(algo="dpo"), "grpo or ppo"),
        (dict(eps_low=1.5), "clip range"),
        (dict(data=""), "--data is required"),
        (dict(rollout_backend="vllm", lora_rank=4), "vllm"),
        (dict(rollout_backend="gpu"), "hf, vllm or auto"),
    ],
)
def test_bad_configs_fail_before_any_model_load(kw, msg, data):
    c = TrainConfig(model=NO_MODEL, data=data)
    for k, v in kw.items():
        setattr(c, k, v)
    with pytest.raises(UserError, match=msg):
        train(c)


def test_missing_dataset_column_fails_before_model_load(data, tmp_path):
    with pytest.raises(UserError, match="no column 'solution'"):
        train(TrainConfig(model=NO_MODEL, data=data, answer_key="solution", out=str(tmp_path / "r")))
    with pytest.raises(UserError, match="no such file|not a file"):
        load_problems(str(tmp_path / "nope.jsonl"))
    assert len(load_problems("easy")) >= 10  # the eval engine's bundled easy problems


def test_cli_end_to_end_report_and_resume(tmp_path, data, capsys):
    torch.set_num_threads(1)
    model = build_toy_model(tmp_path / "model")
    run = tmp_path / "run"
    common = ["--model", model, "--data", data, "--reward", "toy", "--prompt-template", "raw", "--no-chat",
              "--prompts-per-step", "2", "--n-samples", "4", "--mini-batch-size", "4", "--max-tokens", "4",
              "--lr", "1e-3", "--save-every", "1", "--device", "cpu"]
    assert run_cli("train", *common, "--steps", "2", "--out", run) == 0
    assert len(read_jsonl(run / "metrics.jsonl")) == 2
    assert (run / "checkpoints" / "step_000002" / "policy" / "config.json").exists()
    assert run_cli("train", "--resume", run, "--steps", "3") == 0
    assert [r["step"] for r in read_jsonl(run / "metrics.jsonl")] == [1, 2, 3]

    assert run_cli("train", "--resume", run, "--lr", "1.0") == 2
    assert run_cli("train", *common, "--kappa", "1", "--out", tmp_path / "x") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("entropykit: error:") and "kappa" in err[-1]

    run2 = tmp_path / "run2"
    assert run_cli("train", *common, "--steps", "2", "--algo", "ppo", "--critic-warmup", "1", "--out", run2) == 0
    html = tmp_path / "dash.html"
    assert run_cli("train", "report", run, run2, "--out", html) == 0
    text = html.read_text()
    assert "plotly" in text and len(text) > 1_000_000  # plotly.js inlined ...
    assert not re.search(r"<script[^>]*src=[\"']https?:", text)  # ... and nothing fetched from a CDN
    assert "run (grpo + entropy adv)" in text and "run2 (ppo + entropy adv)" in text
    assert "entropy advantage psi" in text
    assert run_cli("train", "report", tmp_path / "nope") == 2


def test_unwritable_out_fails_before_any_model_load(data, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for bad in ("/proc/entropykit-run", afile / "sub"):
        with pytest.raises(UserError, match="cannot|not a folder"):
            train(TrainConfig(model=NO_MODEL, data=data, out=str(bad)))


def test_help_shows_every_default_and_its_source(monkeypatch, capsys):
    import typer

    from entropykit.cli.app import app

    group = typer.main.get_command(app).commands["train"]
    unshown = [p.name for p in group.params if p.name not in ("resume", "data", "help") and not p.show_default]
    assert unshown == []
    shown = {p.name: p.show_default for p in group.params}
    assert shown["prompts_per_step"] == "512; paper" and shown["micro_batch_tokens"] == "16384; machine"
    assert shown["clip_ratio_c"] == "3.0; veRL" and shown["rollout_backend"].endswith("machine")
    monkeypatch.setenv("COLUMNS", "200")
    assert run_cli("train", "--help") == 0
    text = capsys.readouterr().out
    for want in ("512; paper", "16384; machine", "3.0; veRL", "'machine' chosen to fit the machine"):
        assert want in text


def test_machine_safe_defaults():
    from entropykit.generation import choose_backend

    c = TrainConfig(data="x")
    assert c.micro_batch_tokens == 16384 and c.rollout_backend == "auto" and c.clip_ratio_c == 3.0
    if not torch.cuda.is_available():
        assert choose_backend(c.rollout_backend, vllm_ok=True) == "hf"  # no GPU: transformers
