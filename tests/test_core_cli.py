"""The `entropykit` command as a user meets it: help, `score`, and the one-line error contract."""

import functools
import json
import os
import re
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


# ---- --help of every command (issue 11, item 10), read from the typer app so none is forgotten


def _commands():
    import typer.main

    from entropykit.cli.app import app

    def walk(cmd, path=()):
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, path + (name,))

    return list(walk(typer.main.get_command(app)))


COMMANDS = [path for path, _ in _commands()]
TYPE_LABEL = re.compile(r"<(bool|str|int|float|path|list\[[^>]*\]|[a-z_]+\|[^>]*)>")


@functools.lru_cache(maxsize=None)
def _help(path, columns: int) -> str:
    """The real command's --help in a terminal `columns` wide (CliRunner would force 80)."""
    r = subprocess.run([EXE, *path, "--help"], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "COLUMNS": str(columns)})
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "entropykit" for p in COMMANDS])
def test_help_has_whole_option_names_and_no_type_labels(path, columns):
    text = _help(path, columns)
    cmd = dict(_commands())[path]
    assert not TYPE_LABEL.search(text), TYPE_LABEL.search(text).group(0)
    assert "\u2026" not in text  # rich's cut mark
    assert max(map(len, text.splitlines())) <= columns
    for p in cmd.params:
        for opt in [*p.opts, *p.secondary_opts] if p.param_type_name == "option" else []:
            assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", text), f"{opt} not shown whole"
    for sub, sub_cmd in getattr(cmd, "commands", {}).items():  # a group lists each command's first sentence, not cut with "..."
        if sub_cmd.hidden:  # not listed by design (e.g. `analyze`'s default command `run`)
            continue
        line = next(x for x in text.splitlines() if x.strip().startswith(sub + " "))
        assert not line.rstrip().endswith("...")


def _prose(text: str) -> list[list[str]]:
    """Paragraphs (lists of lines) of a help's description: after the usage line, before the
    first section."""
    lines = text.splitlines()
    body = []
    for line in lines[1:]:
        if re.match(r"^(Arguments|Options|Commands):", line):
            break
        body.append(line)
    paragraphs, cur = [], []
    for line in body + [""]:
        if line.strip():
            cur.append(line)
        elif cur:
            paragraphs.append(cur)
            cur = []
    return paragraphs


@pytest.mark.parametrize("columns", [80, 120])
@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) or "entropykit" for p in COMMANDS])
def test_help_paragraphs_are_filled_not_broken(path, columns):
    """Each line of a paragraph ends only where the next word would not have fit (greedy
    filling), so the source's hard line breaks do not show."""
    from entropykit.cli.app import _HELP_WIDTH

    width = min(columns, _HELP_WIDTH) - 2  # click's formatter width
    paragraphs = _prose(_help(path, columns))
    assert paragraphs
    for par in paragraphs:
        for line, nxt in zip(par, par[1:]):
            assert len(line.rstrip()) + 1 + len(nxt.split()[0]) > width, f"line broken early: {line!r} / {nxt!r}"


def test_train_report_out_shows_its_default():
    text = _help(("train", "report"), 80)
    entry = text[text.index("-o, --out"):]
    assert re.match(r"-o, --out PATH\s+.*\[default: FIRST_RUN/report\.html(, beside a file)?\]", " ".join(entry.split()))


# ---- start-up: nothing heavy on the --help / argument-error path (timings: bench/startup.py)

HEAVY_AT_STARTUP = ("torch", "transformers", "plotly", "numpy", "scipy", "vllm", "datasets", "math_verify",
                    "sentence_transformers", "rich.progress")


def test_cli_start_imports_nothing_heavy():
    code = f"""
import sys
from entropykit.cli.app import main
heavy = {HEAVY_AT_STARTUP!r}
seen = {{"import": [m for m in heavy if m in sys.modules]}}
for argv in (["--help"], ["train", "--help"], ["score"], ["passk", "--n", "x"], ["train", "--steps", "x"]):
    try:
        main(argv)
    except SystemExit:
        pass
    seen[" ".join(argv)] = [m for m in heavy if m in sys.modules]
print(seen, file=sys.stderr)
assert not any(seen.values()), seen
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]


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
    assert rows[1]["num_tokens"] == 0 and rows[1]["entropies"] == [] and rows[1]["mean_entropy"] is None
    assert "token entropy" in r.stdout
    warning = [x for x in r.stderr.splitlines() if x.startswith("entropykit: warning:")]
    assert len(warning) == 1 and "1 of 2 records have an empty" in warning[0] and "record 2)" in warning[0], r.stderr


def test_score_warns_about_empty_and_blank_responses():
    from entropykit.scoring import empty_response_warnings

    recs = [{"response": "ok"}, {"response": ""}, {"response": " \n "}, {"response": "fine"}]
    (w,) = empty_response_warnings(recs, [3, 0, 1, 2], "in.jsonl")
    assert w.startswith("in.jsonl: 2 of 4 records have an empty (or whitespace-only) response (records 2, 3)")
    assert empty_response_warnings(recs[:1], [3], "in.jsonl") == []
    many = [{"response": ""}] * 12
    assert "(records 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ...)" in empty_response_warnings(many, [0] * 12, "x")[0]
