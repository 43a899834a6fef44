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
"""

from .align import align_spans, assign_tokens, token_anchors, tokens_in_span, word_entropy
from .behaviors import WordUnits, sentence_rows, top_counts, word_units
from .inputs import choose_scorer, load_records
from .pipeline import AnalysisResult, AnalyzeConfig, analyze, print_summary, run_analysis
from .rare import central_members, cluster, embed_texts, embed_with_cache, knn_rarity, load_embedder, project_2d, resolve_embedder_path, top_fraction_mask
from .stats import (
    Comparison,
    PerResponse,
    bootstrap_means,
    cohens_d,
    compare_groups,
    describe,
    hierarchical_bootstrap_means,
    holm,
    mixed_model,
    paired_differences,
    per_response_comparison,
)
from .tokens import TokenTable, cache_key, read_token_table, write_token_table

__all__ = [
    "AnalyzeConfig", "AnalysisResult", "run_analysis", "analyze", "print_summary", "load_records", "choose_scorer",
    "align_spans", "assign_tokens", "token_anchors", "tokens_in_span", "word_entropy",
    "WordUnits", "word_units", "sentence_rows", "top_counts",
    "central_members", "cluster", "embed_texts", "embed_with_cache", "knn_rarity", "load_embedder", "project_2d",
    "resolve_embedder_path", "top_fraction_mask",
    "Comparison", "PerResponse", "bootstrap_means", "cohens_d", "compare_groups", "describe", "hierarchical_bootstrap_means",
    "holm", "mixed_model", "paired_differences", "per_response_comparison",
    "TokenTable", "cache_key", "read_token_table", "write_token_table",
]
