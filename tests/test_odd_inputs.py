"""Odd inputs and outputs over inputs, through the command line (issue 23, items 6 and 7).

Each refusal is one line on stderr, exit code 2, no traceback, and nothing written or replaced.
Benchmark files are checked before any model is loaded: `make_generator` and `load_model` are
replaced by a function that fails the test when called, and a control run with a sound file shows
that the same command does reach it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import cli, refused  # noqa: F401 (the one-line-refusal helpers)


class ModelLoaded(Exception):
    pass


@pytest.fixture
def no_model(monkeypatch):
    """Loading a model is an error: a refusal must come before it."""
    import entropykit.generation
    import entropykit.models

    def boom(*a, **k):
        raise ModelLoaded("the model was loaded")

    monkeypatch.setattr(entropykit.generation, "make_generator", boom)
    monkeypatch.setattr(entropykit.generation, "load_model", boom)
    monkeypatch.setattr(entropykit.models, "load_model", boom)
    monkeypatch.setattr(entropykit.generation, "choose_backend", lambda *a, **k: "hf")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def jsonl(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def passk_args(bench: Path, out: Path) -> list:
    return ["passk", "--model", "smollm2-135m", "--benchmark", bench, "--k", "2", "--max-tokens", "8", "-q", "--out", out]


# ---- item 6: records that are not text ---------------------------------------------------------


def test_lone_surrogate_in_score_input(tmp_path, capsys):
    src = jsonl(tmp_path / "in.jsonl", '{"prompt": "1+1?", "response": "2"}', '{"prompt": "hi \\ud800", "response": "ok"}')
    before = snapshot(tmp_path)
    refused(capsys, "score", src, "--out", tmp_path / "scored.jsonl",
            contains=("in.jsonl:2:", "'prompt'", "lone surrogate", "\\ud800"))
    assert snapshot(tmp_path) == before


def test_lone_surrogate_in_analyze_input(tmp_path, capsys, no_model):
    src = jsonl(tmp_path / "in.jsonl", '{"prompt": "1+1?", "response": "so \\udc00 two"}')
    before = snapshot(tmp_path)
    refused(capsys, "analyze", src, "--out", tmp_path / "an", contains=("in.jsonl:1:", "'response'", "lone surrogate", "\\udc00"))
    assert snapshot(tmp_path) == before and not (tmp_path / "an").exists()


@pytest.mark.parametrize("name,text,where", [
    ("b.jsonl", '{"problem": "What is 1+1? \\ud800", "answer": "2"}\n', ("b.jsonl:1:", "'problem'")),
    ("b.jsonl", '{"problem": "1+1", "answer": "2"}\n{"problem": "2+2", "answer": "4\\uDBFF"}\n', ("b.jsonl:2:", "'answer'")),
    ("b.json", '[{"problem": "1+1", "answer": "2"}, {"problem": "x \\ud800", "answer": "4"}]', ("b.json: row 2:", "'problem'")),
])
def test_lone_surrogate_in_benchmark_file(tmp_path, capsys, no_model, name, text, where):
    bench = tmp_path / name
    bench.write_text(text, encoding="utf-8")
    refused(capsys, *passk_args(bench, tmp_path / "run"), contains=(*where, "lone surrogate"))
    assert not (tmp_path / "run").exists()


def test_surrogate_pair_loads_and_the_model_is_reached(tmp_path, capsys, no_model):
    """Control: an escaped emoji (a valid pair) is text, and a sound file gets as far as the model,
    so the refusals above really came before it."""
    bench = jsonl(tmp_path / "b.jsonl", '{"problem": "\\ud83d\\ude00 What is 1+1?", "answer": "2"}',
                  '{"problem": "2+2", "answer": "\\\\frac{8}{2}"}')
    from entropykit.benchmarks import load_benchmark

    assert load_benchmark(str(bench)).problems[0].problem.startswith("\U0001F600")
    with pytest.raises(ModelLoaded):
        cli(capsys, *passk_args(bench, tmp_path / "run"))


def test_bad_utf8_is_reported_on_its_line(tmp_path, capsys, no_model):
    """The text layer decodes 8 KB ahead: line 300 used to be reported as line 228 or so."""
    lines = [b'{"problem": "problem number %d, what is %d + 1?", "answer": "%d"}\n' % (i, i, i + 1) for i in range(1, 401)]
    lines[299] = b'{"problem": "bad \xff byte", "answer": "1"}\n'
    bench = tmp_path / "b.jsonl"
    bench.write_bytes(b"".join(lines))
    refused(capsys, *passk_args(bench, tmp_path / "run"), contains=("b.jsonl:300: not UTF-8",))
    recs = [b'{"prompt": "question %d", "response": "the answer is %d"}\n' % (i, i) for i in range(1, 401)]
    recs[299] = b'{"prompt": "bad \xc3(", "response": "x"}\n'
    (tmp_path / "r.jsonl").write_bytes(b"".join(recs))
    refused(capsys, "score", tmp_path / "r.jsonl", "--out", tmp_path / "s.jsonl", contains=("r.jsonl:300: not UTF-8",))
    assert not (tmp_path / "run").exists() and not (tmp_path / "s.jsonl").exists()


# ---- item 6: benchmark files whose golds cannot be graded as meant ------------------------------


def test_every_gold_empty_or_unparsable_refused_before_the_model(tmp_path, capsys, no_model):
    bench = jsonl(tmp_path / "b.jsonl", '{"problem": "1+1", "answer": "\\\\boxed{"}', '{"problem": "2+2", "answer": ""}',
                  '{"problem": "3+3", "answer": "   "}')
    refused(capsys, *passk_args(bench, tmp_path / "run"),
            contains=("b.jsonl: every gold answer is empty or unparsable", "'\\boxed{'"))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("gold,why", [
    ("\\\\frac{1}{", "an unclosed {"),
    ("\\\\begin{matrix} 1 & 2", "\\begin{matrix} without its \\end"),
    ("\\\\left( 1, 2", "\\left without its \\right"),
    ("x^2}", "a } without its {"),
])
def test_malformed_latex_gold_refused_naming_the_row(tmp_path, capsys, no_model, gold, why):
    bench = jsonl(tmp_path / "b.jsonl", '{"id": "p1", "problem": "1+1", "answer": "2"}',
                  '{"id": "p2", "problem": "2+2", "answer": "%s"}' % gold)
    line = refused(capsys, *passk_args(bench, tmp_path / "run"),
                   contains=("b.jsonl: row 2 (id p2)", "malformed LaTeX", why))
    assert "\\\\" not in line  # the gold as the user wrote it, not repr's doubled backslashes
    assert not (tmp_path / "run").exists()


def test_sound_latex_golds_pass_the_check():
    from entropykit.benchmarks import load_benchmark, malformed_latex

    for gold in ("\\{1, 2\\}", "\\left\\{ x \\mid x > 0 \\right\\}", "[0, 1)", "(-\\infty, 3]",
                 "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\frac{\\sqrt{3}}{2}", "\\text{(C)}", "\\$5"):
        assert malformed_latex(gold) is None, gold
    assert not [p.answer for p in load_benchmark("math500") if malformed_latex(p.answer)]


@pytest.mark.parametrize("record,expect", [
    ('{"problem": ["a", "b"], "answer": "2"}', "the problem ('problem') must be a string, got list (['a', 'b'])"),
    ('{"problem": {"text": "1+1"}, "answer": "2"}', "the problem ('problem') must be a string, got dict"),
    ('{"problem": true, "answer": "2"}', "the problem ('problem') must be a string, got bool"),
    ('{"problem": "1+1", "answer": true}', "the answer ('answer') must be a string or a number, got bool (True)"),
    ('{"problem": "1+1", "answer": [2]}', "the answer ('answer') must be a string or a number, got list ([2])"),
    ('{"problem": "1+1", "answer": {"value": 2}}', "the answer ('answer') must be a string or a number, got dict"),
    ('{"problem": "", "answer": "2"}', "row 1: the problem ('problem') is empty"),
    ('{"problem": "  \\n ", "answer": "2"}', "row 1: the problem ('problem') is empty"),
    ('{"problem": "1+1", "answer": null}', "row 1 has no answer"),
])
def test_wrong_types_and_empty_problems_refused(tmp_path, capsys, no_model, record, expect):
    bench = jsonl(tmp_path / "b.jsonl", record)
    refused(capsys, *passk_args(bench, tmp_path / "run"), contains=("b.jsonl: ", expect))
    assert not (tmp_path / "run").exists()


def test_numbers_as_answers_still_load(tmp_path):
    from entropykit.benchmarks import load_benchmark

    bench = jsonl(tmp_path / "b.jsonl", '{"problem": "1+1", "answer": 2}', '{"problem": "1/2", "answer": 0.5}')
    assert [p.answer for p in load_benchmark(str(bench))] == ["2", "0.5"]


# ---- item 7: folders of the wrong kind ----------------------------------------------------------


def _passk_run(d: Path, model: str) -> Path:
    d.mkdir(parents=True)
    c = {"1": 0.25, "2": 0.5}
    summary = {"benchmarks": {"easy": {"num_problems": 2, "n": 2, "mean_accuracy": 0.25, "pass_at_k": c,
                                       "pass_at_k_ci95": {k: [v, v] for k, v in c.items()}}}, "model": model, "sampling": {}}
    (d / "summary.json").write_text(json.dumps(summary))
    (d / "problems.jsonl").write_text("")
    (d / "passk.html").write_text("<!DOCTYPE html><html><head><title>pass@k — m</title></head><body>run</body></html>")
    return d


def _analysis(d: Path) -> Path:
    d.mkdir(parents=True)
    (d / "summary.json").write_text(json.dumps({"num_responses": 1}))
    (d / "responses.jsonl").write_text(json.dumps({"pivotal_per_1k": 1.0, "prompt_key": "p"}) + "\n")
    (d / "report.html").write_text("<!DOCTYPE html><html><head><title>entropykit analyze report</title></head></html>")
    return d


def _reproduce(d: Path) -> Path:
    d.mkdir(parents=True)
    (d / "reproduce.json").write_text("{}")
    (d / "summary.json").write_text(json.dumps({"tool": "entropykit reproduce", "models": {}}))
    (d / "index.html").write_text("<html></html>")
    for name in ("grpo", "base", "grpo-ent"):
        _passk_run(d / name / "passk", name)
        _analysis(d / name / "analysis")
    return d


def test_passk_compare_of_analyze_folders(tmp_path, capsys):
    a, b = _analysis(tmp_path / "an-a"), _analysis(tmp_path / "an-b")
    before = snapshot(tmp_path)
    refused(capsys, "passk", "compare", a, b, "--out", tmp_path / "c.html",
            contains=(f"{a}: an `entropykit analyze` folder, not a passk run", "entropykit analyze compare"))
    assert snapshot(tmp_path) == before


def test_passk_compare_of_reproduce_folders_names_their_runs(tmp_path, capsys):
    r1, r2 = _reproduce(tmp_path / "r1"), _reproduce(tmp_path / "r2")
    before = snapshot(tmp_path)
    line = refused(capsys, "passk", "compare", r1, r2, "--out", tmp_path / "c.html",
                   contains=(f"{r1}: an `entropykit reproduce` folder, not a passk run",
                             f"{r1}/base/passk {r1}/grpo/passk {r1}/grpo-ent/passk"))
    assert line.index("base/passk") < line.index("grpo/passk")  # the base first: the usual A
    assert snapshot(tmp_path) == before


def test_analyze_compare_of_reproduce_and_passk_folders(tmp_path, capsys):
    r1, r2 = _reproduce(tmp_path / "r1"), _reproduce(tmp_path / "r2")
    pa, pb = _passk_run(tmp_path / "pa", "a"), _passk_run(tmp_path / "pb", "b")
    before = snapshot(tmp_path)
    refused(capsys, "analyze", "compare", r1, r2, "--out", tmp_path / "c.html",
            contains=("an `entropykit reproduce` folder, not an analysis", f"{r1}/base/analysis {r1}/grpo/analysis"))
    refused(capsys, "analyze", "compare", pa, pb, "--out", tmp_path / "c.html",
            contains=(f"{pa}: an `entropykit passk` run, not an analysis", "entropykit passk compare"))
    assert snapshot(tmp_path) == before


# ---- item 7: an output over an input run's file --------------------------------------------------


def test_analyze_compare_output_over_run_a_report(tmp_path, capsys):
    a, b = _analysis(tmp_path / "a"), _analysis(tmp_path / "b")
    before = snapshot(tmp_path)
    refused(capsys, "analyze", "compare", a, b, "--out", a / "report.html",
            contains=(f"--out {a}/report.html would replace report.html, a file of the input run {a}",))
    refused(capsys, "analyze", "compare", a, b, "--out", b / "summary.html",
            contains=(f"{b}/summary.json written beside it would replace summary.json, a file of the input run {b}",))
    assert snapshot(tmp_path) == before


def test_passk_compare_output_over_run_files(tmp_path, capsys):
    a, b = _passk_run(tmp_path / "a", "model-a"), _passk_run(tmp_path / "b", "model-b")
    before = snapshot(tmp_path)
    refused(capsys, "passk", "compare", a, b, "--out", a / "passk.html",
            contains=(f"--out {a}/passk.html would replace passk.html, a file of the input run {a}",))
    refused(capsys, "passk", "compare", a, b, "--out", a / "summary.html",
            contains=(f"{a}/summary.json written beside it would replace summary.json",))
    (tmp_path / "link").symlink_to(a)  # the same folder by another name
    refused(capsys, "passk", "compare", a, b, "--out", tmp_path / "link" / "passk.html",
            contains=("would replace passk.html, a file of the input run",))
    assert {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("link")} == before


def test_compare_into_a_run_folder_and_its_rerun_are_allowed(tmp_path, capsys):
    """A new file inside a run folder is fine, and rerunning the same command replaces its own page."""
    a, b = _passk_run(tmp_path / "a", "model-a"), _passk_run(tmp_path / "b", "model-b")
    run_files = snapshot(a)
    for _ in range(2):
        code, _, err = cli(capsys, "passk", "compare", a, b, "--out", a / "compare.html")
        assert code == 0, err
    after = snapshot(a)
    assert {k: after[k] for k in run_files} == run_files and {"compare.html", "compare.json"} <= set(after)


def test_train_report_output_over_run_files(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "metrics.jsonl").write_text(json.dumps({"step": 1, "entropy": 0.5, "reward_mean": 0.1}) + "\n")
    before = snapshot(tmp_path)
    for name in ("metrics.jsonl", "config.json"):
        refused(capsys, "train", "report", run, "-o", run / name,
                contains=(f"--out {run}/{name} would replace {name}, a file of the input run {run}",))
    assert snapshot(tmp_path) == before


def test_train_report_output_over_its_input_file(tmp_path, capsys):
    """A log given as a file (veRL's file logger writes one) is never replaced by the page."""
    log = tmp_path / "verl-metrics.jsonl"
    log.write_text(json.dumps({"step": 1, "data": {"actor/entropy": 0.5}}) + "\n")
    before = snapshot(tmp_path)
    refused(capsys, "train", "report", log, "-o", log, contains=(f"--out {log} would replace the input {log}",))
    assert snapshot(tmp_path) == before
