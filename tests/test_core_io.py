"""Atomic writes, durable appends with torn-tail repair, and clear errors for bad JSONL."""

import json

import pytest

from entropykit.errors import UserError
from entropykit.io import JsonlAppender, atomic_write_json, iter_jsonl, read_jsonl, repair_jsonl_tail


def test_atomic_write_leaves_no_temp_and_replaces(tmp_path):
    p = tmp_path / "sub" / "x.json"
    atomic_write_json(p, {"a": 1})
    atomic_write_json(p, {"a": 2})
    assert json.loads(p.read_text()) == {"a": 2}
    assert [f.name for f in p.parent.iterdir()] == ["x.json"]


def test_atomic_write_failure_keeps_old_file(tmp_path):
    p = tmp_path / "x.json"
    atomic_write_json(p, {"a": 1})
    with pytest.raises(ValueError):
        atomic_write_json(p, {"a": float("nan")})  # not valid JSON: refused, old file intact
    assert json.loads(p.read_text()) == {"a": 1}
    assert len(list(tmp_path.iterdir())) == 1


def test_appender_repairs_torn_tail(tmp_path):
    p = tmp_path / "log.jsonl"
    with JsonlAppender(p) as out:
        out.write({"i": 0})
        out.write_many([{"i": 1}, {"i": 2}])
    with open(p, "a") as fh:
        fh.write('{"i": 3, "trunc')  # a kill in the middle of a write
    with JsonlAppender(p) as out:
        out.write({"i": 4})
    assert [r["i"] for r in read_jsonl(p)] == [0, 1, 2, 4]


def test_repair_file_without_newline_at_all(tmp_path):
    p = tmp_path / "log.jsonl"
    p.write_text('{"half"')
    repair_jsonl_tail(p)
    assert p.read_text() == ""


@pytest.mark.parametrize(
    "content,needle",
    [
        (b"", "empty file"),
        (b"not json\n", "malformed JSON"),
        (b"[1, 2]\n", "expected a JSON object"),
        (b'{"prompt": "x"}\n', "missing field(s) 'response'"),
        (b"\xff\xfe\x00\x01binary", "not UTF-8"),
        (b'{"prompt": "a", "response": "b"}\n\x00\x00\n', "binary data"),
    ],
)
def test_bad_jsonl_gives_one_clear_error(tmp_path, content, needle):
    p = tmp_path / "in.jsonl"
    p.write_bytes(content)
    with pytest.raises(UserError) as e:
        read_jsonl(p, required=("prompt", "response"))
    assert needle in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        list(iter_jsonl(tmp_path / "nope.jsonl"))
    with pytest.raises(UserError, match="is a directory"):
        list(iter_jsonl(tmp_path))


def test_atomic_write_has_normal_permissions(tmp_path):
    import os

    p = tmp_path / "r.json"
    atomic_write_json(p, {})
    umask = os.umask(0)
    os.umask(umask)
    assert (p.stat().st_mode & 0o777) == (0o666 & ~umask)
