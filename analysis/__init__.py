"""entropykit.analysis: token- and sentence-level entropy of model outputs (paper section 2).

Entry points:
- ``run_analysis(AnalyzeConfig(outputs=..., out=..., base=None, ...)) -> dict`` (the CLI's
  ``entropykit analyze``), ``analyze(config) -> AnalysisResult``, ``print_summary(summary)``;
  ``compare_runs(run_a, run_b, out)`` (``entropykit analyze compare``, paper Figure 8).
- Pure pieces, each documented with its formula: ``per_response_comparison`` /
  ``paired_differences`` / ``hierarchical_bootstrap_means`` / ``holm`` / ``mixed_model`` /
  ``compare_groups`` / ``cohens_d`` / ``bootstrap_means`` / ``describe`` (stats),
  ``tokens_in_span`` / ``align_spans`` / ``word_entropy`` / ``token_anchors`` / ``assign_tokens``
  (alignment), ``word_units`` / ``sentence_rows`` / ``top_counts`` (per-response tables),
  ``knn_rarity`` / ``top_fraction_mask`` / ``project_2d`` / ``cluster`` / ``central_members`` /
  ``load_embedder`` / ``embed_texts`` (rare behaviors).
- Per-response test-time dynamics, the lexicons and sentence splitting live in the core:
  ``entropykit.response_metrics``.

Names are imported on first use (PEP 562), so that ``import entropykit.analysis.config`` (the
CLI's start-up) pulls in no numpy, scipy or plotly.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "align": ("align_spans", "assign_tokens", "token_anchors", "tokens_in_span", "word_entropy"),
    "behaviors": ("WordUnits", "sentence_rows", "top_counts", "word_units"),
    "compare": ("compare_runs",),
    "config": ("AnalyzeConfig",),
    "inputs": ("choose_scorer", "load_records"),
    "pipeline": ("AnalysisResult", "analyze", "print_summary", "run_analysis"),
    "rare": ("central_members", "cluster", "embed_texts", "embed_with_cache", "knn_rarity", "load_embedder", "project_2d",
             "resolve_embedder_path", "top_fraction_mask"),
    "stats": ("Comparison", "PerResponse", "bootstrap_means", "cohens_d", "compare_groups", "describe",
              "hierarchical_bootstrap_means", "holm", "mixed_model", "paired_differences", "per_response_comparison"),
    "tokens": ("TokenTable", "cache_key", "read_token_table", "write_token_table"),
}
_MODULE_OF = {name: mod for mod, names in _WHERE.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    mod = _MODULE_OF.get(name)
    if mod is None:
        raise AttributeError(f"module 'entropykit.analysis' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{mod}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
