"""One writer per run folder (issue 19, point 1), with real concurrent processes: a second
`passk`, `train` or `reproduce` into a folder in use is refused with one line naming the
holder; shards share the folder but not a shard; a lock left by a killed process is taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from entropykit.io import LOCK_FILE

CLI = [sys.executable, "-m", "entropykit.cli.app"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
HOLD = """
import sys, time
from entropykit.io import run_lock
with run_lock(sys.argv[1], command="holder", shard=sys.argv[2] or None):
    print("locked", flush=True)
    time.sleep(120)
"""


def _hold(folder: Path, shard: str = "") -> subprocess.Popen:
    folder.mkdir(parents=True, exist_ok=True)
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), shard], stdout=subprocess.PIPE, text=True, env=ENV)
    assert p.stdout.readline().strip() == "locked"
    return p


def _cli(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + [str(a) for a in args], capture_output=True, text=True, timeout=timeout, env=ENV)


def _passk(model, out: Path, *extra) -> list:
    return ["passk", "--model", model, "--benchmark", "easy", "--limit", "2", "--n", "2", "--max-tokens", "4",
            "--batch-size", "4", "--verify-workers", "0", "--no-html", "--out", out, *extra]


def _refused(r: subprocess.CompletedProcess, holder: subprocess.Popen) -> None:
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "is in use by" in r.stderr and f"pid {holder.pid} on " in r.stderr and "(holder, since" in r.stderr


@pytest.fixture()
def holders():
    procs: list[subprocess.Popen] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def test_a_second_writer_is_refused_naming_the_holder(tmp_path, tiny_model_dir, holders):
    run = tmp_path / "run"
    holders.append(_hold(run))
    _refused(_cli(*_passk(tiny_model_dir, run)), holders[0])
    _refused(_cli(*_passk(tiny_model_dir, run, "--shard", "1/2")), holders[0])  # a plain run excludes every shard
    _refused(_cli("train", "--model", tiny_model_dir, "--data", "easy", "--steps", "1", "--prompts-per-step", "2", "-n", "2",
                  "--mini-batch-size", "4", "--max-tokens", "4", "--out", run), holders[0])
    _refused(_cli("reproduce", "--preset", "smoke", "--model", tiny_model_dir, "--out", run), holders[0])
    assert not (run / "samples.jsonl").exists() and not (run / "config.json").exists()  # nothing was written

    os.kill(holders[0].pid, signal.SIGKILL)  # the kernel drops its lock; the file still names it
    holders[0].wait()
    assert json.loads((run / LOCK_FILE).read_text())["pid"] == holders[0].pid
    r = _cli(*_passk(tiny_model_dir, run))
    assert r.returncode == 0, r.stderr[-2000:]
    said = " ".join((r.stdout + r.stderr).split())  # rich wraps long lines
    assert f"took over the lock of {run} left by pid {holders[0].pid}" in said
    assert (run / LOCK_FILE).read_text() == ""  # a clean exit leaves no holder behind


def test_shards_share_the_folder_but_not_a_shard(tmp_path, tiny_model_dir, holders):
    run = tmp_path / "sharded"
    holders.append(_hold(run, "0/2"))
    r = _cli(*_passk(tiny_model_dir, run, "--shard", "1/2", "--batch-size", "1"))  # unit 1: each shard has jobs
    assert r.returncode == 0, r.stderr[-2000:]  # the other shard runs beside it
    assert (run / "samples.shard-1-of-2.jsonl").exists()
    _refused(_cli(*_passk(tiny_model_dir, run, "--shard", "0/2")), holders[0])
    _refused(_cli(*_passk(tiny_model_dir, run)), holders[0])


def test_two_passk_runs_with_other_settings_do_not_mix(tmp_path, tiny_model_dir):
    """The reported defect: two runs into one --out, --max-tokens 8 and 12, started 0.3 s apart.
    Before the lock both exited 0 with their samples mixed; now one runs and the other is
    refused (in use, or, if the first has already finished, made with other settings)."""
    run = tmp_path / "mixed"
    base = [str(x) for x in _passk(tiny_model_dir, run)[:-2]] + ["--limit", "6", "--n", "8"]
    procs = []
    for tokens in (8, 12):
        procs.append(subprocess.Popen(CLI + base + ["--max-tokens", str(tokens), "--out", str(run)],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV))
        time.sleep(0.3)
    results = [(p.communicate(timeout=300), p.returncode) for p in procs]
    codes = sorted(code for _, code in results)
    assert codes == [0, 2], [err[-1500:] for (_, err), _ in results]
    (_, err), _ = next(r for r in results if r[1] == 2)
    assert ("in use by pid" in err or "other settings" in err) and len(err.strip().splitlines()) == 1, err
    settings = json.loads((run / "run.json").read_text())["settings"]
    summary = json.loads((run / "summary.json").read_text())
    assert settings["max_tokens"] == summary["sampling"]["max_tokens"]
    samples = [json.loads(x) for x in open(run / "samples.jsonl")]
    assert len(samples) == 6 * 8 and len({s["id"] for s in samples}) == len(samples)  # no duplicates
    assert all(s["num_tokens"] <= settings["max_tokens"] for s in samples)
