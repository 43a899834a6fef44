"""`entropykit reproduce power DIR` (issue 25, item 3): the power of a reproduce experiment from
its own runs, on hand-made run folders. Every number printed must be `entropykit.seed_stats`'
on the same accuracy matrices (the statistics themselves are tested in tests/test_seed_stats.py);
one training seed says "not estimable" instead of a number; bad input is one line, exit 2."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from conftest import cli, passk_run, refused
from entropykit import seed_stats as st
from entropykit.reproduce.layout import Layout, run_name

N = 4  # samples per problem
BASE = [0.0, 0.25, 0.5, 0.0, 0.25, 0.75, 0.0, 0.5]
GRID = {  # variant -> seed rows; grpo-ent is planted ~ +15 points above grpo
    "grpo": [[0.25, 0.5, 0.5, 0.0, 0.25, 0.75, 0.25, 0.5], [0.0, 0.5, 0.75, 0.25, 0.25, 1.0, 0.0, 0.5],
             [0.25, 0.25, 0.5, 0.0, 0.5, 0.75, 0.25, 0.25]],
    "grpo-ent": [[0.5, 0.5, 1.0, 0.25, 0.5, 1.0, 0.25, 0.75], [0.25, 0.75, 0.75, 0.25, 0.5, 1.0, 0.5, 0.5],
                 [0.5, 0.5, 0.75, 0.5, 0.25, 0.75, 0.25, 0.75]],
}
TRAIN_S, PASSK_S = 600.0, 64.0  # stage seconds: per training seed; per evaluation of 8 problems x 4 samples


def _problems(lay: Layout, name: str, acc: list[float], n: int = N, ids=None) -> None:
    passk_run(lay.passk(name), acc, n=n, ids=ids, bench="arith-eval")


def make_experiment(root: Path, seeds: int = 3, grid: dict | None = None, *, stages: bool = True, n: int = N) -> Path:
    grid = grid or GRID
    root.mkdir(parents=True, exist_ok=True)
    (root / "reproduce.json").write_text(json.dumps({"preset": "smoke", "variants": list(grid), "seed": 0,
                                                     **({"seeds": seeds} if seeds > 1 else {})}))
    lay = Layout(root)
    _problems(lay, "base", BASE, n=n)
    for v, rows in grid.items():
        for i, row in enumerate(rows[:seeds]):
            _problems(lay, run_name(v, i), row, n=n)
    if stages:
        st_ = {"passk base": {"seconds": PASSK_S}}
        for v in grid:
            for i in range(seeds):
                st_[f"train {run_name(v, i)}"] = {"seconds": TRAIN_S}
                st_[f"passk {run_name(v, i)}"] = {"seconds": PASSK_S}
        (root / "stages.json").write_text(json.dumps({"stages": st_}))
    return root


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # table cells on one line each, so the tests read them whole


def power_json(capsys, *args) -> dict:
    code, out, err = cli(capsys, "reproduce", "power", *args, "--json")
    assert code == 0 and err == "", err
    return json.loads(out)


def test_every_number_is_seed_stats_on_the_same_matrices(tmp_path, capsys):
    root = make_experiment(tmp_path / "exp")
    rep = power_json(capsys, root, "--delta", "10", "--power", "0.9", "--alpha", "0.1")
    a, b, base = np.array(GRID["grpo"]), np.array(GRID["grpo-ent"]), np.array(BASE)
    pairs = {(p["a"], p["b"]): p for p in rep["pairs"]}
    assert list(pairs) == [("base", "grpo"), ("base", "grpo-ent"), ("grpo", "grpo-ent")]
    p = pairs[("grpo", "grpo-ent")]
    boot = st.two_level_bootstrap_diff(a, b, n_resamples=4000, rng=0)
    t = st.t_interval_diff(a, b, N)
    poi = st.probability_of_improvement(a, b, n_resamples=4000, rng=0)
    pc = st.pair_components(a, b, N)
    assert p["diff"] == pytest.approx(b.mean() - a.mean()) == pytest.approx(boot.estimate)
    assert p["bootstrap_ci95"] == pytest.approx([boot.low, boot.high])
    assert p["t_ci95"] == pytest.approx([t.low, t.high]) and p["t_df"] == pytest.approx(t.df)
    assert p["probability_of_improvement"]["estimate"] == pytest.approx(poi.estimate)
    assert p["probability_of_improvement"]["ci95"] == pytest.approx([poi.low, poi.high])
    pw = p["power"]
    assert pw["components"]["interaction"] == pytest.approx(pc.interaction)
    assert pw["components"]["a"]["seed"] == pytest.approx(pc.a.seed)
    assert pw["components"]["b"]["bernoulli"] == pytest.approx(pc.b.bernoulli)
    assert pw["se"] == pytest.approx(st.difference_se(pc, 3, 8, N))
    assert pw["mde"] == pytest.approx(st.minimum_detectable_difference(pc, 3, 8, N, alpha=0.1, power=0.9))
    assert pw["mde_80"] == pytest.approx(st.minimum_detectable_difference(pc, 3, 8, N))
    assert pw["delta"] == pytest.approx(0.10)  # --delta is in points
    assert pw["to_detect_delta"] == {lv: st.required_size(pc, 0.10, lv, 3, 8, N, alpha=0.1, power=0.9)
                                     for lv in ("seeds", "problems", "samples")}
    per_sample = PASSK_S / (8 * N)
    tr = st.compute_tradeoff(pc, 3, 8, N, seconds_per_seed=TRAIN_S, seconds_per_sample=per_sample, alpha=0.1, power=0.9)
    assert pw["next_hour"]["best"] == tr["best"]
    for lv in ("seeds", "problems", "samples"):
        assert pw["next_hour"]["levers"][lv]["se_after"] == pytest.approx(tr["levers"][lv]["se_after"])
    assert rep["costs"]["seconds_per_training_seed"] == TRAIN_S
    assert rep["costs"]["seconds_per_evaluated_sample"] == pytest.approx(per_sample)
    # against the base: only the trained side's seeds are resampled
    q = pairs[("base", "grpo-ent")]
    bb = st.bootstrap_diff_vs_base(base, b, n_resamples=4000, rng=0)
    assert q["bootstrap_ci95"] == pytest.approx([bb.low, bb.high]) and q["seeds"] == {"a": 1, "b": 3}
    pcb = st.pair_components(base, b, N, a_is_base=True)
    assert q["power"]["mde"] == pytest.approx(st.minimum_detectable_difference(pcb, 3, 8, N, alpha=0.1, power=0.9))
    assert rep["methods"]["grpo"]["seeds"] == pytest.approx(list(a.mean(axis=1)))


def test_the_table_shows_the_pair_and_where_the_hour_goes(tmp_path, capsys):
    root = make_experiment(tmp_path / "exp")
    code, out, err = cli(capsys, "reproduce", "power", root, "--delta", "5")
    assert code == 0 and err == ""
    rep = power_json(capsys, root)
    p = rep["pairs"][2]
    flat = " ".join(out.split())
    assert "GRPO + entropy adv. - GRPO" in out
    assert f"{100 * p['diff']:+.1f}" in out
    lo, hi = p["bootstrap_ci95"]
    assert f"[{100 * lo:+.1f}, {100 * hi:+.1f}]" in out
    assert f"detectable at 80% power, alpha 0.05 │ {100 * p['power']['mde']:.1f}" in flat
    assert "SD between seeds" in out and "SD method x problem" in out and "SD sampling" in out
    assert f"seeds per method: {p['power']['to_detect_delta']['seeds']} (now 3)" in flat
    best = p["power"]["next_hour"]["best"]
    assert f"best: +{p['power']['next_hour']['levers'][best]['units_for_budget']:.1f} " in out and "740" not in out and "600 s per training seed" in flat


def test_one_seed_says_not_estimable_and_what_it_assumes(tmp_path, capsys):
    root = make_experiment(tmp_path / "one", seeds=1)
    rep = power_json(capsys, root)
    p = {(x["a"], x["b"]): x for x in rep["pairs"]}[("grpo", "grpo-ent")]
    pw = p["power"]
    assert pw["estimable"] is False and pw["mde"] is None and pw["se"] is None and "next_hour" not in pw
    assert set(pw["to_detect_delta"].values()) == {None}
    assert "cannot be estimated from one run" in pw["not_estimable"] and "--seeds" in pw["not_estimable"]
    a, b = np.array(GRID["grpo"][:1]), np.array(GRID["grpo-ent"][:1])
    pc = st.pair_components(a, b, N)
    assert math.isnan(st.difference_se(pc, 1, 8, N))  # the statistics agree: unknown
    lower = math.sqrt(pc.interaction / 8 + (pc.a.bernoulli + pc.b.bernoulli) / (N * 8)) * 2.8015852
    assert pw["mde_if_no_seed_variance"] == pytest.approx(lower, rel=1e-6)
    assert p["t_ci95"] == [None, None] and "covers problems and sampling only" in p["ci_note"]
    code, out, _ = cli(capsys, "reproduce", "power", root)
    flat = " ".join(out.split())
    assert code == 0
    assert "not estimable: GRPO and GRPO + entropy adv. have one training seed" in flat
    assert "assumes no variance between seeds: a lower bound" in flat
    assert "A not estimable (1 seed)" in flat


def test_one_seed_against_three_uses_each_methods_seeds(tmp_path, capsys):
    """GRPO with 3 finished seeds, GRPO + ent with 1: the lower bound is that of the real design
    (3 and 1 seeds), not of 1 and 1 (which counted GRPO's known seed variance three times)."""
    root = make_experiment(tmp_path / "three-one")
    for i in (1, 2):
        (Layout(root).passk(run_name("grpo-ent", i)) / "problems.jsonl").unlink()
    p = {(x["a"], x["b"]): x for x in power_json(capsys, root)["pairs"]}[("grpo", "grpo-ent")]
    a, b = np.array(GRID["grpo"]), np.array(GRID["grpo-ent"][:1])
    pc = st.pair_components(a, b, N)
    z = 2.8015852  # z_0.975 + z_0.8
    by_hand = z * math.sqrt(pc.a.seed / 3 + pc.interaction / 8 + (pc.a.seed_problem + pc.a.bernoulli / N) / (3 * 8)
                            + pc.b.bernoulli / (N * 8))  # B's seed components unknown: left out
    got = p["power"]["mde_if_no_seed_variance"]
    assert got == pytest.approx(by_hand, rel=1e-6)
    at_one = z * math.sqrt(pc.a.seed + pc.interaction / 8 + (pc.a.seed_problem + pc.a.bernoulli / N) / 8
                           + pc.b.bernoulli / (N * 8))
    assert got < at_one  # what the smaller count gave, the "lower bound" above the real design's
    assert p["power"]["design"]["seeds"] == {"a": 3, "b": 1} and p["t_ci95"] == [None, None]
    assert p["ci_note"].startswith("GRPO + entropy adv. has one training seed")


def test_every_pair_is_compared_figure8_pairs_first(tmp_path, capsys):
    grid = {**GRID, "grpo-entreg": [[min(1.0, x + 0.25) for x in row] for row in GRID["grpo"]]}
    root = make_experiment(tmp_path / "three", grid=grid)
    rep = power_json(capsys, root)
    assert [(x["a"], x["b"]) for x in rep["pairs"]] == [
        ("base", "grpo"), ("base", "grpo-ent"), ("base", "grpo-entreg"), ("grpo", "grpo-ent"),
        ("grpo-entreg", "grpo-ent"), ("grpo", "grpo-entreg")]  # the last: no Figure-8 pair, compared all the same
    a, c = np.array(GRID["grpo"]), np.array(grid["grpo-entreg"])
    boot = st.two_level_bootstrap_diff(a, c, n_resamples=4000, rng=0)
    assert rep["pairs"][-1]["bootstrap_ci95"] == pytest.approx([boot.low, boot.high])


def test_pairing_is_by_problem_id_not_row_order(tmp_path, capsys):
    root = make_experiment(tmp_path / "exp")
    first = power_json(capsys, root)
    for name in ("base", "grpo-seed1", "grpo-ent"):  # the base (whose problems the others match) and two runs
        f = Layout(root).passk(name) / "problems.jsonl"
        f.write_text("\n\n".join(reversed(f.read_text().splitlines())) + "\n")  # reversed, blank lines between
    assert power_json(capsys, root) == first


def test_one_sample_per_problem_is_not_estimable_not_a_traceback(tmp_path, capsys):
    root = make_experiment(tmp_path / "n1", n=1)  # each problem's accuracy rounded to 0 or 1
    rep = power_json(capsys, root)
    p = rep["pairs"][2]
    assert p["t_ci95"] == [None, None] and p["ci_note"].startswith("one sample per problem")
    assert p["power"]["estimable"] is False and p["power"]["components"] is None
    assert p["power"]["not_estimable"].startswith("one sample per problem")
    assert p["bootstrap_ci95"][0] is not None and p["probability_of_improvement"]["estimate"] is not None
    code, out, err = cli(capsys, "reproduce", "power", root)
    assert code == 0 and err == "" and "not estimable: one sample per problem" in " ".join(out.split())


def test_a_partly_finished_experiment_uses_its_finished_runs(tmp_path, capsys):
    root = make_experiment(tmp_path / "part")
    lay = Layout(root)
    (lay.passk("grpo-ent-seed2") / "problems.jsonl").unlink()  # its evaluation has not finished
    rep = power_json(capsys, root)
    assert rep["notes"] == ["GRPO + entropy adv.: 2 of 3 seeds evaluated (grpo-ent-seed2 not yet)"]
    p = {(x["a"], x["b"]): x for x in rep["pairs"]}[("grpo", "grpo-ent")]
    assert p["seeds"] == {"a": 3, "b": 2} and p["power"]["design"]["seeds"] == {"a": 3, "b": 2}
    assert "GRPO has 3 finished seeds and GRPO + entropy adv. 2" in p["power"]["design_note"]
    assert rep["seeds"] is None and rep["seeds_per_method"] == {"grpo": 3, "grpo-ent": 2}
    assert rep["training_seeds"] == {"grpo": [0, 1, 2], "grpo-ent": [0, 1]}
    a, b = np.array(GRID["grpo"]), np.array(GRID["grpo-ent"][:2])
    pc = st.pair_components(a, b, N)
    assert p["diff"] == pytest.approx(b.mean() - a.mean())
    # each method with its own seeds: 3 and 2, not 2 and 2
    assert p["power"]["mde"] == pytest.approx(st.minimum_detectable_difference(pc, (3, 2), 8, N))
    assert p["power"]["mde"] < st.minimum_detectable_difference(pc, 2, 8, N)
    assert p["power"]["to_detect_delta"]["problems"] == st.required_size(pc, 0.05, "problems", (3, 2), 8, N)
    code, out, _ = cli(capsys, "reproduce", "power", root)
    assert code == 0 and "seeds per method: " in out and "(now A 3, B 2)" in " ".join(out.split())
    # a variant none of whose runs finished is left out, with its pairs
    for i in range(3):
        (lay.passk(run_name("grpo-ent", i)) / "problems.jsonl").unlink(missing_ok=True)
    rep = power_json(capsys, root)
    assert [(x["a"], x["b"]) for x in rep["pairs"]] == [("base", "grpo")]
    # no stage times: nothing priced, said so
    (root / "stages.json").unlink()
    rep = power_json(capsys, root)
    assert "next_hour" not in rep["pairs"][0]["power"]
    code, out, _ = cli(capsys, "reproduce", "power", root)
    assert code == 0 and "cannot be priced" in " ".join(out.split())


def test_bad_input_is_one_line_exit_2(tmp_path, capsys):
    root = make_experiment(tmp_path / "exp")
    for value in ("0", "-1", "nan", "inf", "101"):
        refused(capsys, "reproduce", "power", root, "--delta", value, contains=("--delta", "points"))
    refused(capsys, "reproduce", "power", root, "--power", "1", contains=("--power",))
    refused(capsys, "reproduce", "power", root, "--alpha", "0", contains=("--alpha",))
    refused(capsys, "reproduce", "power", tmp_path / "nope", contains=("not a folder",))
    plain = tmp_path / "plain"
    plain.mkdir()
    refused(capsys, "reproduce", "power", plain, contains=("not an `entropykit reproduce` folder",))
    run = tmp_path / "passk-run"
    run.mkdir()
    (run / "summary.json").write_text("{}")
    (run / "problems.jsonl").write_text("")
    refused(capsys, "reproduce", "power", run, contains=("not an `entropykit reproduce` folder", "passk compare"))
    bad = make_experiment(tmp_path / "bad")
    (bad / "reproduce.json").write_text("[1")
    refused(capsys, "reproduce", "power", bad, contains=("reproduce.json: unreadable",))
    (bad / "reproduce.json").write_text(json.dumps({"variants": ["nope"]}))
    refused(capsys, "reproduce", "power", bad, contains=("not a reproduce settings file",))
    nobase = make_experiment(tmp_path / "nobase")
    (Layout(nobase).passk("base") / "problems.jsonl").unlink()
    refused(capsys, "reproduce", "power", nobase, contains=("base model's evaluation has not finished",))
    none = make_experiment(tmp_path / "none")
    for v in GRID:
        for i in range(3):
            (Layout(none).passk(run_name(v, i)) / "problems.jsonl").unlink()
    refused(capsys, "reproduce", "power", none, contains=("no trained model's evaluation has finished",))
    other = make_experiment(tmp_path / "other")
    _problems(Layout(other), "grpo-seed1", GRID["grpo"][1], ids=[f"q{i}" for i in range(8)])
    refused(capsys, "reproduce", "power", other, contains=("grpo-seed1", "lacks problem p0"))
    other_n = make_experiment(tmp_path / "other-n")
    _problems(Layout(other_n), "grpo-ent", GRID["grpo-ent"][0], n=8)
    refused(capsys, "reproduce", "power", other_n, contains=("n=8", "same n"))
    # problems.jsonl read by one checked reader: a blank line is skipped, a bad row named by file and line
    empty = make_experiment(tmp_path / "empty")
    (Layout(empty).passk("base") / "problems.jsonl").write_text("\n")
    refused(capsys, "reproduce", "power", empty, contains=("base/passk/problems.jsonl: no per-problem rows of arith-eval",))
    short = make_experiment(tmp_path / "short")
    f = Layout(short).passk("grpo-seed2") / "problems.jsonl"
    rows = f.read_text().splitlines()
    rows[4] = json.dumps({k: v for k, v in json.loads(rows[4]).items() if k != "accuracy"})
    f.write_text("\n".join(rows) + "\n")
    refused(capsys, "reproduce", "power", short, contains=(f"{f}:5: missing field(s) 'accuracy'",))


def test_reproduce_command_line_and_help_read_as_before(capsys):
    code, _, err = cli(capsys, "reproduce")  # the experiment: --out is required, as before
    assert code == 2 and "Missing option '--out'" in err and "reproduce [OPTIONS]\n" in err
    code, out, _ = cli(capsys, "reproduce", "--help")
    assert code == 0 and "reproduce [OPTIONS]\n" in out.splitlines(True)[0]
    assert "--seeds" in out and "--variants" in out and "The paper's experiment end to end" in out
    assert "power  Power of a reproduce experiment" in out
    code, _, err = cli(capsys, "reproduce", "--out", "/proc/entropykit-no/x", "--seeds", "0")
    assert code == 2 and "--seeds" in err


def test_a_stage_killed_and_resumed_is_priced_by_every_attempt(tmp_path, capsys):
    """A seed's cost is what its stages took over every attempt (issue 25 review): a train stage
    killed after 400 s and resumed for 200 s cost 600 s, not the 200 s of its last attempt; a
    seed is priced by its train + export stages, a sample by passk + analyze over problems x
    samples (medians over runs of each kind; a file without attempt_seconds counts `seconds`)."""
    root = make_experiment(tmp_path / "exp", stages=False)
    st_: dict = {"passk base": {"seconds": PASSK_S}, "analyze base": {"seconds": 32.0}}
    for v in GRID:
        for i in range(3):
            n = run_name(v, i)
            st_[f"train {n}"] = {"attempts": 1, "attempt_seconds": [TRAIN_S], "seconds": TRAIN_S, "seconds_total": TRAIN_S}
            st_[f"export {n}"] = {"seconds": 5.0}
            st_[f"passk {n}"] = {"seconds": PASSK_S}
            st_[f"analyze {n}"] = {"seconds": 32.0}
    for n in ("grpo", "grpo-ent", "grpo-seed1", "grpo-ent-seed1"):  # four of six runs: the median is a resumed one
        st_[f"train {n}"] = {"attempts": 2, "attempt_seconds": [400.0, 200.0], "seconds": 200.0, "seconds_total": 600.0}
    st_["passk grpo"] = {"attempts": 2, "attempt_seconds": [40.0, 24.0], "seconds": 24.0, "seconds_total": 64.0}
    st_["analyze grpo"] = {"attempts": 1, "attempt_seconds": [9.0]}  # unfinished: not priced
    (root / "stages.json").write_text(json.dumps({"stages": st_}))
    rep = power_json(capsys, root)
    costs = rep["costs"]
    assert costs["seconds_per_training_seed"] == pytest.approx(600.0 + 5.0)  # not 200 + 5
    assert costs["seconds_per_evaluated_sample"] == pytest.approx((PASSK_S + 32.0) / (8 * N))
    assert costs["priced_stages"] == {"per_training_seed": ["train", "export"], "per_evaluated_sample": ["passk", "analyze"]}
    nh = next(p for p in rep["pairs"] if p["a"] == "grpo")["power"]["next_hour"]
    assert nh["levers"]["seeds"]["unit_seconds"] == pytest.approx(2 * (605.0 + 8 * N * (PASSK_S + 32.0) / (8 * N)))
    code, out, err = cli(capsys, "reproduce", "power", root)
    assert code == 0 and "605 s per training seed (train + export)" in out and "(passk + analyze;" in out
