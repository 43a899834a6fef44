"""`AnalyzeConfig`: every option of `entropykit analyze`, its default and its checks.

Kept free of heavy imports: the CLI reads its option defaults from here at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from entropykit.embedded import DEFAULT_EMBEDDER  # the embedded all-MiniLM-L6-v2 (rare.resolve_embedder_path)
from entropykit.errors import UserError
from entropykit.scoring_config import SCORE_BATCH_TOKENS


@dataclass
class AnalyzeConfig:
    """Options of `entropykit analyze` (defaults follow the paper where it gives one); the CLI's
    option defaults are read from here."""

    outputs: str  # JSONL with "prompt" and "response" (optional "id", "source", "model", per-token arrays)
    out: str  # output folder
    base: str | None = None  # reference model's JSONL ("response" needed) -> rare behaviors
    model: str | None = None  # scorer spec; None: the model named by the records
    scorer_differs_ok: bool = False  # allow a scorer other than the records' model
    embedder: str = DEFAULT_EMBEDDER  # sentence-transformers spec
    lexicon: str = "paper"  # pivotal words: "paper", "extended" or a FILE that replaces them
    lexicon_add: str | None = None  # FILE of words added to --lexicon
    reflective: str = "paper"  # reflective patterns: "paper" (verify/check), "extended" or a FILE
    reflective_add: str | None = None  # FILE of patterns added to --reflective
    min_word_count: int = 5  # "commonly occurring" pivotal words: at least this many occurrences
    pivotal_entropy: str = "first"  # a word's entropy: "first" token (default) or "mean" of its tokens
    min_responses: int = 10  # per-response tests need this many responses with both groups
    min_count: int = 10  # pooled (descriptive) tests need this many values per group
    mixed_model: bool = False  # also fit H ~ group + (1 | prompt/response) (statsmodels MixedLM)
    rare_fraction: float = 0.1  # paper: top 10% by kNN distance are rare
    knn_k: int = 5
    n_clusters: int = 8
    umap_max_points: int = 4000  # UMAP/cluster sample size (all sentences get a rarity score)
    forking_quantile: float = 0.8  # "high-entropy" tokens: entropy >= this quantile (top 20%)
    n_boot: int = 2000  # bootstrap replicates for the 95% CIs
    seed: int = 0
    repetition_n: int = 4  # n of the seq-rep-n repetition rate
    chat: bool | None = None  # apply the tokenizer's chat template to prompts (None: if it has one)
    top_k: int = 5  # alternatives per token stored while scoring (report hover)
    max_batch_tokens: int = SCORE_BATCH_TOKENS  # scorer batch size in tokens (padded)
    chunk_records: int = 128  # records scored per scorer call (bounds memory)
    embed_batch_size: int = 64
    text_responses: int = 50  # responses in the report's running-text view
    color_range: str = "absolute"  # text view colours: "absolute" (0..color_max nats) or "run" (0..99th pct)
    color_max: float = 4.0  # top of the absolute colour scale, nats
    limit: int | None = None  # analyze only the first N usable records
    input_format: str = "auto"  # the shape of the input records (entropykit.formats): auto-detected, or named
    fields: str | None = None  # ROLE=FIELD,... for shapes not detected (entropykit.formats.parse_fields)
    batch_input: str | None = None  # vLLM run_batch: the batch's input file, joined with its output by custom_id
    device: str | None = None
    progress: bool = True  # rich progress bars on stderr
    report: bool = True  # write report.html

    def validate(self) -> None:
        """Every option check, before any work (UserError: one line, exit 2)."""
        checks = [
            (self.pivotal_entropy in ("first", "mean"), f"--pivotal-entropy must be 'first' or 'mean', not {self.pivotal_entropy!r}"),
            (0.0 < self.rare_fraction <= 1.0, f"--rare-fraction must be in (0, 1], got {self.rare_fraction}"),
            (self.knn_k >= 1, f"--k must be >= 1, got {self.knn_k}"),
            (self.n_clusters >= 1, f"--clusters must be >= 1, got {self.n_clusters}"),
            (0.0 < self.forking_quantile < 1.0, f"--forking-quantile must be in (0, 1), got {self.forking_quantile}"),
            (self.limit is None or self.limit >= 1, f"--limit must be >= 1, got {self.limit}"),
            (self.repetition_n >= 1, f"--repetition-n must be >= 1, got {self.repetition_n}"),
            (self.n_boot >= 0, f"--n-boot must be >= 0, got {self.n_boot}"),
            (self.min_word_count >= 1, f"--min-word-count must be >= 1, got {self.min_word_count}"),
            (self.min_responses >= 2, f"--min-responses must be >= 2, got {self.min_responses}"),
            (self.min_count >= 2, f"--min-count must be >= 2, got {self.min_count}"),
            (0 <= self.top_k <= 20, f"--top-k must be in [0, 20], got {self.top_k}"),
            (self.text_responses >= 0, f"--text-responses must be >= 0, got {self.text_responses}"),
            (self.color_range in ("absolute", "run"), f"--color-range must be 'absolute' or 'run', not {self.color_range!r}"),
            (0 < self.color_max < float("inf"), f"--color-max must be a finite number > 0, got {self.color_max}"),
            (self.max_batch_tokens >= 1 and self.chunk_records >= 1, "--max-batch-tokens must be >= 1"),
            (self.umap_max_points >= 2, f"--umap-points must be >= 2, got {self.umap_max_points}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise UserError(msg)

    @classmethod
    def default(cls, name: str):
        """Default value of a field (the CLI's option defaults)."""
        return {f.name: f.default for f in fields(cls)}[name]
