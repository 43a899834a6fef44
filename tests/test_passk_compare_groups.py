"""Grouped `entropykit passk compare` (issue 25, item 4): several passk runs per side (one per
training seed), `A1 A2 A3 -- B1 B2 B3` or one reproduce folder. On hand-made run folders with a
planted difference, every reported number must be `entropykit.seed_stats`' on the same matrices
(the statistics themselves: tests/test_seed_stats.py); what cannot be compared is refused in one
line with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import cli, pass_at_k, refused
from conftest import passk_run as _passk_run
from entropykit import seed_stats as st

N = 4
KS = (1, 2, 4)
# acc[seed][problem] = c / N; B planted about +20 points above A
A = [[0, 1, 2, 0, 1, 3, 0, 2, 1, 0], [1, 2, 2, 0, 0, 4, 1, 2, 0, 0], [0, 1, 3, 1, 1, 3, 0, 1, 1, 0]]
B = [[2, 2, 3, 1, 2, 4, 1, 3, 2, 1], [1, 3, 3, 1, 2, 4, 2, 2, 1, 0], [2, 2, 4, 0, 1, 4, 1, 3, 2, 1]]
BASE = [0, 1, 1, 0, 0, 2, 0, 1, 0, 0]


def passk_run(d: Path, counts: list[int], *, n: int = N, **kw) -> Path:
    """A finished passk run with `counts[p]` right of n samples on problem p (conftest.passk_run)."""
    return _passk_run(d, [c / n for c in counts], n=n, **kw)


def groups(tmp: Path) -> tuple[list[Path], list[Path]]:
    return ([passk_run(tmp / f"a{i}", c) for i, c in enumerate(A)], [passk_run(tmp / f"b{i}", c) for i, c in enumerate(B)])


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def test_groups_of_runs_are_seed_stats_on_their_matrices(tmp_path, capsys):
    a_dirs, b_dirs = groups(tmp_path)
    out = tmp_path / "cmp.html"
    code, text, err = cli(capsys, "passk", "compare", *a_dirs, "--", *b_dirs, "--out", out)  # an option after --
    assert code == 0, err
    rep = json.loads(out.with_suffix(".json").read_text())
    a, b = np.array(A) / N, np.array(B) / N
    e = rep["benchmarks"]["easy"]
    assert e["problems"] == 10 and e["samples_per_problem"] == N and e["ks"] == list(KS)
    assert e["groups"]["A"]["mean_accuracy"] == pytest.approx(a.mean())
    assert e["groups"]["B"]["seeds"] == pytest.approx(list(b.mean(axis=1)))
    p = e["pairs"][0]
    boot = st.two_level_bootstrap_diff(a, b, n_resamples=4000, rng=0)
    t = st.t_interval_diff(a, b, N)
    poi = st.probability_of_improvement(a, b, n_resamples=4000, rng=0)
    assert (p["a"], p["b"], p["seeds"]) == ("A", "B", {"a": 3, "b": 3})
    assert p["diff"] == pytest.approx(b.mean() - a.mean()) and p["diff"] > 0.15  # the planted difference
    assert p["bootstrap_ci95"] == pytest.approx([boot.low, boot.high])
    assert p["t_ci95"] == pytest.approx([t.low, t.high]) and p["t_df"] == pytest.approx(t.df)
    assert p["probability_of_improvement"]["estimate"] == pytest.approx(poi.estimate)
    assert p["probability_of_improvement"]["ci95"] == pytest.approx([poi.low, poi.high])
    assert p["significant"] == bool(boot.excludes(0) and t.excludes(0))
    # pass@k per side: the mean over seeds; its difference with the two-level CI
    pk = {side: np.array([[pass_at_k(N, c, 2) for c in row] for row in m]) for side, m in (("A", A), ("B", B))}
    assert e["groups"]["A"]["pass_at_k"]["2"] == pytest.approx(pk["A"].mean())
    b2 = st.two_level_bootstrap_diff(pk["A"], pk["B"], n_resamples=4000, rng=0)
    assert p["pass_at_k"]["2"]["diff"] == pytest.approx(b2.estimate)
    assert p["pass_at_k"]["2"]["ci95"] == pytest.approx([b2.low, b2.high])
    assert p["pass_at_k"]["1"]["diff"] == pytest.approx(p["diff"])  # pass@1 is the accuracy
    assert len(e["groups"]["B"]["pass_at_k_per_run"]) == 3 and "crossover" in p
    # the terminal and the page
    flat = " ".join(text.split())
    assert f"B - A │ {100 * p['diff']:+.1f} │ [{100 * boot.low:+.1f}, {100 * boot.high:+.1f}]" in flat
    assert "A │ 3 │" in flat and ", ".join(f"{100 * x:.1f}" for x in a.mean(axis=1)) in flat
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<title>pass@k comparison: A (3 runs) vs B (3 runs)</title>" in html
    assert "two-level bootstrap 95% CI" in html and "src=\"http" not in html  # offline: plotly.js is inlined
    # --vs is the same separator (for shells and wrappers that eat --), and --labels names the groups
    out2 = tmp_path / "vs.html"
    code, _, err = cli(capsys, "passk", "compare", *a_dirs, "--vs", *b_dirs, "--out", out2, "--labels", "GRPO,GRPO-ent")
    assert code == 0, err
    rep2 = json.loads(out2.with_suffix(".json").read_text())
    assert rep2["benchmarks"]["easy"]["pairs"][0]["bootstrap_ci95"] == p["bootstrap_ci95"]
    assert list(rep2["benchmarks"]["easy"]["groups"]) == ["GRPO", "GRPO-ent"]
    # a rerun replaces its own page
    assert cli(capsys, "passk", "compare", *a_dirs, "--", *b_dirs, "--out", out)[0] == 0


def test_a_one_run_group_is_the_base_only_when_said_so(tmp_path, capsys):
    base = passk_run(tmp_path / "base", BASE)
    _, b_dirs = groups(tmp_path)
    out = tmp_path / "c.html"
    base_m, b = np.array(BASE) / N, np.array(B) / N
    bb = st.bootstrap_diff_vs_base(base_m, b, n_resamples=4000, rng=0)
    # not said: one training seed of a method; the bootstrap holds it fixed, the t interval is null and says why
    code, text, err = cli(capsys, "passk", "compare", base, "--", *b_dirs, "--out", out)
    assert code == 0, err
    rep = json.loads(out.with_suffix(".json").read_text())
    assert rep["groups"][0]["fixed"] and not rep["groups"][0]["base"]
    assert "A has one run: the bootstrap holds it fixed" in rep["notes"][0] and "--base-group A" in rep["notes"][0]
    p = rep["benchmarks"]["easy"]["pairs"][0]
    assert p["t_ci95"] == [None, None] and p["t_df"] is None and p["significant"] is False
    assert "A has one training seed" in p["ci_note"] and "the t interval needs 2 seeds" in p["ci_note"]
    assert p["bootstrap_ci95"] == pytest.approx([bb.low, bb.high])  # still reported, with P(improvement)
    assert p["probability_of_improvement"]["ci95"][0] is not None
    flat = " ".join(text.split())
    assert "A has one run" in flat and "B - A: A has one training seed" in flat
    assert "the t interval needs 2 seeds" in out.read_text()
    # --base-group A: the untrained base, its t interval exact
    code, text, err = cli(capsys, "passk", "compare", base, "--", *b_dirs, "--base-group", "A", "--out", out)
    assert code == 0, err
    rep = json.loads(out.with_suffix(".json").read_text())
    assert rep["groups"][0]["base"] and rep["notes"] == []
    p = rep["benchmarks"]["easy"]["pairs"][0]
    t = st.t_interval_diff(base_m, b, N, a_is_base=True)
    assert p["t_ci95"] == pytest.approx([t.low, t.high]) and "ci_note" not in p
    assert p["bootstrap_ci95"] == pytest.approx([bb.low, bb.high])
    # the base on the B side: the same interval, turned around
    code, _, err = cli(capsys, "passk", "compare", *b_dirs, "--", base, "--base-group", "B", "--out", out)
    assert code == 0, err
    q = json.loads(out.with_suffix(".json").read_text())["benchmarks"]["easy"]["pairs"][0]
    assert q["diff"] == pytest.approx(-p["diff"]) and q["t_ci95"] == pytest.approx([-t.high, -t.low])
    # what --base-group cannot name
    o = ("--out", out)
    refused(capsys, "passk", "compare", base, "--", *b_dirs, "--base-group", "C", *o, contains=("no such group", "A, B"))
    refused(capsys, "passk", "compare", base, "--", *b_dirs, "--base-group", "B", *o,
            contains=("the base group B is one untrained model", "not 3"))
    refused(capsys, "passk", "compare", base, b_dirs[0], "--base-group", "A", *o, contains=("--base-group names a group",))


def test_every_pair_of_groups_is_compared_the_first_against_each_first(tmp_path, capsys):
    a_dirs, b_dirs = groups(tmp_path)
    c_counts = [[min(N, c + 1) for c in row] for row in B]
    c_dirs = [passk_run(tmp_path / f"c{i}", row) for i, row in enumerate(c_counts)]
    out = tmp_path / "abc.html"
    code, text, err = cli(capsys, "passk", "compare", *a_dirs, "--", *b_dirs, "--", *c_dirs, "--out", out)
    assert code == 0, err
    rep = json.loads(out.with_suffix(".json").read_text())
    got = rep["benchmarks"]["easy"]["pairs"]
    assert [(p["a"], p["b"]) for p in got] == [("A", "B"), ("A", "C"), ("B", "C")]
    boot = st.two_level_bootstrap_diff(np.array(B) / N, np.array(c_counts) / N, n_resamples=4000, rng=0)
    assert got[2]["bootstrap_ci95"] == pytest.approx([boot.low, boot.high])
    assert "C - B" in text


def make_reproduce(root: Path, seeds: int = 3) -> Path:
    from entropykit.reproduce.layout import Layout, run_name

    root.mkdir(parents=True)
    (root / "reproduce.json").write_text(json.dumps({"preset": "smoke", "variants": ["grpo", "grpo-ent"], "seed": 0,
                                                     "seeds": seeds}))
    lay = Layout(root)
    passk_run(lay.passk("base"), BASE, bench="arith-eval")
    for v, m in (("grpo", A), ("grpo-ent", B)):
        for i in range(seeds):
            passk_run(lay.passk(run_name(v, i)), m[i], bench="arith-eval")
    return root


PAIR_KEYS = ("a", "b", "diff", "bootstrap_ci95", "t_ci95", "t_df", "significant", "probability_of_improvement", "seeds",
             "ci_note")


def shared_part(pair: dict, labels: dict | None = None) -> dict:
    """What `group_stats.compare_pair` gave a pair (the grouped compare and the across-seeds table
    both report it); `labels` maps the table's variant names to the compare's group labels."""
    got = {k: pair.get(k) for k in PAIR_KEYS}
    if labels:
        got["a"], got["b"] = labels[got["a"]], labels[got["b"]]
    return got


def test_a_reproduce_folder_is_its_groups_with_the_numbers_of_its_table(tmp_path, capsys):
    from entropykit.reproduce.config import ReproduceConfig
    from entropykit.reproduce.layout import Layout, label
    from entropykit.reproduce.seeds import seed_summary

    root = make_reproduce(tmp_path / "exp")
    out = tmp_path / "r.html"
    code, text, err = cli(capsys, "passk", "compare", root, "--out", out)
    assert code == 0, err
    rep = json.loads(out.with_suffix(".json").read_text())
    assert [g["label"] for g in rep["groups"]] == ["base", "GRPO", "GRPO + entropy adv."]
    assert [len(g["runs"]) for g in rep["groups"]] == [1, 3, 3] and rep["notes"] == []  # the base is fixed by design
    assert [g["base"] for g in rep["groups"]] == [True, False, False]
    cfg = ReproduceConfig(out=str(root), variants=["grpo", "grpo-ent"], seeds=3)
    table = seed_summary(cfg, Layout(root))
    got = rep["benchmarks"]["arith-eval"]["pairs"]
    assert [(p["a"], p["b"]) for p in got] == [("base", "GRPO"), ("base", "GRPO + entropy adv."),
                                                ("GRPO", "GRPO + entropy adv.")]
    names = {v: label(v) for v in ("base", "grpo", "grpo-ent")}
    assert [shared_part(p) for p in got] == [shared_part(p, names) for p in table["pairs"]]  # one function, same numbers
    assert "GRPO + entropy adv. - GRPO" in text
    # two reproduce folders are still refused, and the line says how to give one
    other = make_reproduce(tmp_path / "exp2")
    refused(capsys, "passk", "compare", root, other, "--out", tmp_path / "x.html",
            contains=("an `entropykit reproduce` folder, not a passk run", f"entropykit passk compare {root}"))
    refused(capsys, "passk", "compare", root, "--base-group", "base", "--out", tmp_path / "x.html",
            contains=("--base-group", "give the folder alone"))


def test_one_training_seed_gets_the_same_null_t_interval_in_both_commands(tmp_path, capsys):
    from entropykit.reproduce.layout import label

    root = make_reproduce(tmp_path / "one", seeds=1)
    out = tmp_path / "one.html"
    code, text, err = cli(capsys, "passk", "compare", root, "--out", out)
    assert code == 0, err
    got = json.loads(out.with_suffix(".json").read_text())["benchmarks"]["arith-eval"]["pairs"]
    code, power, err = cli(capsys, "reproduce", "power", root, "--json")
    assert code == 0, err
    names = {v: label(v) for v in ("base", "grpo", "grpo-ent")}
    assert [shared_part(p) for p in got] == [shared_part(p, names) for p in json.loads(power)["pairs"]]
    for p in got:  # a trained side with one seed: no t interval, and the reason
        assert p["t_ci95"] == [None, None] and p["significant"] is False and p["bootstrap_ci95"][0] is not None
    assert "GRPO has one training seed" in got[0]["ci_note"]
    assert "GRPO and GRPO + entropy adv. have one training seed" in got[2]["ci_note"]
    assert "the t interval needs 2 seeds" in " ".join(text.split())
    notes = json.loads(out.with_suffix(".json").read_text())["notes"]
    assert notes[0].startswith("GRPO has one run") and "--base-group" not in notes[0]  # the folder's base is known


def test_a_partly_finished_reproduce_folder_says_which_seeds_are_missing(tmp_path, capsys):
    from entropykit.reproduce.layout import Layout

    root = make_reproduce(tmp_path / "part")
    (Layout(root).passk("grpo-ent-seed2") / "problems.jsonl").unlink()  # its evaluation has not finished
    out = tmp_path / "part.html"
    code, text, err = cli(capsys, "passk", "compare", root, "--out", out)
    assert code == 0, err
    rep = json.loads(out.with_suffix(".json").read_text())
    note = "GRPO + entropy adv.: 2 of 3 seeds evaluated (grpo-ent-seed2 not yet)"
    assert rep["notes"] == [note] and [len(g["runs"]) for g in rep["groups"]] == [1, 3, 2]
    assert note in " ".join(text.split()) and note in out.read_text()
    assert rep["benchmarks"]["arith-eval"]["pairs"][2]["seeds"] == {"a": 3, "b": 2}


def test_one_sample_or_one_problem_gives_a_null_t_interval_and_a_note(tmp_path, capsys):
    out = tmp_path / "c.html"
    for name, n, cut in (("one sample per problem", 1, 10), ("one problem", N, 1)):
        acc_a = [[min(c, n) / n for c in row[:cut]] for row in A]
        acc_b = [[min(c, n) / n for c in row[:cut]] for row in B]
        a_dirs = [_passk_run(tmp_path / f"{name}-a{i}", row, n=n) for i, row in enumerate(acc_a)]
        b_dirs = [_passk_run(tmp_path / f"{name}-b{i}", row, n=n) for i, row in enumerate(acc_b)]
        code, text, err = cli(capsys, "passk", "compare", *a_dirs, "--", *b_dirs, "--out", out)
        assert code == 0 and "Traceback" not in err, err
        p = json.loads(out.with_suffix(".json").read_text())["benchmarks"]["easy"]["pairs"][0]
        assert p["t_ci95"] == [None, None] and p["significant"] is False
        assert p["ci_note"].startswith(f"{name}: the t interval needs 2 or more")
        boot = st.two_level_bootstrap_diff(acc_a, acc_b, n_resamples=4000, rng=0)
        poi = st.probability_of_improvement(acc_a, acc_b, n_resamples=4000, rng=0)
        assert p["bootstrap_ci95"] == pytest.approx([boot.low, boot.high])  # still reported
        assert p["probability_of_improvement"]["estimate"] == pytest.approx(poi.estimate)
        assert f"B - A: {name}: the t interval needs 2 or more" in " ".join(text.split())


def test_a_bad_problems_row_is_one_line_naming_its_file_and_line(tmp_path, capsys):
    a_dirs, b_dirs = groups(tmp_path)
    f = b_dirs[1] / "problems.jsonl"
    lines = f.read_text().splitlines()
    row = json.loads(lines[2])
    out = ("--out", tmp_path / "c.html")
    for change, says in ((lambda r: r.pop("accuracy"), "missing field(s) 'accuracy'"),
                         (lambda r: r.update(accuracy="high"), "'accuracy' must be a number between 0 and 1"),
                         (lambda r: r.update(n=0), "'n' (samples) must be a whole number >= 1"),
                         (lambda r: r.update(problem_id="p0"), "problem p0 appears twice (also line 1)")):
        bad = dict(row)
        change(bad)
        f.write_text("\n".join([*lines[:2], json.dumps(bad), *lines[3:]]) + "\n")
        refused(capsys, "passk", "compare", *a_dirs, "--", *b_dirs, *out, contains=(f"{f}:3: ", says))
    f.write_text("\n".join([*lines[:2], "{not json", *lines[3:]]) + "\n")
    refused(capsys, "passk", "compare", *a_dirs, "--", *b_dirs, *out, contains=(f"{f}:3: malformed JSON",))


def test_runs_pair_by_problem_id_not_by_row_order(tmp_path, capsys):
    a_dirs, b_dirs = groups(tmp_path)
    first, again = tmp_path / "first.html", tmp_path / "again.html"
    assert cli(capsys, "passk", "compare", *a_dirs, "--", *b_dirs, "--out", first)[0] == 0
    for d in (a_dirs[0], b_dirs[1]):  # the first run (whose problems other runs are matched to) and another one
        f = d / "problems.jsonl"
        f.write_text("\n\n".join(reversed(f.read_text().splitlines())) + "\n")  # reversed, blank lines between
    assert cli(capsys, "passk", "compare", *a_dirs, "--", *b_dirs, "--out", again)[0] == 0
    got, want = (json.loads(p.with_suffix(".json").read_text())["benchmarks"] for p in (again, first))
    assert got == want


def test_what_cannot_be_compared_is_refused_in_one_line(tmp_path, capsys):
    a_dirs, b_dirs = groups(tmp_path)
    out = ("--out", tmp_path / "c.html")
    refused(capsys, "passk", "compare", *a_dirs, "--", *out, contains=("no run folder after the last --",))
    refused(capsys, "passk", "compare", "--", *b_dirs, *out, contains=("no run folder before the first --",))
    refused(capsys, "passk", "compare", a_dirs[0], "--", "--", b_dirs[0], *out, contains=("no run folder between",))
    root = make_reproduce(tmp_path / "exp")
    refused(capsys, "passk", "compare", root, "--", *b_dirs, *out, contains=("holds its own groups", "not with --"))
    refused(capsys, "passk", "compare", *a_dirs, "--", *b_dirs, "--labels", "x,y,z", *out, contains=("one label per group",))
    refused(capsys, "passk", "compare", *a_dirs, "--", a_dirs[0], *out, contains=("given twice",))
    other_ids = passk_run(tmp_path / "other-ids", B[0], ids=[f"q{i}" for i in range(10)])
    refused(capsys, "passk", "compare", *a_dirs, "--", b_dirs[0], other_ids, *out,
            contains=("different problems of easy", "lacks problem p0"))
    fewer = passk_run(tmp_path / "fewer", B[0][:9])
    refused(capsys, "passk", "compare", *a_dirs, "--", fewer, *out, contains=("different problems",))
    other_n = passk_run(tmp_path / "other-n", [2 * c for c in B[0]], n=8)
    refused(capsys, "passk", "compare", *a_dirs, "--", other_n, *out, contains=("n=8", "same n"))
    other_bench = passk_run(tmp_path / "other-bench", B[0], bench="math500")
    refused(capsys, "passk", "compare", *a_dirs, "--", other_bench, *out, contains=("holds benchmarks math500",))
    hot = passk_run(tmp_path / "hot", B[0], sampling={"temperature": 1.0})
    refused(capsys, "passk", "compare", *a_dirs, "--", hot, *out, contains=("temperature 1.0",))
    assert not (tmp_path / "c.html").exists()
    # other sample seeds: compared, paired by problem only, and said so
    reseeded = [passk_run(tmp_path / f"s{i}", c, sampling={"seed": 7}) for i, c in enumerate(B)]
    code, _, err = cli(capsys, "passk", "compare", *a_dirs, "--", *reseeded, *out)
    assert code == 0, err
    notes = json.loads((tmp_path / "c.json").read_text())["benchmarks"]["easy"]["notes"]
    assert notes and "paired by problem, not by sample" in notes[0]


def test_plain_compare_of_single_runs_is_unchanged(tmp_path, capsys):
    a, b = passk_run(tmp_path / "a", A[0]), passk_run(tmp_path / "b", B[0])
    out = tmp_path / "p.html"
    code, _, err = cli(capsys, "passk", "compare", a, b, "--out", out)
    assert code == 0, err
    rep = json.loads(out.with_suffix(".json").read_text())
    assert [r["label"] for r in rep["runs"]] == ["a", "b"] and rep["benchmarks"]["easy"]["crossovers"]
    assert "groups" not in rep and rep["benchmarks"]["easy"]["paired"][0]["problems"] == 10


def test_help_says_how_to_give_groups():
    import subprocess
    import sys

    exe = str(Path(sys.executable).parent / "entropykit")
    r = subprocess.run([exe, "passk", "compare", "--help"], capture_output=True, text=True, timeout=120,
                       env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    flat = " ".join(r.stdout.split())
    assert r.returncode == 0 and "separated by -- or --vs (A1 A2 A3 -- B1 B2 B3)" in flat
    assert "one `entropykit reproduce` folder" in flat
    assert "for every pair of groups (the first group against each other first" in flat and "--base-group" in flat


@pytest.mark.browser
def test_grouped_page_draws_its_plots_offline(chromium_exe, tmp_path, capsys):
    import subprocess

    a_dirs, b_dirs = groups(tmp_path)
    out = tmp_path / "g.html"
    assert cli(capsys, "passk", "compare", *a_dirs, "--", *b_dirs, "--out", out)[0] == 0
    flags = [chromium_exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=30000", "--window-size=1200,900", "--dump-dom", out.as_uri()]
    dom = subprocess.run(flags, capture_output=True, text=True, timeout=180)
    assert dom.returncode == 0, dom.stderr[-2000:]
    status = dom.stdout.split('id="ek-status">', 1)[1].split("<", 1)[0]
    assert status.startswith("ok plots=2/2"), status  # the pass@k curves and the dots per seed
