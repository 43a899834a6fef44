"""Tests that need the real veRL (verl 0.9.1 in .venv-verl, see scripts/setup_verl.sh).

scripts/test.sh sets ENTROPYKIT_REQUIRE_VERL=1 so that a broken veRL environment fails the run
instead of quietly skipping these tests; elsewhere (the main .venv has no verl) they skip.
"""

import os

import pytest

if os.environ.get("ENTROPYKIT_REQUIRE_VERL") == "1":
    import verl  # noqa: F401  (an ImportError here fails the run, as it should)
else:
    pytest.importorskip("verl", reason="needs the veRL environment (bash scripts/setup_verl.sh)")


@pytest.fixture(scope="session")
def toy_model(tmp_path_factory) -> str:
    """A tiny random Llama folder (no downloads) whose tokenizer has a minimal chat template and
    whose context window takes the launcher's 1,024 prompt tokens plus short responses."""
    from entropykit.train.data import build_toy_model

    return build_toy_model(tmp_path_factory.mktemp("verl") / "toy", chat_template=True, max_positions=2048)
