"""Damaged state files (issue 19, point 2): one line and exit 2, or recovery, never a traceback.

Each case copies a real run folder (a toy training run, a passk run), damages one file the way
a disk, an editor or a kill would, and runs the command a user would run next.
"""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import run_cli, toy_config, write_toy_data

from entropykit.train.data import build_toy_model
from entropykit.train.loop import train


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("state")
    model = build_toy_model(root / "model", seed=0)
    data = write_toy_data(root / "toy.jsonl")
    train_run = train(toy_config(model, data, root / "train", steps=1, prompts_per_step=2, n_samples=2, mini_batch_size=4,
                                 max_tokens=4, save_every=1))
    passk_run = root / "passk"
    assert run_cli("passk", "--model", model, "--benchmark", data, "--limit", "2", "--n", "2", "--max-tokens", "4",
                   "--prompt-template", "{problem}", "--no-chat", "--verify-workers", "0", "--no-html", "--quiet",
                   "--out", passk_run) == 0
    assert run_cli("passk", "--from-samples", passk_run, "--verify-workers", "0", "--no-html", "--quiet",
                   "--out", root / "scored") == 0
    return {"model": model, "data": data, "train": train_run, "passk": passk_run, "scored": root / "scored"}


def _write(path, content: bytes | str) -> None:
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)


def _append(path, content: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(content)


# (name, folder, damaged file, how, command after it, expected exit code, text on stderr)
CASES = [
    ("run.json of the wrong shape", "passk", "run.json", lambda p: _write(p, '{"settings": 5}'), "passk", 2, "unreadable run settings"),
    ("run.json a list", "passk", "run.json", lambda p: _write(p, "[1, 2]"), "passk", 2, "unreadable run settings"),
    ("run.json not UTF-8", "passk", "run.json", lambda p: _write(p, b"\xff\xfe\x00{"), "passk", 2, "unreadable run settings"),
    ("verdicts.jsonl garbage", "scored", "verdicts.jsonl", lambda p: _write(p, b"\x00\x01garbage\n{]\n"), "rescore", 0, "rebuilt"),
    ("config.json not UTF-8", "train", "config.json", lambda p: _write(p, b"\xff\xfe{}"), "resume", 2, "not UTF-8"),
    ("config.json a list", "train", "config.json", lambda p: _write(p, "[]"), "resume", 2, "not an object"),
    ("config.json field of the wrong type", "train", "config.json",
     lambda p: _write(p, json.dumps({**json.loads(p.read_text()), "steps": "many"})), "resume", 2, "'steps' must be int"),
    ("checkpoints/latest not UTF-8", "train", "checkpoints/latest", lambda p: _write(p, b"\xff\xfe\xfa"), "resume", 0, ""),
    ("checkpoints/latest garbage", "train", "checkpoints/latest", lambda p: _write(p, "../../etc\n"), "resume", 0, ""),
    ("metrics.jsonl not UTF-8", "train", "metrics.jsonl", lambda p: _write(p, b"\xff\xfe\x00\x01\n"), "resume", 2, "not UTF-8"),
    ("metrics.jsonl garbage first line", "train", "metrics.jsonl",
     lambda p: _write(p, "garbage\n" + p.read_text()), "resume", 2, "malformed JSON"),
    ("metrics.jsonl line without step", "train", "metrics.jsonl", lambda p: _write(p, '{"reward_mean": 1}\n'), "resume", 2,
     "missing field(s) 'step'"),
    ("metrics.jsonl torn last line", "train", "metrics.jsonl", lambda p: _append(p, b'{"step": 2, "rew'), "resume", 0, ""),
    ("report: step not a number", "train", "metrics.jsonl", lambda p: _write(p, '{"step": "x"}\n'), "report", 2,
     "field 'step' must be int"),
    ("report: torn last line", "train", "metrics.jsonl", lambda p: _append(p, b'{"step": 2, "rew'), "report", 0, ""),
]


def _command(kind: str, folder, r: dict, tmp_path) -> list:
    if kind == "passk":
        return ["passk", "--model", r["model"], "--benchmark", r["data"], "--limit", "2", "--n", "2", "--max-tokens", "4",
                "--prompt-template", "{problem}", "--no-chat", "--verify-workers", "0", "--no-html", "--quiet", "--out", folder]
    if kind == "rescore":
        return ["passk", "--from-samples", r["passk"], "--verify-workers", "0", "--no-html", "--out", folder]
    if kind == "resume":
        return ["train", "--resume", folder, "--steps", "2"]
    return ["train", "report", folder, "--out", tmp_path / "report.html"]


@pytest.mark.parametrize("name, which, rel, damage, kind, code, said", CASES, ids=[c[0] for c in CASES])
def test_damaged_state(runs, tmp_path, capsys, name, which, rel, damage, kind, code, said):
    folder = tmp_path / which
    shutil.copytree(runs[which], folder)
    damage(folder / rel)
    capsys.readouterr()
    assert run_cli(*_command(kind, folder, runs, tmp_path)) == code
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    if code == 2:
        line = err.strip()
        assert line.startswith("entropykit: error:") and len(line.splitlines()) == 1, err
    assert said in " ".join((out + err).split()), (out, err)
