"""entropykit.analysis: token- and sentence-level entropy of model outputs (paper section 2).

Entry points:
- ``run_analysis(AnalyzeConfig(outputs=..., out=..., base=None, ...)) -> dict`` (the CLI's
  ``entropykit analyze``), ``print_summary(summary)``.
- Pure pieces, each documented with its formula: ``compare_groups`` / ``cohens_d`` /
  ``bootstrap_means`` / ``describe`` (stats), ``tokens_in_span`` / ``align_spans`` /
  ``word_entropy`` / ``token_anchors`` / ``assign_tokens`` (alignment),
  ``pivotal_occurrences`` / ``sentence_rows`` / ``word_first_entropies`` / ``top_counts``
  (per-response tables), ``knn_rarity`` / ``top_fraction_mask`` / ``project_2d`` / ``cluster`` /
  ``central_members`` / ``load_embedder`` / ``embed_texts`` (rare behaviors).
- Per-response test-time dynamics live in the core: ``entropykit.response_metrics``.
"""

from .align import align_spans, assign_tokens, token_anchors, tokens_in_span, word_entropy
from .behaviors import pivotal_occurrences, sentence_rows, top_counts, word_first_entropies
from .pipeline import AnalyzeConfig, load_records, print_summary, run_analysis
from .rare import central_members, cluster, embed_texts, embed_with_cache, knn_rarity, load_embedder, project_2d, resolve_embedder_path, top_fraction_mask
from .stats import Comparison, bootstrap_means, cohens_d, compare_groups, describe
from .tokens import TokenTable, cache_key, read_token_table, write_token_table

__all__ = [
    "AnalyzeConfig", "run_analysis", "print_summary", "load_records",
    "align_spans", "assign_tokens", "token_anchors", "tokens_in_span", "word_entropy",
    "pivotal_occurrences", "sentence_rows", "top_counts", "word_first_entropies",
    "central_members", "cluster", "embed_texts", "embed_with_cache", "knn_rarity", "load_embedder", "project_2d",
    "resolve_embedder_path", "top_fraction_mask",
    "Comparison", "bootstrap_means", "cohens_d", "compare_groups", "describe",
    "TokenTable", "cache_key", "read_token_table", "write_token_table",
]


def demo_paths() -> tuple[str, str]:
    """Paths of the bundled demo files ``(demo_outputs.jsonl, demo_base.jsonl)`` (hand-written,
    illustrative responses: 8 RL-style with self-checks, 8 terse base-style)."""
    from pathlib import Path

    d = Path(__file__).resolve().parent / "data"
    return str(d / "demo_outputs.jsonl"), str(d / "demo_base.jsonl")


__all__.append("demo_paths")
