"""`entropykit reproduce`: settings, presets, the generated problems and the paired table
(fast; the whole pipeline runs in tests/test_reproduce_e2e.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from entropykit.errors import UserError
from entropykit.evalkit.metrics import paired_difference
from entropykit.reproduce.config import PRESETS, VARIANTS, ReproduceConfig
from entropykit.reproduce.problems import arithmetic_problems
from entropykit.reproduce.stages import Layout, build_stages, figure8_pairs, problem_files, write_problems
from entropykit.reproduce.table import delta_pairs

_OPS = {"plus": "+", "+": "+", "minus": "-", "-": "-", "times": "*", "x": "*", "divided by": "/", "/": "/"}


def _bare_answer(text: str) -> Fraction | None:
    """The answer of a bare question, computed from its text with exact fractions."""
    m = re.fullmatch(r"What is (\d+) (plus|\+|minus|-|times|x|divided by|/) (\d+)\?", text) or \
        re.fullmatch(r"Add (\d+) and (\d+)\.", text)
    if not m:
        return None
    if text.startswith("Add"):
        return Fraction(int(m.group(1)) + int(m.group(2)))
    a, op, b = int(m.group(1)), _OPS[m.group(2)], int(m.group(3))
    return {"+": Fraction(a + b), "-": Fraction(a - b), "*": Fraction(a * b), "/": Fraction(a, b)}[op]


def test_generated_problems_are_deterministic_distinct_and_right():
    rows = arithmetic_problems(500, seed=0)
    assert rows == arithmetic_problems(500, seed=0)
    assert rows != arithmetic_problems(500, seed=1)
    assert len({r["problem"] for r in rows}) == 500 and len({r["id"] for r in rows}) == 500
    checked = 0
    for r in rows:
        assert re.fullmatch(r"\d+", r["answer"]), r  # a whole, non-negative number
        exact = _bare_answer(r["problem"])
        if exact is not None:
            assert exact.denominator == 1 and str(exact.numerator) == r["answer"], r
            checked += 1
    assert 150 < checked < 350  # about half are bare questions, each checked independently


def test_story_answers_follow_their_numbers():
    """Stories: the answer is the one operation the story describes on its two numbers."""
    for r in arithmetic_problems(300, seed=3):
        t, ans = r["problem"], int(r["answer"])
        nums = [int(x) for x in re.findall(r"\d+", t)]
        if _bare_answer(t) is not None:
            continue
        a, b = nums[0], nums[1]
        if "equally" in t:
            assert ans * b == a, t
        elif " more " in t or " red " in t:
            assert ans == a + b, t
        elif "gives" in t or "taken out" in t:
            assert ans == a - b, t
        else:  # boxes/rows with b in each, cost, pages per day
            assert ans == a * b, t


def test_splits_are_disjoint(tmp_path):
    cfg = ReproduceConfig(out=str(tmp_path), preset="smoke").resolve()
    lay = Layout(tmp_path)
    write_problems(cfg, lay)
    train, held = problem_files(cfg, lay)
    tr = [json.loads(x) for x in open(train)]
    ev = [json.loads(x) for x in open(held)]
    assert len(tr) == cfg.train_problems and len(ev) == cfg.eval_problems
    assert not {r["problem"] for r in tr} & {r["problem"] for r in ev}


def test_preset_fills_only_what_is_not_given():
    cfg = ReproduceConfig(out="x", preset="cpu", steps=5, lr=5e-6, variants=["ppo", "ppo-ent"]).resolve()
    assert (cfg.steps, cfg.lr, cfg.variants) == (5, 5e-6, ["ppo", "ppo-ent"])
    assert cfg.prompts_per_step == PRESETS["cpu"]()["prompts_per_step"]
    for name, preset in PRESETS.items():
        ReproduceConfig(out="x", preset=name).resolve()  # every preset is valid as it is
        assert preset.__doc__ and len(preset.__doc__) > 80  # and says why


@pytest.mark.parametrize("kw, msg", [
    (dict(preset="laptop"), "--preset"),
    (dict(variants=["grpo", "dpo"]), "unknown dpo"),
    (dict(variants=["grpo", "grpo"]), "twice"),
    (dict(steps=0), "--steps"),
    (dict(lr=float("nan")), "--lr"),
    (dict(temperature=float("inf")), "--temperature"),
    (dict(variants=["ppo"], steps=3, critic_warmup=3), "no policy update"),
    (dict(backend="tpu"), "--backend"),
])
def test_bad_settings_are_refused(kw, msg):
    with pytest.raises(UserError, match=re.escape(msg)):
        ReproduceConfig(out="x", **{"preset": "smoke", **kw}).resolve()


def test_cli_bad_setting_is_one_line_exit_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "entropykit.cli.app", "reproduce", "--out", str(tmp_path / "r"),
                        "--variants", "grpo,nope"], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "unknown nope" in r.stderr
    assert not (tmp_path / "r").exists()  # refused before anything was written


def test_a_folder_made_with_other_settings_is_refused(tmp_path):
    a = ReproduceConfig(out=str(tmp_path), preset="smoke").resolve()
    a.check_against(tmp_path / "reproduce.json")
    a.check_against(tmp_path / "reproduce.json")  # the same settings continue
    ReproduceConfig(out=f"{tmp_path}/./", preset="smoke").resolve().check_against(tmp_path / "reproduce.json")  # same folder
    b = ReproduceConfig(out=str(tmp_path), preset="smoke", steps=2).resolve()
    with pytest.raises(UserError, match="other settings \\(steps: 1 there, 2 now\\)"):
        b.check_against(tmp_path / "reproduce.json")
    (tmp_path / "reproduce.json").write_bytes(b"\xff\xfe")
    with pytest.raises(UserError, match="unreadable"):
        a.check_against(tmp_path / "reproduce.json")


def test_variants_differ_only_in_the_method(tmp_path):
    from entropykit.reproduce.stages import train_config

    cfg = ReproduceConfig(out=str(tmp_path), preset="smoke", variants=list(VARIANTS)).resolve()
    lay = Layout(tmp_path)
    configs = {v: train_config(cfg, lay, v).to_dict() for v in VARIANTS}
    method = {"algo", "entropy_adv", "entropy_coef", "loss_mode", "top_entropy_quantile", "out"}
    ref = configs["grpo"]
    for v, c in configs.items():
        assert {k for k in c if c[k] != ref[k]} <= method, v
    assert configs["grpo-ent"]["entropy_adv"] and not configs["grpo"]["entropy_adv"]
    assert configs["grpo-entreg"]["entropy_coef"] == cfg.entropy_coef > 0 and configs["grpo-ent"]["entropy_coef"] == 0
    assert configs["ppo-ent"]["algo"] == "ppo" and configs["ppo-ent"]["alpha"] is None  # the paper's 0.1 for PPO
    assert configs["grpo-clipcov"]["loss_mode"] == "clip_cov" and configs["grpo-klcov"]["loss_mode"] == "kl_cov"
    assert configs["grpo-mask"]["top_entropy_quantile"] == 0.2 and not configs["grpo-mask"]["entropy_adv"]
    assert all(c["loss_mode"] == "clip_higher" for v, c in configs.items() if "cov" not in v)


def test_more_variants_extend_a_finished_experiment(tmp_path):
    from entropykit.reproduce.stages import COMPARISON_STAGES, forget_stages, load_stage_state

    path = tmp_path / "reproduce.json"
    first = ReproduceConfig(out=str(tmp_path), preset="smoke", variants=["grpo", "grpo-ent"]).resolve()
    assert first.check_against(path) == []
    more = ReproduceConfig(out=str(tmp_path / "elsewhere"), preset="smoke",
                           variants=["grpo", "grpo-ent", "grpo-clipcov", "grpo-mask"]).resolve()
    assert more.check_against(path) == ["grpo-clipcov", "grpo-mask"]
    assert more.check_against(path) == []  # now recorded
    for other in (["grpo-ent", "grpo", "grpo-clipcov", "grpo-mask", "grpo-klcov"], ["grpo"]):  # reordered or fewer
        with pytest.raises(UserError, match="variants"):
            ReproduceConfig(out=str(tmp_path), preset="smoke", variants=other).resolve().check_against(path)
    lay = Layout(tmp_path)
    atomic = {"stages": {name: {"finished": "x", "seconds": 1.0} for name in ("passk base", *COMPARISON_STAGES)}}
    lay.stages_file.write_text(__import__("json").dumps(atomic))
    forget_stages(lay, COMPARISON_STAGES)
    assert list(load_stage_state(lay.stages_file)) == ["passk base"]


def test_stage_list_and_pairs(tmp_path):
    cfg = ReproduceConfig(out=str(tmp_path), preset="smoke", variants=["grpo", "grpo-ent", "grpo-entreg", "ppo-ent"]).resolve()
    names = [s.name for s in build_stages(cfg, Layout(tmp_path), print)]
    assert names[0].startswith("data") and names[1] == "passk base" and names[-1].startswith("table")
    for v in cfg.variants:  # train, export and passk of a variant in that order, before any analysis
        i = names.index(f"train {v}")
        assert names[i + 1: i + 3] == [f"export {v}", f"passk {v}"] and i < names.index("analyze base")
    assert figure8_pairs(cfg) == [("base", "grpo"), ("base", "grpo-ent"), ("base", "grpo-entreg"), ("base", "ppo-ent"),
                                  ("grpo", "grpo-ent"), ("grpo-entreg", "grpo-ent")]
    assert delta_pairs(cfg)[-2:] == [("grpo", "grpo-ent"), ("grpo-entreg", "grpo-ent")]
    wide = ReproduceConfig(out=str(tmp_path), preset="smoke", variants=["grpo", "grpo-ent", "grpo-clipcov", "grpo-klcov", "grpo-mask"]).resolve()
    assert [p for p in figure8_pairs(wide) if p[0] != "base"] == [  # the paper's method against each other one
        ("grpo", "grpo-ent"), ("grpo-clipcov", "grpo-ent"), ("grpo-klcov", "grpo-ent"), ("grpo-mask", "grpo-ent")]



def test_a_finished_stage_leaves_no_model_behind(tiny_model_dir):
    """After every stage `release_memory` empties the tools' per-process caches: passk loads each
    policy through `load_model`'s cache, so every evaluated model stayed resident to the end and
    peak memory grew by one model per trained run (variants x seeds)."""
    import weakref

    from entropykit import models
    from entropykit.analysis import rare
    from entropykit.reproduce.stages import release_memory

    saved = dict(models._LOADED), dict(rare._EMBEDDERS)  # other tests' models, back when this one is done
    try:
        models._LOADED.clear()  # a model of our own: one that earlier tests loaded may be held by their fixtures
        lm = models.load_model(str(tiny_model_dir), device="cpu")
        assert models.load_model(str(tiny_model_dir), device="cpu") is lm  # cached: what kept it alive
        rare._EMBEDDERS["stand-in"] = embedder = object()
        gone = weakref.ref(lm.model)
        del lm, embedder
        release_memory()
        assert gone() is None and "stand-in" not in rare._EMBEDDERS
    finally:
        models._LOADED.update(saved[0])
        rare._EMBEDDERS.update(saved[1])


def test_paired_difference_hand_computed():
    a = [0.0, 0.5, 1.0, 0.25]
    b = [0.5, 0.5, 1.0, 1.0]
    d = paired_difference(a, b, num_resamples=4000, seed=1)
    assert d["problems"] == 4 and d["diff"] == pytest.approx((0.5 + 0 + 0 + 0.75) / 4)
    lo, hi = d["ci95"]
    assert 0.0 <= lo <= d["diff"] <= hi <= 0.75  # resampled means of {0.5, 0, 0, 0.75} stay in [0, 0.75]
    assert d["p_value"] is not None and 0 < d["p_value"] <= 1
    same = paired_difference(a, a)
    assert same["diff"] == 0 and same["ci95"] == [0.0, 0.0] and same["p_value"] is None and not same["significant"]
    with pytest.raises(ValueError):
        paired_difference([0.1], [0.1, 0.2])


def test_paired_difference_keeps_its_level_under_a_null():
    """Two runs of the same model (exchangeable per-problem values): the 95% CI excludes 0 in
    about 5% of simulated experiments, not more (the problem is the unit)."""
    rng = np.random.default_rng(0)
    hits, trials = 0, 400
    for t in range(trials):
        p = rng.uniform(0, 1, size=40)  # per-problem solve rates
        a = rng.binomial(4, p) / 4
        b = rng.binomial(4, p) / 4
        hits += paired_difference(a, b, num_resamples=500, seed=t)["significant"]
    assert hits / trials < 0.09


def test_stage_seconds_are_kept_for_every_attempt(tmp_path):
    """stages.json keeps each attempt's seconds: an attempt that fails (or is killed: the
    heartbeat writes its seconds so far while it runs) still counts in `seconds_total` once the
    stage finishes; `seconds` stays the finishing attempt's."""
    import time

    from entropykit.reproduce.stages import Stage, load_stage_state, run_stages

    lay = Layout(tmp_path)
    tmp_path.mkdir(exist_ok=True)
    seen = []

    def first() -> None:
        time.sleep(0.3)
        seen.append(load_stage_state(lay.stages_file)["s"]["attempt_seconds"])  # written by the heartbeat
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_stages([Stage("s", first)], lay, print, lambda _: None, heartbeat_s=0.05)
    assert seen[0][-1] > 0
    rec = load_stage_state(lay.stages_file)["s"]
    assert rec["attempts"] == 1 and "finished" not in rec and "seconds" not in rec and rec["attempt_seconds"][0] >= 0.3
    run_stages([Stage("s", lambda: time.sleep(0.1))], lay, print, lambda _: None, heartbeat_s=0.05)
    rec = load_stage_state(lay.stages_file)["s"]
    assert rec["attempts"] == 2 and len(rec["attempt_seconds"]) == 2 and rec["finished"]
    assert rec["seconds"] == rec["attempt_seconds"][1] >= 0.1
    assert rec["seconds_total"] == pytest.approx(sum(rec["attempt_seconds"]), abs=0.11) and rec["seconds_total"] >= 0.4
