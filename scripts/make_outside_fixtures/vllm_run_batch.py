"""vLLM `run_batch` input and output JSONL, built with vLLM 0.34.0's own pydantic models.

    /tmp/fx-vllm/bin/python scripts/make_outside_fixtures/vllm_run_batch.py

vLLM's engine does not run on this CPU machine (no .venv-vllm here), so `vllm run_batch` itself
is not run. The files follow vllm/entrypoints/launchers/run_batch.py of the vllm 0.34.0 wheel
(PyPI): every input line is validated with its `BatchRequestInput` (body parsed by url as
`ChatCompletionRequest` or `CompletionRequest`), and every output line is a
`BatchRequestOutput(id="vllm-<uuid>", custom_id, response=BatchResponseData(status_code=200,
request_id="vllm-batch-<uuid>", body=<ChatCompletionResponse | CompletionResponse>), error=None)`
serialised with its `to_json_line()`, the method run_batch's writer prints, one per line in input
order. Responses use the replies in common.py (n=2 choices per chat request), with usage counted
by SmolLM2's tokenizer. One request carries an unknown URL and gets run_batch's error line
(`make_error_request_output`: status 400, error message, no body).
"""
from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import OUT, PROBLEMS, REPLIES, fresh_dir, load_tokenizer, messages_for, write_jsonl  # noqa: E402

import vllm.utils  # noqa: E402
from vllm.entrypoints.launchers import run_batch as rb  # noqa: E402
from vllm.entrypoints.openai.chat_completion.protocol import (  # noqa: E402
    ChatCompletionResponse, ChatCompletionResponseChoice, ChatMessage)
from vllm.entrypoints.openai.completion.protocol import CompletionResponse, CompletionResponseChoice  # noqa: E402
from vllm.entrypoints.serve.engine.protocol import UsageInfo  # noqa: E402

MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
CREATED = 1796515200
_counter = iter(range(10_000))


def fixed_uuid() -> str:  # deterministic stand-in for vllm.utils.random_uuid (uuid4 hex)
    return uuid.uuid5(uuid.NAMESPACE_URL, f"entropykit-fixture/vllm/{next(_counter)}").hex


rb.random_uuid = fixed_uuid
vllm.utils.random_uuid = fixed_uuid


def main() -> None:
    tok = load_tokenizer()
    inputs = []
    for pid, q, _ in PROBLEMS:
        inputs.append({"custom_id": f"{pid}-chat", "method": "POST", "url": "/v1/chat/completions",
                       "body": {"model": MODEL, "messages": messages_for(q), "n": 2, "temperature": 0.7,
                                "max_completion_tokens": 256}})
    pid, q, _ = PROBLEMS[2]
    prompt = f"Question: {q}\nAnswer (end with \\boxed{{}}):"
    inputs.append({"custom_id": f"{pid}-text", "method": "POST", "url": "/v1/completions",
                   "body": {"model": MODEL, "prompt": prompt, "max_tokens": 256, "temperature": 0.0}})
    inputs.append({"custom_id": "p0-moderation", "method": "POST", "url": "/v1/moderations",
                   "body": {"model": MODEL, "messages": messages_for(PROBLEMS[0][1])}})

    outputs = []
    for line in inputs:
        req = rb.BatchRequestInput.model_validate_json(json.dumps(line))
        if req.url == "/v1/chat/completions":
            pid = req.custom_id.split("-")[0]
            n_prompt = len(tok.apply_chat_template([m for m in line["body"]["messages"]], add_generation_prompt=True,
                                                   tokenize=True, return_dict=True)["input_ids"])
            choices, n_out = [], 0
            for i, text in enumerate(REPLIES[pid][: req.body.n]):
                n_out += len(tok(text, add_special_tokens=False)["input_ids"]) + 1
                choices.append(ChatCompletionResponseChoice(index=i, message=ChatMessage(role="assistant", content=text),
                                                            finish_reason="stop", stop_reason=None))
            body = ChatCompletionResponse(id=f"chatcmpl-{fixed_uuid()}", created=CREATED, model=MODEL, choices=choices,
                                          usage=UsageInfo(prompt_tokens=n_prompt, completion_tokens=n_out,
                                                          total_tokens=n_prompt + n_out))
        elif req.url == "/v1/completions":
            pid = req.custom_id.split("-")[0]
            text = REPLIES[pid][1]
            n_prompt = len(tok(line["body"]["prompt"])["input_ids"])
            n_out = len(tok(text, add_special_tokens=False)["input_ids"]) + 1
            body = CompletionResponse(id=f"cmpl-{fixed_uuid()}", created=CREATED, model=MODEL,
                                      choices=[CompletionResponseChoice(index=0, text=text, finish_reason="stop")],
                                      usage=UsageInfo(prompt_tokens=n_prompt, completion_tokens=n_out,
                                                      total_tokens=n_prompt + n_out))
        else:  # run_batch's answer to a URL it does not serve
            outputs.append(rb.make_error_request_output(
                req, error_msg=f"URL {req.url} is not a supported endpoint. Supported endpoints: "
                "/v1/chat/completions, /v1/completions, /v1/embeddings, /score, /rerank, "
                "/v1/audio/transcriptions, /v1/audio/translations."))  # run_one_request's message
            continue
        outputs.append(rb.BatchRequestOutput(id=f"vllm-{fixed_uuid()}", custom_id=req.custom_id,
                                             response=rb.BatchResponseData(body=body,
                                                                           request_id=f"vllm-batch-{fixed_uuid()}"),
                                             error=None))

    dest = fresh_dir(OUT / "vllm_run_batch")
    write_jsonl(dest / "batch_input.jsonl", inputs)
    with open(dest / "batch_output.jsonl", "w", encoding="utf-8") as f:
        for o in outputs:
            print(o.to_json_line(), file=f)
    print((dest / "batch_output.jsonl").read_text()[:1500])


if __name__ == "__main__":
    main()
