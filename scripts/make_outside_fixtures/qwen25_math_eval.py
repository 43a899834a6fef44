"""A Qwen2.5-Math evaluation output (jsonl + metrics json), made with that repo's own evaluation code.

Source followed: QwenLM/Qwen2.5-Math, evaluation/math_eval.py (main(), the part after generation)
and evaluation/evaluate.py, at commit a45202bd16f1ec06f433442dc1152d0074773465. math_eval.py
imports vLLM at module level, so it is not imported; this script repeats its main() step by step
with the model's generations replaced by the replies in common.py, and calls the repo's own
parse_question, parse_ground_truth, construct_prompt, run_execute (answer extraction) and
evaluate() (math_equal grading), then writes the file with the repo's save_jsonl.

    # the repo's evaluation/ folder without its data/ (e.g. git show each .py file), then:
    python3 -m venv /tmp/fx-qwen
    /tmp/fx-qwen/bin/pip install sympy==1.12 antlr4-python3-runtime==4.11.1 word2number Pebble \
        timeout-decorator regex multiprocess python-dateutil numpy tqdm
    /tmp/fx-qwen/bin/pip install --no-deps -e /tmp/fx-qwen-src/evaluation/latex2sympy
    QWEN_EVAL_DIR=/tmp/fx-qwen-src/evaluation /tmp/fx-qwen/bin/python scripts/make_outside_fixtures/qwen25_math_eval.py

Command line it stands for: python3 math_eval.py --data_names math --prompt_type qwen25-math-cot
--split test --num_test_sample -1 --seed 0 --temperature 0.7 --top_p 0.95 --n_sampling 2
--save_outputs --output_dir <out>, with a local data/math/test.jsonl of the 4 problems.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from argparse import Namespace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT, PROBLEMS, REPLIES  # noqa: E402

EVAL_DIR = Path(os.environ.get("QWEN_EVAL_DIR", "/tmp/fx-qwen-src/evaluation"))
sys.path.insert(0, str(EVAL_DIR))
os.chdir(EVAL_DIR)  # examples/prompts are looked up relative to it

from evaluate import evaluate  # noqa: E402
from parser import parse_ground_truth, parse_question, run_execute  # noqa: E402
from python_executor import PythonExecutor  # noqa: E402
from utils import construct_prompt, save_jsonl  # noqa: E402


def main() -> None:
    args = Namespace(data_names="math", prompt_type="qwen25-math-cot", split="test", num_test_sample=-1, seed=0,
                     temperature=0.7, top_p=0.95, n_sampling=2, start=0, end=-1, num_shots=0,
                     adapt_few_shot=False, apply_chat_template=False)
    data_name = "math"
    examples = [{"idx": i, "problem": q, "solution": f"Working it out gives $\\boxed{{{g}}}$.", "answer": g,
                 "level": "Level 1", "type": "Prealgebra", "unique_id": f"entropykit/{pid}.json"}
                for i, (pid, q, g) in enumerate(PROBLEMS)]
    replies = {i: REPLIES[pid] for i, (pid, _, _) in enumerate(PROBLEMS)}
    executor = PythonExecutor(get_answer_from_stdout=True)

    samples = []
    for example in examples:  # math_eval.py main(): build the sample records
        idx = example["idx"]
        example["question"] = parse_question(example, data_name)
        gt_cot, gt_ans = parse_ground_truth(example, data_name)
        example["gt_ans"] = gt_ans
        full_prompt = construct_prompt(example, data_name, args)
        sample = {"idx": idx, "question": example["question"], "gt_cot": gt_cot, "gt": gt_ans, "prompt": full_prompt}
        for key in ["level", "type", "unit", "solution_type", "choices", "solution", "ques_type", "ans_type",
                    "answer_type", "dataset", "subfield", "filed", "theorem", "answer"]:
            if key in example:
                sample[key] = example[key]
        samples.append(sample)

    stop_words = ["</s>", "<|im_end|>", "<|endoftext|>"]
    # generation replaced: code[i] is what math_eval.py keeps after stripping prompt and stop words
    codes = [replies[s["idx"]][j].strip() for s in samples for j in range(args.n_sampling)]
    for c in codes:
        assert not any(w in c for w in stop_words)
    results = [run_execute(executor, code, args.prompt_type, data_name) for code in codes]
    time_use = 12.3

    all_samples = []
    for i, sample in enumerate(samples):
        code = codes[i * args.n_sampling:(i + 1) * args.n_sampling]
        result = results[i * args.n_sampling:(i + 1) * args.n_sampling]
        preds = [item[0] for item in result]
        reports = [item[1] for item in result]
        sample.pop("prompt")
        sample.update({"code": code, "pred": preds, "report": reports})
        all_samples.append(sample)

    all_samples, result_json = evaluate(samples=all_samples, data_name=data_name, prompt_type=args.prompt_type,
                                        execute=True)
    out_dir = OUT / "qwen25_math" / data_name
    if out_dir.exists():
        shutil.rmtree(out_dir)
    prefix = f"{args.split}_{args.prompt_type}_{args.num_test_sample}_seed{args.seed}_t{args.temperature}"
    out_file = f"{out_dir}/{prefix}_s{args.start}_e{args.end}.jsonl"
    save_jsonl(all_samples, out_file)
    result_json["time_use_in_second"] = time_use
    result_json["time_use_in_minite"] = f"{int(time_use // 60)}:{int(time_use % 60):02d}"
    with open(out_file.replace(".jsonl", f"_{args.prompt_type}_metrics.json"), "w") as f:
        json.dump(result_json, f, indent=4)


if __name__ == "__main__":
    main()
