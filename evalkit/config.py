"""`PasskConfig`: every setting of `entropykit passk`, its default, and every check of it.

Kept free of heavy imports (no torch, numpy or plotly at import time) because the CLI builds
its options, defaults and --help from this dataclass.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields

from entropykit.errors import UserError
from entropykit.prompts import check_template
from entropykit.sampling import BACKENDS, PAPER_EVAL_TEMPERATURE, PAPER_EVAL_TOP_P, PAPER_MAX_TOKENS, check_sampling
from entropykit.verify import GRADERS  # light: math-verify is imported when a grader first runs



DYNAMICS_MAX_SAMPLES = 2000  # `passk compare`: responses per run read for the test-time dynamics


@dataclass
class PasskConfig:
    """Settings of one `passk` run; defaults are the paper's evaluation settings where it has
    them (temperature 0.6, top-p 0.95, 8K-token responses, the \\boxed{} prompt suffix).

    `n` defaults to the largest k, and k to the powers of two up to n: `ks` alone is enough.
    `from_samples` scores existing records instead of sampling (no model, no benchmark).
    """

    model: str | None = None
    benchmarks: list[str] = field(default_factory=list)
    out: str | None = None
    n: int | None = None  # samples per problem; default: the largest k (1 without ks)
    ks: str | list[int] | None = None  # "1,2,4,8", "256" (= 1,2,4,...,256) or a list
    temperature: float = PAPER_EVAL_TEMPERATURE
    top_p: float = PAPER_EVAL_TOP_P
    max_tokens: int = PAPER_MAX_TOKENS
    seed: int = 0
    backend: str = "auto"
    prompt_template: str = "math"  # a name in entropykit.prompts.PROMPT_TEMPLATES (math: the paper's suffix) or a string with {problem}
    chat: bool | None = None  # None: the tokenizer's chat template when it has one
    columns: str | dict | None = None
    limit: int | None = None  # first N problems of each benchmark
    timeout_s: float = 5.0  # hard time limit per answer check
    workers: int | None = None  # verifier processes (None: all cores, half while hf generates)
    grader: str = "entropykit"  # entropykit | mathverify-default (entropykit.verify.GRADERS; evalkit/README.md)
    batch_size: int = 16  # transformers backend
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    shard: str | None = None  # "I/N": this process samples share I (0-based) of N
    token_entropies: bool = False  # record per-token entropy/log-prob while sampling (hf backend)
    from_samples: str | None = None  # score these records (a JSONL file or a run folder) instead
    input_format: str = "auto"  # the shape of the input records (entropykit.formats): auto-detected, or named
    fields: str | None = None  # ROLE=FIELD,... for shapes not detected (entropykit.formats.parse_fields)
    batch_input: str | None = None  # vLLM run_batch: the batch's input file, joined with its output by custom_id
    engine_kwargs: dict = field(default_factory=dict)
    html: bool = True
    quiet: bool = False

    def validate(self) -> "PasskConfig":
        """Raise UserError (one line, exit 2) for any bad setting; returns self. Runs before any
        work: nothing is loaded or written yet."""
        if not self.out:
            raise UserError("--out DIR is required")
        if self.timeout_s is None or not self.timeout_s > 0 or not math.isfinite(self.timeout_s):
            raise UserError(f"--verify-timeout must be positive (a finite number of seconds), got {self.timeout_s}")
        if self.workers is not None and self.workers < 0:
            raise UserError("--verify-workers must be >= 0")
        most = max(64, 4 * (os.cpu_count() or 1))  # more processes than this only compete for the cores
        if self.workers is not None and self.workers > most:
            raise UserError(f"--verify-workers {self.workers}: at most {most} on this machine ({os.cpu_count()} cores)")
        if self.grader not in GRADERS:
            raise UserError(f"unknown --grader {self.grader!r} (use one of: {', '.join(GRADERS)})")
        ks = self._given_ks()
        if self.from_samples is not None:
            given = [name for name, v in (("--model", self.model), ("--benchmark", self.benchmarks),
                                          ("--n", self.n), ("--shard", self.shard)) if v]
            # settings of sampling: they cannot apply to samples that exist already
            given += [flag for flag, field_name in _SAMPLING_ONLY if getattr(self, field_name) != _DEFAULTS[field_name]]
            if given:
                raise UserError(f"--from-samples scores existing samples: drop {'/'.join(given)} (they apply to sampling)")
            return self
        if not self.model:
            raise UserError("--model is required (or --from-samples FILE)")
        if not self.benchmarks:
            raise UserError("--benchmark is required (e.g. --benchmark math500)")
        check_sampling(temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens,
                       n=1 if self.n is None else self.n, flags=True)
        if ks and max(ks) > self.sample_count():
            raise UserError(f"k={max(ks)} is larger than the number of samples n={self.sample_count()}: "
                            f"drop --n (it defaults to the largest k) or raise it")
        if self.limit is not None and self.limit < 1:
            raise UserError(f"--limit must be >= 1, got {self.limit}")
        if self.backend not in BACKENDS:
            raise UserError(f"unknown backend '{self.backend}' (use {', '.join(BACKENDS)})")
        if self.batch_size < 1:
            raise UserError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.tensor_parallel_size < 1 or self.data_parallel_size < 1:
            raise UserError("--tensor-parallel-size and --data-parallel-size must be >= 1")
        self.check_backend(self.backend)
        check_template(self.prompt_template)
        self.shard_spec()
        return self

    def check_backend(self, backend: str) -> None:
        """Settings that need the transformers backend: checked by `validate` on --backend and by
        the runner on the backend `auto` resolved to."""
        from entropykit.sampling import backend_info

        if self.token_entropies and backend != "auto" and not backend_info(backend).token_stats:
            raise UserError("--token-entropies needs the transformers backend (--backend hf): vLLM returns "
                            "full-vocabulary numbers only as O(vocabulary) Python objects per token; "
                            "or score the samples afterwards with `entropykit score`")

    def k_values(self) -> list[int]:
        """The k values for pass@k: given, or 1, 2, 4, ... up to n (n itself included)."""
        from entropykit.evalkit.metrics import default_ks

        return self._given_ks() or default_ks(self.sample_count())

    def _given_ks(self) -> list[int] | None:
        from entropykit.evalkit.metrics import parse_ks

        try:
            return parse_ks(self.ks)
        except ValueError as e:
            raise UserError(str(e)) from None

    def sample_count(self) -> int:
        """n: given, else the largest k, else 1."""
        if self.n is not None:
            return int(self.n)
        ks = self._given_ks()
        return max(ks) if ks else 1

    def shard_spec(self) -> tuple[int, int] | None:
        """(index, count) from `shard` "I/N" (0 <= I < N), or None when not sharded."""
        return parse_shard(self.shard)


_SAMPLING_ONLY = (("--temperature", "temperature"), ("--top-p", "top_p"), ("--max-tokens", "max_tokens"), ("--seed", "seed"),
                  ("--backend", "backend"), ("--prompt-template", "prompt_template"), ("--chat/--no-chat", "chat"),
                  ("--columns", "columns"), ("--limit", "limit"), ("--batch-size", "batch_size"),
                  ("--tensor-parallel-size", "tensor_parallel_size"), ("--data-parallel-size", "data_parallel_size"),
                  ("--token-entropies", "token_entropies"))
_DEFAULTS = {f.name: f.default for f in fields(PasskConfig)}


def parse_shard(spec: str | None) -> tuple[int, int] | None:
    """"I/N" -> (I, N) with 0 <= I < N; None -> None; anything else is a UserError."""
    if spec is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(spec))
    if not m:
        raise UserError(f"--shard must look like I/N (e.g. 0/4 ... 3/4), got {spec!r}")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 0 <= i < n:
        raise UserError(f"--shard {spec}: need 0 <= I < N (shards are numbered from 0)")
    return i, n
