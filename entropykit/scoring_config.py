"""`ScoreConfig`: the settings of `entropykit score` (teacher-forced per-token entropy), torch-free
so that the CLI builds its options from it before anything heavy is imported."""

from __future__ import annotations

from dataclasses import dataclass

from entropykit.embedded import DEFAULT_MODEL
from entropykit.errors import UserError

SCORE_BATCH_TOKENS = 8192  # padded tokens per scoring forward (analyze's scorer uses the same)


@dataclass
class ScoreConfig:
    """Score every {"prompt", "response"} record of `input` and write them with per-token arrays to `out`."""

    input: str
    out: str
    model: str = DEFAULT_MODEL  # embedded alias, HF folder, .gguf file or hub id
    chat: bool | None = None  # the chat template around prompts (None: when the model has one)
    chunk_size: int | None = None  # positions per LM-head chunk (None: 1024 on CPU, 768 compiled on CUDA)
    max_batch_tokens: int = SCORE_BATCH_TOKENS
    device: str | None = None  # None: cuda if present
    dtype: str | None = None  # None: bf16 on CUDA, fp32 on CPU
    progress: bool = True  # a progress bar on stderr
    input_format: str = "auto"  # the shape of the input records (entropykit.formats): auto-detected, or named
    fields: str | None = None  # ROLE=FIELD,... for shapes not detected (entropykit.formats.parse_fields)
    batch_input: str | None = None  # vLLM run_batch: the batch's input file, joined with its output by custom_id

    def validate(self) -> "ScoreConfig":
        if (self.chunk_size is not None and self.chunk_size < 1) or self.max_batch_tokens < 1:
            raise UserError("--chunk-size and --batch-tokens must be >= 1")
        return self


def read_score_records(cfg: ScoreConfig) -> tuple[list[dict], list[str]]:
    """The records `entropykit score` scores (any shape `entropykit.formats` reads; another tool's
    records without the fields it lacks) and the reader's notes for the user. Torch-free, so bad
    input is refused before any heavy import."""
    from entropykit.formats import read_records

    read = read_records(cfg.input, fmt=cfg.input_format, fields=cfg.fields, batch_input=cfg.batch_input)
    if read.format == "entropykit":  # our own records come out as they went in
        return read.records, read.notes
    return [{k: v for k, v in r.items() if v is not None or k in ("prompt", "response")} for r in read.records], read.notes
