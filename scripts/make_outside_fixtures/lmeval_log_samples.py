"""lm-eval `--log_samples` output (samples_<task>_<date>.jsonl + results_<date>.json), written by
lm-eval's own CLI.

    OMP_NUM_THREADS=1 /tmp/fx-lmeval/bin/python scripts/make_outside_fixtures/lmeval_log_samples.py

Two runs of `lm_eval` (the CLI's own entry point, `lm_eval.__main__.cli_evaluate`) on a tiny
custom generate_until task `ek_arith` (4 problems from common.py in a local JSONL file,
`repeats: 2`, exact_match after two filter pipelines: "strict-boxed" (regex on the last
\\boxed{}, then take_first) and "flexible-extract" (last number, then take_first)); lm-eval scores the first
of the 2 repeats, both stay in the samples' `resps`):

* `scripted/`: `--model scripted`, an `lm_eval.api.model.LM` subclass registered here whose
  `generate_until` returns the replies written in common.py (a random model writes noise); the
  task, filters, metrics and every file are lm-eval's own.
* `hf/`: `--model hf` with a tiny random 1-layer Llama (SmolLM2 tokenizer), greedy, 24 new
  tokens: noise replies, but the exact shape of an HF-backed run.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, PROBLEMS, REPLIES, build_tiny_model, fresh_dir, write_jsonl  # noqa: E402

WORK = Path(os.environ.get("FX_WORK", "/tmp/fx-work/lmeval"))

TASK_YAML = """\
task: ek_arith
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "Question: {{{{question}}}}\\nPut the final answer in \\\\boxed{{}}.\\nAnswer:"
doc_to_target: "{{{{answer}}}}"
repeats: 2
generation_kwargs:
  until:
    - "Question:"
    - "</s>"
    - "<|im_end|>"
  do_sample: false
  max_gen_toks: 200
filter_list:
  - name: strict-boxed
    filter:
      - function: regex
        regex_pattern: "\\\\\\\\boxed\\\\{{(.*)\\\\}}"
      - function: take_first
  - name: flexible-extract
    filter:
      - function: regex
        group_select: -1
        regex_pattern: "(-?[$0-9.,]{{2,}})|(-?[0-9]+)"
      - function: take_first
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
    ignore_case: true
    ignore_punctuation: false
    regexes_to_ignore:
      - ","
      - "\\\\$"
metadata:
  version: 1.0
"""


def register_scripted():
    from lm_eval.api.model import LM
    from lm_eval.api.registry import register_model

    by_question = {q: pid for pid, q, _ in PROBLEMS}

    @register_model("scripted")
    class ScriptedLM(LM):
        """Returns the replies written in common.py, sample j of a problem for its j-th request."""

        def __init__(self, **kwargs):
            super().__init__()
            self.seen: dict[str, int] = {}

        def generate_until(self, requests, disable_tqdm: bool = False):
            out = []
            for req in requests:
                context = req.args[0]
                pid = next(p for q, p in by_question.items() if q in context)
                j = self.seen.get(pid, 0)
                self.seen[pid] = j + 1
                out.append(REPLIES[pid][j % len(REPLIES[pid])])
            return out

        def loglikelihood(self, requests, disable_tqdm: bool = False):
            raise NotImplementedError

        def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
            raise NotImplementedError

    return ScriptedLM


def run_cli(argv: list[str]) -> None:
    from lm_eval.__main__ import cli_evaluate
    old = sys.argv
    sys.argv = ["lm_eval", *argv]
    try:
        cli_evaluate()
    finally:
        sys.argv = old


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    data = WORK / "ek_arith.jsonl"
    write_jsonl(data, [{"id": pid, "question": q, "answer": g} for pid, q, g in PROBLEMS])
    task_dir = WORK / "tasks"
    task_dir.mkdir(exist_ok=True)
    (task_dir / "ek_arith.yaml").write_text(TASK_YAML.format(data=data))
    model_dir = build_tiny_model(WORK / "tiny-llama")
    dest = OUT / "lm_eval"
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(task_dir / "ek_arith.yaml", dest / "ek_arith.yaml")
    common = ["--tasks", "ek_arith", "--include_path", str(task_dir), "--log_samples", "--seed", "0"]
    runs = {  # hf first: registering "scripted" before lm-eval loads its own models hides them
        "hf": ["--model", "hf", "--model_args", f"pretrained={model_dir},dtype=float32", "--device", "cpu",
               "--batch_size", "1", "--gen_kwargs", "max_gen_toks=24"],
        "scripted": ["--model", "scripted"],
    }
    for name in sys.argv[1:] or list(runs):
        out = WORK / "out" / name
        if name == "scripted":
            register_scripted()
        if out.exists():
            shutil.rmtree(out)
        run_cli([*runs[name], *common, "--output_path", str(out)])
        files = [p for p in out.rglob("*") if p.is_file()]
        fresh_dir(dest / name)
        for p in files:
            shutil.copy(p, dest / name / p.name)
        print(name, [p.name for p in files])


if __name__ == "__main__":
    main()
