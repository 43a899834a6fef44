"""`passk --token-entropies`: per-token entropy and log-prob recorded while sampling, under the
field names of `entropykit score`'s output, equal to what `score` computes afterwards on the same
records (embedded SmolLM2-135M: a real tokenizer and real, non-uniform distributions)."""

from __future__ import annotations

import json

import pytest

from entropykit.evalkit.run_folder import TOKEN_FIELDS


@pytest.mark.slow
def test_recorded_token_stats_equal_score_on_the_same_records(smollm, tmp_path):
    from entropykit.evalkit.runner import PasskConfig, run_passk
    from entropykit.generation import make_generator

    out = tmp_path / "run"
    gen = make_generator(smollm, backend="hf", batch_size=9)
    cfg = PasskConfig(model="smollm2-135m", benchmarks=["easy"], out=str(out), limit=3, n=3, max_tokens=24,
                      prompt_template="Answer with just a number, no words. {problem}", temperature=0.7, top_p=0.95, backend="hf",
                      batch_size=9, token_entropies=True, quiet=True, html=False, workers=0)
    run_passk(cfg, generator=gen)
    recs = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(recs) == 9 and any(r["finish_reason"] == "stop" for r in recs)
    for r in recs:
        assert set(TOKEN_FIELDS) <= set(r)  # the arrays readers of run folders leave out by name
        assert r["entropy_temperature"] == 1.0 and r["model"] == "smollm2-135m"
        n = len(r["token_ids"])
        assert n == len(r["tokens"]) == len(r["offsets"]) == len(r["logprobs"]) == len(r["entropies"])
        assert r["num_tokens"] == n + (r["finish_reason"] == "stop")  # the stop token has no entry
        assert r["tokens"] == [r["response"][s:e] for s, e in r["offsets"]]
        assert r["offsets"][-1][1] == len(r["response"]) if n else r["response"] == ""

    from entropykit.scoring import score_file
    from entropykit.scoring_config import ScoreConfig

    scored_path = tmp_path / "scored.jsonl"
    score_file(ScoreConfig(str(out / "samples.jsonl"), str(scored_path), model="smollm2-135m", device="cpu", dtype="float32",
                           progress=False))
    scored = {s["id"]: s for s in map(json.loads, scored_path.read_text().splitlines())}
    same_tokenization = 0
    for r in recs:
        s = scored[r["id"]]
        if s["token_ids"] != r["token_ids"]:  # a sampled sequence need not be the text's own tokenization
            continue
        same_tokenization += 1
        assert r["tokens"] == s["tokens"] and r["offsets"] == s["offsets"]
        assert r["logprobs"] == pytest.approx(s["logprobs"], abs=1e-4)
        assert r["entropies"] == pytest.approx(s["entropies"], abs=1e-4)
    assert same_tokenization >= 6, f"only {same_tokenization} of 9 samples re-tokenize to their sampled ids"


def test_token_entropies_are_refused_on_vllm_before_any_work(tmp_path):
    from typer.testing import CliRunner

    from entropykit.cli.app import app

    r = CliRunner().invoke(app, ["passk", "--model", "nonexistent-model", "--benchmark", "easy", "--backend", "vllm",
                                 "--token-entropies", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert "--token-entropies needs the transformers backend" in r.output
    assert not (tmp_path / "o").exists()


def test_token_entropies_are_refused_when_auto_picks_vllm(tmp_path):
    """--backend auto passes validate(); the backend it resolves to is checked before sampling."""
    from entropykit.errors import UserError
    from entropykit.evalkit.runner import PasskConfig, run_passk

    class _VllmGenerator:  # only its backend is looked at before the refusal
        from entropykit.sampling import BACKEND_INFO

        info = BACKEND_INFO["vllm"]

    cfg = PasskConfig(model="m", benchmarks=["easy"], out=str(tmp_path / "o"), limit=1, token_entropies=True,
                      quiet=True, html=False)
    with pytest.raises(UserError, match="--token-entropies needs the transformers backend"):
        run_passk(cfg, generator=_VllmGenerator())
    assert not (tmp_path / "o" / "run.json").exists()
