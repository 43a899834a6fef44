"""The `entropykit` command as a user meets it: help, `score`, and the one-line error contract."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXE = str(Path(sys.executable).parent / "entropykit")


def run(*args, timeout=600):
    return subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def test_help_lists_the_tools():
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("analyze", "passk", "train", "score", "demo"):
        assert cmd in r.stdout


BAD_INPUTS = {
    "missing.jsonl": None,
    "empty.jsonl": b"",
    "malformed.jsonl": b'{"prompt": "a", "response": "b"}\n{oops\n',
    "nofield.jsonl": b'{"prompt": "a"}\n',
    "binary.jsonl": bytes(range(256)) * 4,
    "wrongtype.jsonl": b'{"prompt": "a", "response": 3}\n',
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_score_bad_input_is_one_line_exit_2(tmp_path, name):
    p = tmp_path / name
    if BAD_INPUTS[name] is not None:
        p.write_bytes(BAD_INPUTS[name])
    r = run("score", p, "--out", tmp_path / "out.jsonl")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("entropykit: error:"), r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_score_unknown_model_and_unwritable_output(tmp_path):
    good = tmp_path / "in.jsonl"
    good.write_text(json.dumps({"prompt": "a", "response": "b"}) + "\n")
    for args in (["--model", "./no/such/model"], ["--out", "/proc/no/such/dir/out.jsonl"]):
        argv = ["score", good, "--out", tmp_path / "o.jsonl", *args]
        r = run(*argv)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.slow
def test_score_end_to_end_keeps_fields_and_writes_arrays(tmp_path):
    inp = tmp_path / "in.jsonl"
    recs = [{"id": "a", "source": "rl", "prompt": "What is 1+1?", "response": "1 + 1 = 2, so the answer is \\boxed{2}."},
            {"id": "b", "prompt": "Hi", "response": ""}]
    inp.write_text("".join(json.dumps(r) + "\n" for r in recs))
    out = tmp_path / "deep" / "out.jsonl"
    r = run("score", inp, "--out", out, "--chunk-size", "3")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["id"] for x in rows] == ["a", "b"]
    a = rows[0]
    assert a["source"] == "rl" and a["model"] == "smollm2-135m"
    n = a["num_tokens"]
    assert n > 5 and len(a["entropies"]) == len(a["logprobs"]) == len(a["tokens"]) == len(a["offsets"]) == n
    assert all(e >= 0 for e in a["entropies"]) and all(lp <= 0 for lp in a["logprobs"])
    assert abs(a["mean_entropy"] - sum(a["entropies"]) / n) < 1e-9
    assert rows[1]["num_tokens"] == 0 and rows[1]["entropies"] == []
    assert "token entropy" in r.stdout
