"""Other tools' outputs through `score`, `analyze` and `passk --from-samples` (issue 23).

The fixtures in tests/data/outside/ were written by the tools themselves (TRL 1.16 GRPOTrainer,
lm-eval 0.4.13, veRL 0.9.1's dump and logger code, lighteval 0.13's EvaluationTracker, vLLM
0.34's batch models, Qwen2.5-Math's evaluation code): scripts/make_outside_fixtures/README.md
says how. Their replies are 4 problems x 2 samples with known disagreements between each file's
own verdict and a strict grader (p0[1] boxes a wrong 28 then writes "18"; p1[0] ends in an
unboxed 16; p3[0] boxes 0.75 for the gold 3/4).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import cli, refused

OUT = Path(__file__).parent / "data" / "outside"
BATCH = ["--batch-input", OUT / "vllm_run_batch" / "batch_input.jsonl"]

# path, extra options, detected format, records, prompt form of the first, a verdict field or None
FIXTURES = [
    ("verl/rollout", [], "verl", 16, "decoded", "score"),
    ("verl/validation", [], "verl", 16, "decoded", "acc"),
    ("verl/legacy_rollout", [], "verl", 16, "decoded", "acc"),
    ("lm_eval/scripted", [], "lm-eval", 8, "raw", None),
    ("lighteval", [], "lighteval", 8, "raw", None),
    ("trl/text/completions", [], "trl", 16, "decoded", "accuracy_reward"),
    ("trl/conversational/completions", [], "trl", 16, "messages", "accuracy_reward"),
    ("vllm_run_batch/batch_output.jsonl", BATCH, "vllm-batch", 9, "messages", None),
    ("qwen25_math/math", [], "generations", 8, "plain", "score"),
    ("hf_generations/generations.parquet", [], "generations", 8, "plain", "correctness_math_verify"),
    ("hf_generations/generations.jsonl", [], "generations", 8, "plain", "correctness_math_verify"),
    ("messages/messages.jsonl", [], "messages", 8, "messages", None),
]
GRADABLE = [f for f in FIXTURES if not f[0].startswith(("trl/", "vllm_run_batch"))]  # files that carry gold answers


@pytest.fixture(scope="module")
def smol_shaped(tmp_path_factory, smollm) -> str:
    """A tiny random Llama with SmolLM2's tokenizer and chat template (the template the fixtures
    were written with) and a 512-token window: fast to score, and the window is reachable."""
    from entropykit.models import save_random_llama

    tok = smollm.tokenizer
    return save_random_llama(tmp_path_factory.mktemp("smolshape") / "m", tok, seed=0, vocab_size=len(tok), hidden_size=32,
                             intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                             max_position_embeddings=512)


# ---- the reader ----------------------------------------------------------------------------------

@pytest.mark.parametrize("path, extra, fmt, count, form, verdict", FIXTURES, ids=[f[0] for f in FIXTURES])
def test_reader_detects_each_tool(path, extra, fmt, count, form, verdict):
    from entropykit.formats import read_records

    batch = extra[1] if extra else None
    read = read_records(OUT / path, batch_input=batch)
    assert read.format == fmt and len(read.records) == count
    first = read.records[0]
    assert first["prompt_form"] == form and first["response"].strip()
    assert (first["reported"] or {}).get("field", "").split(" (")[0] == (verdict or "")
    keys = [(r["step"], r["benchmark"], r["problem_id"], r["sample_idx"]) for r in read.records]
    assert len(set(keys)) == len(keys)  # every sample has its own identity


def test_steps_come_from_the_records_or_the_file_names():
    from entropykit.formats import read_records

    assert sorted({r["step"] for r in read_records(OUT / "verl/rollout").records}) == [1, 2]
    assert sorted({r["step"] for r in read_records(OUT / "trl/text/completions").records}) == [1, 2]
    # a timestamp in a file name is not a step
    assert {r["step"] for r in read_records(OUT / "lm_eval/scripted").records} == {None}


def test_list_columns_give_one_record_per_sample():
    from entropykit.formats import read_records

    recs = read_records(OUT / "hf_generations/generations.jsonl").records
    by_problem: dict = {}
    for r in recs:
        by_problem.setdefault(r["problem_id"], []).append(r["sample_idx"])
    assert all(sorted(v) == list(range(len(v))) and len(v) == 2 for v in by_problem.values())


def test_fields_option_maps_any_shape(tmp_path):
    from entropykit.formats import read_records

    f = tmp_path / "custom.json"
    f.write_text(json.dumps({"rows": [{"q": {"text": "2+3?"}, "outs": ["\\boxed{5}", "\\boxed{6}"], "gold": 5, "key": "a"}]}))
    recs = read_records(f, fields="prompt=q.text,response=outs,answer=gold,id=key").records
    assert [(r["prompt"], r["response"], r["answer"], r["problem_id"], r["sample_idx"]) for r in recs] == [
        ("2+3?", "\\boxed{5}", "5", "a", 0), ("2+3?", "\\boxed{6}", "5", "a", 1)]


def test_a_100k_record_dump_reads_whole(tmp_path):
    """Every record of a 100,000-record veRL dump comes back (its speed: bench/formats.py, no timing here)."""
    from entropykit.formats import read_records

    f = tmp_path / "1.jsonl"
    line = json.dumps({"input": "system\nS\nuser\nWhat is 2+3?\nassistant\n", "output": "It is \\boxed{5}.", "gts": "5",
                       "score": 1.0, "step": 1})
    f.write_text((line + "\n") * 100_000)
    recs = read_records(f).records
    assert len(recs) == 100_000 and len({r["sample_idx"] for r in recs}) == 100_000  # one prompt, 100,000 samples


# ---- refusals: one line, exit 2 ---------------------------------------------------------------------

def test_unknown_shape_names_its_fields_and_the_option(tmp_path, capsys):
    f = tmp_path / "odd.jsonl"
    f.write_text('{"question_text": "2+3?", "model_said": "5"}\n')
    for cmd in (["score", f, "--out", tmp_path / "s.jsonl"], ["analyze", f, "--out", tmp_path / "a"],
                ["passk", "--from-samples", f, "--out", tmp_path / "p"]):
        refused(capsys, *cmd, contains=("question_text, model_said", "--fields"))


def test_bad_shapes_are_refused(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    refused(capsys, "score", empty, "--out", tmp_path / "s.jsonl", contains=("without data files",))
    refused(capsys, "passk", "--from-samples", empty, "--out", tmp_path / "p", contains=("without data files",))
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "1.jsonl").write_text((OUT / "verl/rollout/1.jsonl").read_text())
    (mixed / "2.jsonl").write_text((OUT / "messages/messages.jsonl").read_text())
    refused(capsys, "passk", "--from-samples", mixed, "--out", tmp_path / "p", contains=("different formats", "verl", "messages"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "q", "output": 5, "score": 1.0}\n')
    refused(capsys, "score", bad, "--out", tmp_path / "s.jsonl", contains=("'output' must be a string",))
    refused(capsys, "score", OUT / "verl/rollout", "--fields", "prompt=input", "--out", tmp_path / "s.jsonl",
            contains=("--fields must name",))
    refused(capsys, "passk", "--from-samples", OUT / "trl/text/completions", "--out", tmp_path / "p",
            contains=("no gold answer", "TRL"))
    refused(capsys, "passk", "--from-samples", OUT / "vllm_run_batch/batch_output.jsonl", "--out", tmp_path / "p",
            contains=("--batch-input",))
    sur = tmp_path / "sur.json"
    sur.write_text('[{"prompt": "q\\ud800", "response": "a"}]')
    refused(capsys, "score", sur, "--out", tmp_path / "s.jsonl", contains=("record 1", "lone surrogate"))
    assert not (tmp_path / "s.jsonl").exists()


# ---- passk --from-samples: pass@k, and the file's verdicts beside ours -----------------------------

@pytest.mark.parametrize("path, extra, fmt, count, form, verdict", GRADABLE, ids=[f[0] for f in GRADABLE])
def test_passk_from_samples_each_format(tmp_path, capsys, path, extra, fmt, count, form, verdict):
    code, _, err = cli(capsys, "passk", "--from-samples", OUT / path, "--out", tmp_path / "p", "--verify-workers", "0", "-q", *extra)
    assert code == 0, err
    s = json.loads((tmp_path / "p" / "summary.json").read_text())
    n = sum(b["num_problems"] * b["n"] for b in s["benchmarks"].values())
    right = sum(b["mean_accuracy"] * b["num_problems"] * b["n"] for b in s["benchmarks"].values())
    assert n == count  # the strict grader: p0[1] (28), p1[0] (unboxed 16) wrong; p3[0] 0.75 = 3/4 right
    assert right / n == pytest.approx(5 / 8)
    rv = s.get("reported_verdicts")
    assert (rv is not None) == (verdict is not None)
    if rv:
        assert rv["total"] == count and rv["agree"] + len(rv["differ"]) == rv["total"]
        assert "own verdicts" in (tmp_path / "p" / "passk.html").read_text()


def test_verl_rollout_reward_disagreements_are_named(tmp_path, capsys):
    """veRL's flexible gsm8k reward (last number == gold) pays p0[1] and p1[0], and not p3[0]'s
    0.75: the page lists exactly those samples at each step."""
    code, _, err = cli(capsys, "passk", "--from-samples", OUT / "verl/rollout", "--out", tmp_path / "p", "--verify-workers", "0", "-q")
    assert code == 0, err
    s = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert sorted(s["benchmarks"]) == ["rollout step 1", "rollout step 2"]
    rv = s["reported_verdicts"]
    # per step: theirs pays p0[1] and p1[0]; it refuses both p3 replies (0.75 and \frac{3}{4} against "\frac{3}{4}")
    assert (rv["only_theirs_correct"], rv["only_ours_correct"]) == (4, 4)
    assert {d["pred"] for d in rv["differ"] if d["theirs"]} == {"28", None}


# ---- prompt fidelity: the same response scores the same whatever shape it came in -------------------

def test_entropies_equal_across_prompt_shapes(smollm):
    """The embedded SmolLM2 scores one response given as a plain prompt, as chat turns, and as veRL
    logs it (the template decoded without special tokens): identical token ids, identical entropies.
    With a system turn, the turns and the decoded dump agree too; the plain prompt (the template's
    default system turn) does not, as it should not."""
    from entropykit.scoring import score_responses

    tok = smollm.tokenizer
    q, resp = "What is 7 * 8? Reason step by step.", "7 * 8 = 56, so the answer is \\boxed{56}."

    def decoded(turns):
        ids = tok.apply_chat_template(turns, add_generation_prompt=True)
        return tok.decode(ids["input_ids"] if hasattr(ids, "keys") else ids, skip_special_tokens=True)

    user = [{"role": "user", "content": q}]
    system = [{"role": "system", "content": "You are a careful tutor."}, *user]
    shapes = [{"prompt": q}, {"prompt": "", "messages": user, "prompt_form": "messages"},
              {"prompt": decoded(user), "prompt_form": "decoded"}, {"prompt": decoded(user)},  # also pasted into "prompt"
              {"prompt": "", "messages": system, "prompt_form": "messages"}, {"prompt": decoded(system), "prompt_form": "decoded"}]
    scored = score_responses(smollm, [{**s, "response": resp} for s in shapes])
    for s in scored[1:4]:
        assert s.entropies == scored[0].entropies and s.logprobs == scored[0].logprobs
    assert scored[5].entropies == scored[4].entropies
    assert max(abs(a - b) for a, b in zip(scored[4].entropies, scored[0].entropies)) > 1e-3  # a system turn matters


def test_a_foreign_decoded_template_is_refused(smollm):
    from entropykit.errors import UserError
    from entropykit.scoring import score_responses

    llama3_style = "user\n\nWhat is 7 * 8?assistant\n\n"  # another model's template, decoded
    with pytest.raises(UserError, match="does not reproduce it exactly"):
        score_responses(smollm, [{"prompt": "system\nBe brief.\nuser\nWhat is 7 * 8?\nmodel\n", "prompt_form": "decoded",
                                  "response": "56"}])
    # text without chat turns is what the tool fed as it is (TRL on a plain-text dataset)
    assert score_responses(smollm, [{"prompt": llama3_style.replace("\n", " "), "prompt_form": "decoded", "response": "56"}])


# ---- score and analyze on each format --------------------------------------------------------------

@pytest.mark.parametrize("path, extra, fmt, count, form, verdict", FIXTURES, ids=[f[0] for f in FIXTURES])
def test_score_each_format(tmp_path, capsys, smol_shaped, path, extra, fmt, count, form, verdict):
    out = tmp_path / "scored.jsonl"
    code, _, err = cli(capsys, "score", OUT / path, "--model", smol_shaped, "--out", out, *extra)
    assert code == 0, err
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == count and all(len(r["entropies"]) == r["num_tokens"] > 0 for r in rows)


def test_analyze_training_steps_from_rollout_dumps(tmp_path, capsys, smol_shaped):
    """A folder of per-step veRL dumps: entropy, pivotal and reflective rates, length and the
    file's reward per step, each with a response-level CI and its counts (the paper's Figures 6-7)."""
    code, _, err = cli(capsys, "analyze", OUT / "verl/rollout", "--model", smol_shaped, "--out", tmp_path / "a", "--no-progress")
    assert code == 0, err
    s = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert s["inputs"]["format"] == "verl"
    steps = s["training_steps"]
    assert steps["steps"] == [1, 2]
    for name in ("mean_entropy", "pivotal_per_1k", "reflective_per_1k", "num_tokens", "correct"):
        pts = steps["metrics"][name]["points"]
        assert [p["step"] for p in pts] == [1, 2] and all(p["responses"] == 8 and p["prompts"] == 4 for p in pts)
        assert all(p["ci95"][0] <= p["mean"] <= p["ci95"][1] for p in pts)
    assert steps["metrics"]["correct"]["points"][0]["mean"] == pytest.approx(5 / 8)  # veRL's own score at step 1
    assert "Across training steps" in (tmp_path / "a" / "report.html").read_text()


def test_a_response_past_the_window_is_scored_up_to_it(tmp_path, capsys, smol_shaped):
    f = tmp_path / "long.jsonl"
    f.write_text(json.dumps({"prompt": "Count.", "response": " ".join(str(i) for i in range(600))}) + "\n"
                 + json.dumps({"prompt": "Short.", "response": "ok"}) + "\n")
    out = tmp_path / "s.jsonl"
    code, _, err = cli(capsys, "score", f, "--model", smol_shaped, "--out", out)
    assert code == 0, err
    long, short = [json.loads(x) for x in out.read_text().splitlines()]
    assert long["unscored_tokens"] > 0 and "unscored_tokens" not in short
    prompt_len = 512 - long["num_tokens"]
    assert 0 < prompt_len < 40  # the arrays stop exactly at the window
    assert "context window" in err and "record" in err
    code, _, err = cli(capsys, "analyze", f, "--model", smol_shaped, "--out", tmp_path / "a", "--no-progress")
    assert code == 0 and "run past the scorer's context window (records 1)" in err, err
    resp = [json.loads(x) for x in (tmp_path / "a" / "responses.jsonl").read_text().splitlines()]
    assert resp[0]["num_tokens"] == long["num_tokens"]  # analysed up to the window, not past it
