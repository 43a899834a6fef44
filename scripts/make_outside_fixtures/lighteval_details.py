"""lighteval details parquet (+ results json), written by lighteval's own EvaluationTracker.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 /tmp/fx-lighteval/bin/python scripts/make_outside_fixtures/lighteval_details.py

lighteval 0.13.0 installs here, but its pipelines load tasks and models from the Hub, so the
evaluation loop is not run. What it writes is lighteval's own code: an
`lighteval.logging.evaluation_tracker.EvaluationTracker(output_dir, save_details=True)` gets, per
problem, `details_logger.log(task_name, Doc, ModelResponse, metrics)` with lighteval's real `Doc`
and `ModelResponse` dataclasses (two sampled replies from common.py in `text`) and per-sample
metrics computed by lighteval's own metrics (`Metrics.expr_gold_metric` -> `extractive_match`,
math-verify extraction of the first reply, and `Metrics.pass_at_k_math`), then
`tracker.save()` writes `details/<model>/<date>/details_<task>_<date>.parquet`
(`Dataset.from_list([asdict(detail)])` -> columns `doc, metric, model_response`, nested structs)
and `results/<model>/results_<date>.json`. The model config is lighteval's DummyModelConfig.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, PROBLEMS, REPLIES, SYSTEM, fresh_dir, load_tokenizer  # noqa: E402

from lighteval.logging.evaluation_tracker import EvaluationTracker  # noqa: E402
from lighteval.metrics.metrics import Metrics  # noqa: E402
from lighteval.models.dummy.dummy_model import DummyModelConfig  # noqa: E402
from lighteval.models.model_output import ModelResponse  # noqa: E402
from lighteval.tasks.requests import Doc  # noqa: E402

TASK = "custom|ek_arith|0"
WORK = Path(os.environ.get("FX_WORK", "/tmp/fx-work/lighteval"))


def main() -> None:
    tok = load_tokenizer()
    out = WORK / "out"
    if out.exists():
        shutil.rmtree(out)
    tracker = EvaluationTracker(output_dir=str(out), save_details=True)
    tracker.general_config_logger.log_model_info(DummyModelConfig(model_name="entropykit/tiny-llama", seed=0))
    tracker.general_config_logger.log_args_info(num_fewshot_seeds=1, max_samples=None, job_id="0")
    metrics_fns = [Metrics.expr_gold_metric.value]
    per_metric: dict[str, list[float]] = {}
    for i, (pid, q, g) in enumerate(PROBLEMS):
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": q}]
        prompt = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        doc = Doc(query=q, choices=[f"${g}$"], gold_index=0, instruction="", task_name=TASK, id=str(i), num_samples=len(REPLIES[pid]),
                  specific={"id": pid})
        replies = REPLIES[pid]
        resp = ModelResponse(input=prompt, input_tokens=tok(prompt, add_special_tokens=False)["input_ids"],
                             text=list(replies),
                             output_tokens=[tok(r, add_special_tokens=False)["input_ids"] for r in replies])
        metrics = {}
        for m in metrics_fns:
            res = m.compute_sample(doc=doc, model_response=resp)
            metrics.update(res if isinstance(res, dict) else {m.metric_name: res})
        for k, v in metrics.items():
            per_metric.setdefault(k, []).append(float(v))
        tracker.details_logger.log(TASK, doc, resp, metrics)
        tracker.metrics_logger.log(TASK, metrics)
    # aggregation needs LightevalTask objects (Hub task registry); the mean is what it computes
    agg = {k: sum(v) / len(v) for k, v in per_metric.items()}
    tracker.metrics_logger.metric_aggregated = {TASK: dict(agg), "all": dict(agg)}
    tracker.general_config_logger.log_end_time()
    tracker.save()
    dest = fresh_dir(OUT / "lighteval")
    for p in out.rglob("*"):
        if p.is_file():
            shutil.copy(p, dest / p.name)
    print(sorted(p.name for p in dest.iterdir()))


if __name__ == "__main__":
    main()
