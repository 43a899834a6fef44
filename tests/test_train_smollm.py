"""One short real run on the embedded SmolLM2-135M (`entropykit train` README example, shrunk)."""

import pytest

from entropykit.io import read_jsonl

pytestmark = pytest.mark.slow


def test_smollm2_short_run_writes_metrics_and_checkpoint(tmp_path):
    from entropykit.cli.app import main

    run = tmp_path / "run"
    try:
        main(["train", "--model", "smollm2-135m", "--data", "easy", "--steps", "2", "--prompts-per-step", "1",
              "--n-samples", "2", "--mini-batch-size", "2", "--max-tokens", "12", "--save-every", "2",
              "--device", "cpu", "--out", str(run)])
    except SystemExit as e:
        assert e.code in (0, None)
    recs = read_jsonl(run / "metrics.jsonl")
    assert [r["step"] for r in recs] == [1, 2]
    for r in recs:
        assert -1.0 <= r["reward_mean"] <= 1.0 and r["entropy"] > 0 and r["response_length"] > 0
        assert r["time_rollout"] > 0 and r["time_update"] > 0
    ck = run / "checkpoints" / "step_000002"
    assert (ck / "trainer_state.pt").exists() and (ck / "policy" / "config.json").exists()
    assert (run / "checkpoints" / "latest").read_text().strip() == "step_000002"
