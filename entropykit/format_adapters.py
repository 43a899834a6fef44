"""The shapes `entropykit.formats.read_records` knows: one adapter per tool, row -> records.

Each adapter takes one raw row (a JSONL line, a parquet row) and returns the records it holds
(a list column of samples gives one record per sample), each a dict of the normalized fields
of `formats.NORMALIZED` it can fill. The field names are those the tools write (the source
file each follows is named in its docstring); `detect` picks the adapter from a row's fields.

Prompt forms (`entropykit.chat_prompts`): a tool that logs the text it fed the model gives a
"raw" prompt, veRL and TRL log chat templates decoded without special tokens ("decoded"),
datasets hold the bare question ("plain", templated by the scorer like entropykit's own).

Verdicts a file carries ("reported"): {"field", "value", "correct"}; a number counts as correct
when >= 0.5 (rewards of 1/0 and +1/-1, exact_match 1.0/0.0), a bool as itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from entropykit.errors import UserError

from .formats import get_path

Adapter = Callable[..., list[dict]]

PROMPT_COLUMNS = ("prompt", "problem", "question", "query", "input", "instruction")
ANSWER_COLUMNS = ("answer", "gt", "gold", "ground_truth", "reference", "target", "solution", "gts")
GENERATION_COLUMNS = ("generations", "completions", "responses", "outputs", "samples", "code", "model_outputs", "predictions")
VERDICT_PREFIXES = ("correctness", "is_correct", "correct", "score", "acc", "reward")


def _str(value: Any, where: str, name: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise UserError(f"{where}: '{name}' must be a string, got {type(value).__name__}")
    return str(value)


def _text(value: Any, where: str, name: str) -> str:
    """A prompt or a response: text, nothing else."""
    if not isinstance(value, str):
        raise UserError(f"{where}: '{name}' must be a string, got {type(value).__name__}")
    return value


def _answer(value: Any) -> str | None:
    """A gold answer as text: strings and numbers as they are; veRL's {"ground_truth": ...}."""
    if isinstance(value, dict):
        value = value.get("ground_truth", value.get("answer"))
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if value is None or isinstance(value, (bool, list, dict)):
        return None
    return str(value)


def verdict(name: str, value: Any) -> dict | None:
    """A file's own verdict on one sample (see the module docstring); None when it holds none."""
    if isinstance(value, bool):
        return {"field": name, "value": value, "correct": value}
    if isinstance(value, (int, float)) and value == value:
        return {"field": name, "value": value, "correct": value >= 0.5}
    return None


def _first_verdict(row: dict, names: list[str]) -> dict | None:
    for n in names:
        v = verdict(n, row.get(n))
        if v is not None:
            return v
    return None


def _responses(value: Any, where: str, name: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(x, str) for x in value):
        return value
    raise UserError(f"{where}: '{name}' must be a string or a list of strings, got {type(value).__name__}")


# ---- the adapters -------------------------------------------------------------------------------

def entropykit_records(row: dict, where: str, file: Path) -> list[dict]:
    """entropykit's own records (`score`, `passk` samples, `analyze` inputs): kept as they are."""
    rec = dict(row)
    if "messages" in rec and rec.get("prompt") is None:
        from entropykit.chat_prompts import check_messages

        rec["messages"] = check_messages(rec["messages"], where)
    return [rec]


def verl_records(row: dict, where: str, file: Path) -> list[dict]:
    """veRL rollout / validation dumps (`RayPPOTrainer._dump_generations`, verl/trainer/ppo/
    ray_trainer.py): {"input", "output", "gts", "score", "step", reward extras such as "acc"};
    "input" is the chat prompt decoded with skip_special_tokens=True."""
    extras = [k for k in ("acc", "score") if k in row]
    return [{"prompt": _text(row.get("input"), where, "input"), "prompt_form": "decoded",
             "response": _text(row.get("output"), where, "output"), "answer": _answer(row.get("gts")),
             "step": row.get("step"), "reported": _first_verdict(row, extras)}]


def lm_eval_records(row: dict, where: str, file: Path) -> list[dict]:
    """lm-eval `--log_samples` (lm_eval/evaluator.py, EvaluationTracker): {"doc_id", "doc",
    "target", "arguments", "resps" [[text, ...]], "filtered_resps", "metrics": [names], <metric>:
    value}. The context in "arguments" is the exact text the model was fed ("raw")."""
    args = row.get("arguments")
    if isinstance(args, dict):  # {"gen_args_0": {"arg_0": context, "arg_1": gen_kwargs}}
        first = next(iter(args.values()), {})
        context = first.get("arg_0") if isinstance(first, dict) else None
    elif isinstance(args, list) and args and isinstance(args[0], (list, tuple)):
        context = args[0][0]
    else:
        context = None
    resps = row.get("resps") or []
    if len(resps) == 1 and isinstance(resps[0], list):  # one request, its repeats
        texts = resps[0]
    else:  # one request per sample
        texts = [r[0] if isinstance(r, list) and r else r for r in resps]
    texts = _responses(texts or row.get("filtered_resps"), where, "resps")
    metrics = row.get("metrics") if isinstance(row.get("metrics"), list) else []
    # the metrics are per document (of the filtered response): a per-sample verdict only when n = 1
    reported = _first_verdict(row, [m for m in metrics if isinstance(m, str)]) if len(texts) == 1 else None
    bench = file.stem.removeprefix("samples_").rsplit("_", 1)[0] if file.stem.startswith("samples_") else None
    if reported is not None and row.get("filter"):
        reported["field"] += f" ({row['filter']})"
    return [{"prompt": _text(context, where, "arguments"), "prompt_form": "raw", "response": t,
             "answer": _answer(row.get("target")), "problem_id": str(row.get("doc_id")), "sample_idx": j,
             "benchmark": bench, "reported": reported, "lm_eval_filter": row.get("filter")} for j, t in enumerate(texts)]


def lighteval_records(row: dict, where: str, file: Path) -> list[dict]:
    """lighteval details parquet (src/lighteval/logging/info_loggers.py, DetailsLogger): since
    0.10 {"doc": {query, choices, gold_index, ...}, "model_response": {input, text [...]},
    "metric": {name: value}}; before, {"full_prompt", "predictions", "gold", "metrics"}."""
    if isinstance(row.get("doc"), dict):
        doc, resp, metric = row["doc"], row.get("model_response") or {}, row.get("metric") or {}
        prompt, form = resp.get("input"), "raw"
        if not isinstance(prompt, str) or not prompt:
            prompt, form = doc.get("query"), "plain"
        texts = resp.get("text")
        choices, gold = doc.get("choices") or [], doc.get("gold_index")
        gold = gold[0] if isinstance(gold, list) and gold else gold
        answer = choices[gold] if isinstance(gold, int) and 0 <= gold < len(choices) else None
        bench = doc.get("task_name")
    else:
        prompt, form = row.get("full_prompt") or row.get("example"), "raw"
        texts, metric = row.get("predictions"), row.get("metrics") or {}
        answer = row.get("gold")
        bench = None
    texts = _responses(texts, where, "text")
    names = sorted(metric) if isinstance(metric, dict) else []
    reported = _first_verdict(metric, names) if len(texts) == 1 else None
    return [{"prompt": _text(prompt, where, "input"), "prompt_form": form, "response": t, "answer": _answer(answer),
             "sample_idx": j, "benchmark": bench, "reported": reported} for j, t in enumerate(texts)]


_TRL_NOT_REWARDS = {"step", "prompt", "completion", "advantage", "advantages", "images", "image"}


def trl_records(row: dict, where: str, file: Path) -> list[dict]:
    """TRL GRPOTrainer completion logs (trl/trainer/grpo_trainer.py, `log_completions`): {"step",
    "prompt", "completion", <reward function>: value, "advantage"}; the prompt is the chat template
    decoded without special tokens, or the turns themselves for a conversational dataset."""
    prompt, completion = row.get("prompt"), row.get("completion")
    rec: dict = {"step": int(row["step"]) if isinstance(row.get("step"), (int, float, str)) and str(row["step"]).isdigit() else None}
    if isinstance(prompt, list):
        from entropykit.chat_prompts import check_messages

        rec.update(messages=check_messages(prompt, where), prompt_form="messages")
    else:
        rec.update(prompt=_text(prompt, where, "prompt"), prompt_form="decoded")
    if isinstance(completion, list):  # conversational: [{"role": "assistant", "content": ...}]
        completion = "".join(t.get("content", "") for t in completion if isinstance(t, dict))
    rec["response"] = _text(completion, where, "completion")
    rewards = [k for k in row if k not in _TRL_NOT_REWARDS and verdict(k, row[k]) is not None]
    rewards.sort(key=lambda k: not any(w in k.lower() for w in ("acc", "correct")))  # a correctness reward speaks for the sample
    rec["reported"] = _first_verdict(row, rewards)
    for k in ("answer", "solution", "ground_truth"):
        if k in row:
            rec["answer"] = _answer(row[k])
            break
    return [rec]


def messages_records(row: dict, where: str, file: Path) -> list[dict]:
    """OpenAI-style chat records: {"messages": [system?, user, ..., assistant]}; the last turn is
    the response, every turn before it the prompt (templated as a whole)."""
    from entropykit.chat_prompts import check_messages

    msgs = check_messages(row.get("messages"), where)
    if msgs[-1]["role"] != "assistant" or len(msgs) < 2:
        raise UserError(f"{where}: the last turn of 'messages' must be the assistant's response, after at least one turn")
    return [{"messages": msgs[:-1], "prompt_form": "messages", "response": msgs[-1]["content"],
             "answer": _answer(next((row[k] for k in ANSWER_COLUMNS if k in row), None)),
             "problem_id": _str(row.get("id"), where, "id", optional=True), "model": row.get("model")}]


def vllm_batch_records(row: dict, where: str, file: Path) -> list[dict]:
    """vLLM `run_batch` output joined with its input (vllm/entrypoints/openai/run_batch.py:
    BatchRequestOutput {"id", "custom_id", "response": {"status_code", "body"}, "error"}; the input
    line {"custom_id", "url", "body": {"messages" | "prompt", ...}} arrives as "request")."""
    req = row.get("request")
    if not isinstance(req, dict):
        raise UserError(f"{where}: a vLLM batch output line needs its request: pass the batch's input file with --batch-input")
    if row.get("error") or not isinstance(get_path(row, "response.body"), dict):
        return []  # a request that failed in the batch holds no response (counted and said by the reader)
    body, out = req.get("body") or {}, row["response"]["body"]
    texts = []
    for ch in sorted(out.get("choices") or [], key=lambda c: c.get("index", 0)):
        texts.append(get_path(ch, "message.content") if "message" in ch else ch.get("text"))
    texts = _responses(texts, where, "choices")
    if "messages" in body:
        from entropykit.chat_prompts import check_messages

        prompt = {"messages": check_messages(body["messages"], where), "prompt_form": "messages"}
    else:
        prompt = {"prompt": _text(body.get("prompt"), where, "body.prompt"), "prompt_form": "raw"}
    meta = req.get("metadata") if isinstance(req.get("metadata"), dict) else {}
    finish = [c.get("finish_reason") for c in out.get("choices") or []]
    return [{**prompt, "response": t, "problem_id": str(row.get("custom_id")), "sample_idx": j, "model": out.get("model") or body.get("model"),
             "answer": _answer(meta.get("answer") if meta else req.get("answer")), "finish_reason": finish[j] if j < len(finish) else None}
            for j, t in enumerate(texts)]


def generations_records(row: dict, where: str, file: Path) -> list[dict]:
    """A dataset with a list column of generations (Hugging Face generations datasets such as
    open-r1's {"problem", "answer", "generations": [...], "correctness_math_verify": [...]},
    Qwen2.5-Math's evaluation output {"idx", "question", "gt", "code": [...], "score": [...]}):
    one record per generation, the question as a plain prompt."""
    gen = next(k for k in GENERATION_COLUMNS if isinstance(row.get(k), list))
    texts = _responses(row[gen], where, gen)
    pcol = next((k for k in PROMPT_COLUMNS if isinstance(row.get(k), str)), None)
    acol = next((k for k in ANSWER_COLUMNS if k in row and _answer(row[k]) is not None), None)
    vcols = [k for k in row if k.startswith(VERDICT_PREFIXES) and isinstance(row[k], list) and len(row[k]) == len(texts)]
    pid = next((row[k] for k in ("id", "idx", "problem_id", "unique_id") if row.get(k) is not None), None)
    out = []
    for j, t in enumerate(texts):
        reported = next((v for v in (verdict(c, row[c][j]) for c in vcols) if v is not None), None)
        out.append({"prompt": _text(row.get(pcol), where, pcol or "prompt"), "prompt_form": "plain", "response": t,
                    "answer": _answer(row[acol]) if acol else None, "problem_id": None if pid is None else str(pid),
                    "sample_idx": j, "reported": reported})
    return out


ADAPTERS: dict[str, Adapter] = {
    "entropykit": entropykit_records, "verl": verl_records, "lm-eval": lm_eval_records, "lighteval": lighteval_records,
    "trl": trl_records, "vllm-batch": vllm_batch_records, "messages": messages_records, "generations": generations_records,
}


def detect(row: dict, file: Path) -> str:
    """The adapter for a row, from its fields; UserError naming the fields when none fits."""
    has = row.keys().__contains__
    if isinstance(row.get("response"), str) or (has("prompt") and has("response")):  # a missing prompt is said later
        return "entropykit"
    if has("input") and has("output") and (has("score") or has("gts")):
        return "verl"
    if has("doc_id") and (has("resps") or has("filtered_resps")):
        return "lm-eval"
    if (isinstance(row.get("doc"), dict) and isinstance(row.get("model_response"), dict)) or (has("predictions") and has("gold")):
        return "lighteval"
    if has("prompt") and has("completion"):
        return "trl"
    if has("custom_id") and (isinstance(row.get("response"), dict) or has("request")):
        return "vllm-batch"
    if any(isinstance(row.get(k), list) for k in GENERATION_COLUMNS) and any(isinstance(row.get(k), str) for k in PROMPT_COLUMNS):
        return "generations"  # before messages: open-r1 datasets carry a reference conversation beside their generations
    if isinstance(row.get("messages"), list):
        return "messages"
    if has("prompt") or has("response") or has("problem_id"):  # entropykit's shape with a field missing: said by the reader
        return "entropykit"
    found = ", ".join(list(row)[:12]) + (", ..." if len(row) > 12 else "")
    raise UserError(f"{file}: records with fields {found}: not a format entropykit recognises ({', '.join(ADAPTERS)}); "
                    "name the fields with --fields prompt=FIELD,response=FIELD[,answer=FIELD,id=FIELD]")


def fields_adapter(fields: dict[str, str]) -> Adapter:
    """An adapter from `--fields` (role -> dotted path); a list-valued response gives one record per element."""
    if "response" not in fields or not ({"prompt", "messages"} & set(fields)):
        raise UserError("--fields must name at least response=FIELD and prompt=FIELD (or messages=FIELD)")

    def adapt(row: dict, where: str, file: Path) -> list[dict]:
        def get(role: str) -> Any:
            return get_path(row, fields[role]) if role in fields else None

        texts = _responses(get("response"), where, fields["response"])
        base: dict = {"answer": _answer(get("answer")), "problem_id": _str(get("id"), where, fields.get("id", "id"), optional=True),
                      "benchmark": _str(get("benchmark"), where, "benchmark", optional=True), "model": get("model")}
        if "messages" in fields:
            from entropykit.chat_prompts import check_messages

            base.update(messages=check_messages(get("messages"), where), prompt_form="messages")
        else:
            base.update(prompt=_text(get("prompt"), where, fields["prompt"]), prompt_form="plain")
        step = get("step")
        base["step"] = int(step) if isinstance(step, (int, float)) and not isinstance(step, bool) else None
        vs = get("verdict")
        return [{**base, "response": t, "sample_idx": j if len(texts) > 1 else None,
                 "reported": verdict(fields.get("verdict", ""), vs[j] if isinstance(vs, list) and len(vs) == len(texts) else vs)}
                for j, t in enumerate(texts)]

    return adapt


class BatchJoin:
    """vLLM run_batch input lines by custom_id, to join each output line with its request."""

    def __init__(self, path: Path):
        from entropykit.io import iter_jsonl

        self.path = path
        self.by_id = {}
        for rec in iter_jsonl(path, required=("custom_id",)):
            self.by_id[str(rec["custom_id"])] = rec

    def merge(self, row: dict, file: Path) -> dict:
        cid = str(row.get("custom_id"))
        if cid not in self.by_id:
            raise UserError(f"{file}: custom_id {cid!r} is not in the batch input {self.path}")
        return {**row, "request": self.by_id[cid]}


def join_batch(path: str | Path) -> BatchJoin:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--batch-input {p}: no such file")
    return BatchJoin(p)
