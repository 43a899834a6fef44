"""PasskConfig: defaults (the paper's eval sampling, --k alone enough), every check in validate(),
and the CLI built from it (defaults shown, --out in the usage line, outputs checked first)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from entropykit.errors import UserError
from entropykit.evalkit.config import PasskConfig, parse_shard
from entropykit.sampling import PAPER_EVAL_TEMPERATURE, PAPER_EVAL_TOP_P


def _cfg(**kw) -> PasskConfig:
    return PasskConfig(**{"model": "m", "benchmarks": ["easy"], "out": "o", **kw})


def test_defaults_are_the_papers_and_k_alone_is_enough():
    c = _cfg()
    assert (c.temperature, c.top_p, c.max_tokens) == (PAPER_EVAL_TEMPERATURE, PAPER_EVAL_TOP_P, 8192)
    assert c.sample_count() == 1 and c.k_values() == [1]
    c = _cfg(ks="16")
    assert c.sample_count() == 16 and c.k_values() == [1, 2, 4, 8, 16]
    c = _cfg(ks="1,3")
    assert c.sample_count() == 3 and c.k_values() == [1, 3]
    c = _cfg(n=12)
    assert c.k_values() == [1, 2, 4, 8, 12]
    assert _cfg(ks="4").validate() is not None


@pytest.mark.parametrize("kw,msg", [
    (dict(out=None), "--out DIR is required"),
    (dict(model=None), "--model is required"),
    (dict(benchmarks=[]), "--benchmark is required"),
    (dict(n=0), "--n must be >= 1"),
    (dict(n=2, ks="4"), "k=4 is larger than the number of samples n=2"),
    (dict(ks="0,2"), "k values must be positive"),
    (dict(ks="two"), "--k must be integers"),
    (dict(temperature=-1.0), "--temperature must be >= 0"),
    (dict(top_p=0.0), "--top-p must be in"),
    (dict(max_tokens=0), "--max-tokens must be >= 1"),
    (dict(limit=0), "--limit must be >= 1"),
    (dict(backend="tpu"), "unknown backend"),
    (dict(batch_size=0), "--batch-size must be >= 1"),
    (dict(data_parallel_size=0), "--data-parallel-size must be >= 1"),
    (dict(timeout_s=0), "--verify-timeout must be positive"),
    (dict(workers=-1), "--verify-workers must be >= 0"),
    (dict(prompt_template="no placeholder"), "must contain {problem}"),
    (dict(backend="vllm", token_entropies=True), "--token-entropies needs the transformers backend"),
    (dict(shard="3/3"), "need 0 <= I < N"),
    (dict(shard="1"), "--shard must look like I/N"),
    (dict(from_samples="s.jsonl"), "--from-samples scores existing samples: drop --model/--benchmark"),
    (dict(from_samples="s.jsonl", model=None, benchmarks=[], shard="0/2"), "drop --shard"),
])
def test_validate_holds_every_check(kw, msg):
    with pytest.raises(UserError, match=msg.replace("(", "\\(").replace("{", "\\{")):
        _cfg(**kw).validate()


def test_parse_shard():
    assert parse_shard(None) is None and parse_shard("0/1") == (0, 1) and parse_shard(" 2 / 4 ") == (2, 4)


def test_help_shows_config_defaults_required_out_and_k_alone():
    from entropykit.cli.app import app

    r = CliRunner().invoke(app, ["passk", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    assert "Usage: entropykit passk --out DIR [OPTIONS]" in text
    assert "n defaults to the largest k" in text
    assert f"[default: {PAPER_EVAL_TEMPERATURE}]" in text and f"[default: {PAPER_EVAL_TOP_P}]" in text
    assert "--shard" in text and "--token-entropies" in text


def test_unwritable_outputs_fail_first_with_one_line(tmp_path):
    from entropykit.cli.app import app

    runner = CliRunner()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for out in ("/proc/entropykit-x", str(blocker / "sub")):
        # a model that does not exist: the output check must come before any attempt to load it
        r = runner.invoke(app, ["passk", "--model", "no-such-model", "--benchmark", "easy", "--out", out])
        assert r.exit_code == 2 and r.output.count("\n") == 1 and "no-such-model" not in r.output, r.output
        r = runner.invoke(app, ["passk", "--from-samples", str(tmp_path / "missing.jsonl"), "--out", out])
        assert r.exit_code == 2 and r.output.count("\n") == 1 and "missing.jsonl" not in r.output, r.output
        r = runner.invoke(app, ["passk", "compare", str(tmp_path / "r1"), str(tmp_path / "r2"), "-o", out + "/c.html"])
        assert r.exit_code == 2 and r.output.count("\n") == 1 and "r1" not in r.output, r.output


def test_config_graders_are_the_verifiers():
    """evalkit.config takes the verifier's list of graders (one list; importing it stays light)."""
    from entropykit.evalkit.config import GRADERS
    from entropykit.verify import GRADERS as VERIFY_GRADERS

    assert GRADERS is VERIFY_GRADERS
    with pytest.raises(UserError, match="unknown --grader"):
        PasskConfig(model="m", benchmarks=["easy"], out="o", grader="sympy").validate()
