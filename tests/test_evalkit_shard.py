"""`passk --shard I/N`: disjoint, deterministic shares written into one folder; resume and the
summary merge every shard; a summary is written only when all shards are complete. End to end
with real processes (one killed with SIGKILL and rerun, two writing at the same time) on a tiny
random Llama: the merged result equals an unsharded run's, record for record."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from entropykit.errors import UserError
from entropykit.evalkit.run_folder import check_run_json, load_samples, read_complete_records, shard_of

ENTROPYKIT = [sys.executable, "-m", "entropykit.cli.app"]
COMMON = ["--benchmark", "easy", "--limit", "4", "--k", "4", "--max-tokens", "6", "--backend", "hf",
          "--batch-size", "2", "--temperature", "1.0", "--no-html", "--verify-workers", "1"]


@pytest.mark.parametrize("jobs,unit,count", [(16, 2, 3), (17, 4, 2), (5, 1, 8), (40, 16, 3)])
def test_shares_are_disjoint_complete_and_keep_whole_batches(jobs, unit, count):
    owner = [shard_of(i, count, unit) for i in range(jobs)]
    shares = [[i for i in range(jobs) if owner[i] == s] for s in range(count)]
    assert sorted(i for share in shares for i in share) == list(range(jobs))
    full_batches = [list(range(s, min(jobs, s + unit))) for s in range(0, jobs, unit)]
    for share in shares:  # a shard, batching its own list by `unit`, forms batches of the full list
        own_batches = [share[s : s + unit] for s in range(0, len(share), unit)]
        assert all(b in full_batches for b in own_batches)
    sizes = [len(s) for s in shares]
    assert max(sizes) - min(sizes) <= unit


def test_readers_skip_a_line_being_written_and_never_touch_other_files(tmp_path):
    a = tmp_path / "samples.shard-0-of-2.jsonl"
    b = tmp_path / "samples.shard-1-of-2.jsonl"
    rec = {"benchmark": "x", "problem_id": "p", "sample_idx": 0, "response": "r"}
    a.write_text(json.dumps(rec) + "\n")
    torn = json.dumps({**rec, "sample_idx": 1}) + "\n" + json.dumps({**rec, "sample_idx": 2})[:20]
    b.write_text(torn)
    assert [r["sample_idx"] for r in read_complete_records(b)] == [1]
    assert b.read_text() == torn  # another shard may be appending to it right now
    assert sorted(load_samples(tmp_path)) == [("x", "p", 0), ("x", "p", 1)]
    # torn inside a multi-byte character (why the reader splits bytes): the complete lines, no error
    c = tmp_path / "samples.jsonl"
    line = json.dumps({**rec, "sample_idx": 3, "response": "日本"}, ensure_ascii=False).encode("utf-8")
    c.write_bytes(line + b"\n" + line[: line.index("本".encode("utf-8")) + 1])
    assert [r["sample_idx"] for r in read_complete_records(c)] == [3]
    assert sorted(load_samples(tmp_path)) == [("x", "p", 0), ("x", "p", 1), ("x", "p", 3)]


def test_all_shards_of_an_incomplete_run_use_one_layout(tmp_path):
    settings = {"model": "m", "backend": "hf"}
    check_run_json(tmp_path, settings, (0, 3), 2, incomplete=True)
    (tmp_path / "samples.shard-0-of-3.jsonl").write_text('{"problem_id": "p", "sample_idx": 0, "response": ""}\n')
    check_run_json(tmp_path, settings, (2, 3), 2, incomplete=True)
    with pytest.raises(UserError, match="started as --shard I/3 with unit 2"):
        check_run_json(tmp_path, settings, (0, 4), 2, incomplete=True)
    with pytest.raises(UserError, match="unit 2"):
        check_run_json(tmp_path, settings, (0, 3), 8, incomplete=True)
    check_run_json(tmp_path, settings, None, 2, incomplete=True)  # an unsharded rerun may fill the gaps
    check_run_json(tmp_path, settings, (0, 4), 2, incomplete=False)  # a complete run may be re-sharded
    assert json.loads((tmp_path / "run.json").read_text())["shards"] == {"count": 4, "unit": 2}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from entropykit.models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("shard-tiny") / "tiny")


def _run(args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(ENTROPYKIT + args, capture_output=True, text=True, timeout=600, **kw)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_three_shards_one_killed_and_rerun_merge_to_the_unsharded_run(tiny, tmp_path):
    base = ["passk", "--model", tiny, *COMMON]
    ref, run = tmp_path / "ref", tmp_path / "run"
    r = _run(base + ["--quiet", "--out", str(ref)])
    assert r.returncode == 0, r.stderr

    # shard 0 alone: its share is saved, the summary waits for the others and says for what
    r = _run(base + ["--shard", "0/3", "--out", str(run)])
    assert r.returncode == 0, r.stderr
    assert "shard 0/3: its samples are saved. summary.json waits for 10 of 16 samples from shard 1/3 (6), " \
           "shard 2/3 (4)" in " ".join(r.stderr.split())
    assert "sampling 6 of 6 samples of shard 0/3" in r.stderr
    assert not (run / "summary.json").exists()

    # shards 1 and 2 at the same time; shard 1 is killed (SIGKILL) after its first saved sample
    p1 = subprocess.Popen(ENTROPYKIT + base + ["--shard", "1/3", "--quiet", "--out", str(run)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    p2 = subprocess.Popen(ENTROPYKIT + base + ["--shard", "2/3", "--out", str(run)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    f1 = run / "samples.shard-1-of-3.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and p1.poll() is None and not (f1.exists() and f1.stat().st_size):
        time.sleep(0.02)
    os.killpg(p1.pid, signal.SIGKILL)
    p1.wait()
    out2, err2 = p2.communicate(timeout=600)
    assert p2.returncode == 0, err2
    killed_at = len(_jsonl(f1))
    assert 0 < killed_at < 6
    # shard 2 names what shard 1 still owes when shard 2 ends: before or after the kill (a race)
    owed = re.search(r"from shard 1/3 \((\d+)\)", " ".join(err2.split()))
    assert owed and 6 - killed_at <= int(owed.group(1)) <= 6, err2
    assert not (run / "summary.json").exists()

    # rerun shard 1: it generates only its missing samples, and as the last one writes the summary
    r = _run(base + ["--shard", "1/3", "--out", str(run)])
    assert r.returncode == 0, r.stderr
    assert f"sampling {6 - killed_at} of 6 samples of shard 1/3 ({killed_at} reused)" in r.stderr
    assert "pass@k" in r.stdout

    files = sorted(p.name for p in run.glob("samples*.jsonl"))
    assert files == ["samples.shard-0-of-3.jsonl", "samples.shard-1-of-3.jsonl", "samples.shard-2-of-3.jsonl"]
    merged = [rec for f in files for rec in _jsonl(run / f)]
    key = lambda rec: (rec["problem_id"], rec["sample_idx"])  # noqa: E731
    assert len(merged) == 16 and len({key(x) for x in merged}) == 16  # disjoint and complete
    assert sorted(merged, key=key) == sorted(_jsonl(ref / "samples.jsonl"), key=key)  # every field, every sample
    assert json.loads((run / "summary.json").read_text()) == json.loads((ref / "summary.json").read_text())
    assert (run / "problems.jsonl").read_text() == (ref / "problems.jsonl").read_text()

    # the same command without --shard finds everything saved; --from-samples reads the folder
    r = _run(base + ["--out", str(run)])
    assert r.returncode == 0 and "all 16 samples reused" in r.stderr, r.stderr
    r = _run(["passk", "--from-samples", str(run), "--k", "4", "--no-html", "--verify-workers", "0", "--quiet",
              "--out", str(tmp_path / "rescored")])
    assert r.returncode == 0, r.stderr
    rescored = json.loads((tmp_path / "rescored" / "summary.json").read_text())["benchmarks"]["easy"]
    assert rescored["pass_at_k"] == json.loads((ref / "summary.json").read_text())["benchmarks"]["easy"]["pass_at_k"]
