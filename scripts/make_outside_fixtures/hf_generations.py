"""A Hugging Face generations dataset (open-r1 style) as parquet and JSONL, and OpenAI-style
`messages` JSONL files.

    .venv/bin/python scripts/make_outside_fixtures/hf_generations.py

(the project's .venv already has `datasets` and `math-verify`; nothing is installed.)

Columns follow the OpenR1-Math-220k dataset card (problem, solution, answer, uuid, generations,
finish_reasons, correctness_math_verify, correctness_llama, correctness_count, messages); written
with `datasets.Dataset.to_parquet` and `Dataset.to_json` (JSON Lines, the library's default).
correctness_math_verify is math-verify's verdict: `verify(parse(gold), parse(generation))` with
math-verify's default (lenient) extraction, which accepts an unboxed final number (p1[0]) where
a strict boxed-answer grader does not. correctness_llama stands for an LLM judge and is written
here (null where no judge ran, as in open-r1).
"""
from __future__ import annotations

import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT, PROBLEMS, REPLIES, SYSTEM, fresh_dir, write_jsonl  # noqa: E402

from datasets import Dataset  # noqa: E402
from math_verify import parse, verify  # noqa: E402

# an LLM judge's verdict per (problem, sample): it also accepts the stray trailing 18 of p0[1]
JUDGE = {"p0": [True, True], "p1": [True, True], "p2": [True, False], "p3": None}


def main() -> None:
    rows = []
    for pid, q, g in PROBLEMS:
        gens = REPLIES[pid]
        mv = [bool(verify(parse(f"${g}$"), parse(x))) for x in gens]
        rows.append({
            "problem": q,
            "solution": f"Working it out gives $\\boxed{{{g}}}$.",
            "answer": g,
            "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"entropykit-fixture/{pid}")),
            "generations": gens,
            "finish_reasons": ["stop"] * len(gens),
            "correctness_math_verify": mv,
            "correctness_llama": JUDGE[pid],
            "correctness_count": sum(mv),
            "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": gens[0]}],
        })
    dest = fresh_dir(OUT / "hf_generations")
    ds = Dataset.from_list(rows)
    ds.to_parquet(str(dest / "generations.parquet"))
    ds.to_json(str(dest / "generations.jsonl"))  # JSON Lines

    msg = fresh_dir(OUT / "messages")
    with_gold, plain = [], []
    for pid, q, g in PROBLEMS:
        for j, reply in enumerate(REPLIES[pid]):
            conv = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q},
                    {"role": "assistant", "content": reply}]
            with_gold.append({"id": f"{pid}-{j}", "messages": conv, "answer": g})
            plain.append({"messages": conv})
    write_jsonl(msg / "messages.jsonl", with_gold)
    write_jsonl(msg / "messages_plain.jsonl", plain)
    for r in rows:
        print(r["answer"], r["correctness_math_verify"])


if __name__ == "__main__":
    main()
