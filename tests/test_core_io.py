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


# ---- UTF-8 byte-order marks (Windows editors and Excel write them): accepted by every reader of user files

BOM = b"\xef\xbb\xbf"


def test_jsonl_with_bom_at_the_start_and_after_cat(tmp_path):
    a = BOM + b'{"prompt": "p1", "response": "r1"}\r\n{"prompt": "p2", "response": "r2"}\r\n'
    b = BOM + b'{"prompt": "p3", "response": "r3"}\n'
    p = tmp_path / "joined.jsonl"
    p.write_bytes(a + b)  # `cat a.jsonl b.jsonl`: the second BOM starts line 3
    recs = read_jsonl(p, required=("prompt", "response"))
    assert [r["prompt"] for r in recs] == ["p1", "p2", "p3"]
    assert all(list(r) == ["prompt", "response"] for r in recs)  # no "\ufeffprompt" key


def test_bom_inside_a_value_is_kept(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"prompt": "\ufeffkeep", "response": "r"}\n', encoding="utf-8")
    assert read_jsonl(p)[0]["prompt"] == "\ufeffkeep"  # only a BOM before the JSON object is dropped


def test_utf16_jsonl_says_so(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"prompt": "a", "response": "b"}\n', encoding="utf-16")
    with pytest.raises(UserError, match=r"x.jsonl:1: not UTF-8 text \(UTF-16 text: save it as UTF-8\)"):
        read_jsonl(p)


@pytest.mark.parametrize("ext", ["jsonl", "json", "csv"])
def test_local_benchmark_files_with_bom(tmp_path, ext):
    from entropykit.evalkit import load_benchmark  # public API (the loader lives in the core on main)

    rows = [{"problem": "1+1?", "answer": "2"}, {"problem": "2+2?", "answer": "4"}]
    text = {
        "jsonl": "".join(json.dumps(r) + "\n" for r in rows),
        "json": json.dumps(rows),
        "csv": "problem,answer\r\n" + "".join(f"{r['problem']},{r['answer']}\r\n" for r in rows),
    }[ext]
    p = tmp_path / f"bench.{ext}"
    p.write_bytes(BOM + text.encode("utf-8"))
    bench = load_benchmark(str(p))
    assert [(x.problem, x.answer) for x in bench] == [("1+1?", "2"), ("2+2?", "4")]


def test_word_and_pattern_files_with_bom(tmp_path):
    from entropykit.response_metrics import load_lexicon_file, load_patterns_file

    words = tmp_path / "words.txt"
    words.write_bytes(BOM + b"causal: because, hence\n")
    assert load_lexicon_file(words) == {"causal": ("because", "hence")}
    pats = tmp_path / "pats.txt"
    pats.write_bytes(BOM + b"^wait\n")
    assert load_patterns_file(pats) == ("^wait",)


# ---- output checks (they really write: os.access says yes to root even on /proc)


def test_ensure_writable_creates_or_only_checks(tmp_path):
    from entropykit.io import ensure_writable_dir, ensure_writable_parent

    ensure_writable_dir(tmp_path / "a" / "b")
    assert (tmp_path / "a" / "b").is_dir()
    ensure_writable_dir(tmp_path / "c" / "d", create=False)
    ensure_writable_parent(tmp_path / "e" / "f.json", create=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]  # checked, nothing created, no probe left
    assert list((tmp_path / "a" / "b").iterdir()) == []


@pytest.mark.parametrize("create", [True, False])
def test_ensure_writable_refuses_with_one_line(tmp_path, create):
    from entropykit.io import ensure_writable_dir, ensure_writable_parent

    afile = tmp_path / "afile"
    afile.write_text("x")
    for check, bad, needle in [
        (ensure_writable_dir, afile, "exists and is not a folder"),
        (ensure_writable_dir, afile / "sub" / "dir", "afile"),
        (ensure_writable_parent, afile / "sub" / "out.json", "afile"),
        (ensure_writable_parent, tmp_path, "is a directory"),
        (ensure_writable_dir, "/proc/entropykit-test/sub", "/proc/entropykit-test/sub"),
        (ensure_writable_dir, "/proc/self", "cannot write in /proc/self"),
        (ensure_writable_parent, "/proc/self/out.json", "cannot write in /proc/self"),
    ]:
        with pytest.raises(UserError) as e:
            check(bad, create=create)
        assert needle in str(e.value) and "\n" not in str(e.value)
    assert afile.read_text() == "x"
