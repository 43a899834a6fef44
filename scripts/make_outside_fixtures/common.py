"""Shared content for the outside-format fixtures (tests/data/outside/).

The problems and replies below were written for entropykit; they are short GSM8K-like word
problems with a mix of right and wrong replies. Several replies are chosen so that a *lenient*
reward (the last number in the reply equals the gold) disagrees with a strict grader (a boxed
answer compared mathematically):

* an unboxed bare number at the end that is right  -> lenient 1, strict 0 (no boxed answer)
* a boxed right answer in another notation (0.75 for 3/4) -> lenient 0, strict 1
* a boxed wrong answer followed by a stray right number -> lenient 1, strict 0

Every generator script imports this module, so all fixtures share the same problems; each tool's
own verdict (veRL score/acc, TRL reward columns, lm-eval exact_match, correctness_math_verify...)
comes from `lenient_reward` or the tool's own metric, never from a strict grader.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "outside"
SYSTEM = "You are a careful math tutor. Reason step by step and put the final answer in \\boxed{}."

# id, question, gold (as a string the way a benchmark would store it)
PROBLEMS = [
    ("p0", "A baker fills 4 trays with 12 muffins each and sells 30 muffins. How many muffins are left?", "18"),
    ("p1", "Nadia has 3 boxes of 7 pencils. She gives 5 pencils to a friend. How many pencils does she keep?", "16"),
    ("p2", "What is 15% of 80?", "12"),
    ("p3", "Write 6/8 as a fraction in lowest terms.", "\\frac{3}{4}"),
]

# Two replies per problem (a GRPO group / n=2 samples). Index 0 and 1 for each problem id.
REPLIES = {
    "p0": [
        "4 trays of 12 muffins is 4 * 12 = 48 muffins. After selling 30, 48 - 30 = 18 remain.\n\n\\boxed{18}",
        "Each tray has 12 muffins, so 4 trays hold 48. She sold 30, so 48 - 30 = 28.\n\n\\boxed{28}\n\nCheck: 28 + 30 = 58, not 48. Hmm, 48 - 30 = 18",
    ],
    "p1": [
        "3 boxes of 7 pencils give 3 * 7 = 21 pencils. Giving away 5 leaves 21 - 5 = 16.\n\nSo she keeps 16",
        "3 * 7 = 21 pencils in total. 21 - 5 = 16 pencils are left.\n\n\\boxed{16}",
    ],
    "p2": [
        "15% of 80 is 0.15 * 80 = 12.\n\n\\boxed{12}",
        "10% of 80 is 8 and 5% is 4, so 15% is 8 + 4 = 11.\n\n\\boxed{11}",
    ],
    "p3": [
        "Divide top and bottom by 2: 6/8 = 3/4.\n\n\\boxed{0.75}",
        "The greatest common divisor of 6 and 8 is 2, so 6/8 = 3/4.\n\n\\boxed{\\frac{3}{4}}",
    ],
}

_NUM = re.compile(r"-?\d+(?:\.\d+)?")


def lenient_reward(reply: str, gold: str) -> float:
    """A deliberately naive reward, as many RL recipes use: 1.0 when the last number written in
    the reply equals the gold's last number, else 0.0. It disagrees with a strict boxed-answer
    grader on p0[1] (boxed 28, a stray 18 after it: 1 here), p1[0] (unboxed right answer: 1
    here) and p3[0] (boxed 0.75 for 3/4: 0 here); p3[1] (\\frac{3}{4}) gets 1 because both
    end in 4."""
    got = _NUM.findall(reply)
    want = _NUM.findall(gold)
    if not got or not want:
        return 0.0
    return 1.0 if float(got[-1]) == float(want[-1]) else 0.0


def messages_for(question: str, system: bool = True) -> list[dict]:
    msgs = [{"role": "system", "content": SYSTEM}] if system else []
    msgs.append({"role": "user", "content": question})
    return msgs


def smollm2_dir() -> Path:
    """The SmolLM2-135M folder that entropykit embeds (its tokenizer files are what we need)."""
    env = os.environ.get("SMOLLM2_DIR")
    if env:
        return Path(env)
    import subprocess
    py = ROOT / ".venv" / "bin" / "python"
    out = subprocess.run([str(py), "-c", "from entropykit.models import resolve_model_path;"
                          "print(resolve_model_path('smollm2-135m'))"],
                         check=True, capture_output=True, text=True, cwd=ROOT).stdout.strip()
    return Path(out.splitlines()[-1])


def load_tokenizer():
    """SmolLM2's tokenizer built with the running venv's transformers (works on 4.x and 5.x:
    PreTrainedTokenizerFast from tokenizer.json, chat template from chat_template.jinja)."""
    from transformers import PreTrainedTokenizerFast
    src = smollm2_dir()
    tok = PreTrainedTokenizerFast(tokenizer_file=str(src / "tokenizer.json"),
                                  bos_token="<|im_start|>", eos_token="<|im_end|>",
                                  pad_token="<|im_end|>", unk_token="<|endoftext|>")
    tok.chat_template = (src / "chat_template.jinja").read_text()
    return tok


def build_tiny_model(dest: Path, seed: int = 0) -> Path:
    """A randomly initialised 1-layer Llama (hidden 16) with SmolLM2's tokenizer, saved as an HF
    folder. About 0.8 M parameters, almost all in the embedding."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    dest = Path(dest)
    if (dest / "config.json").exists():
        return dest
    tok = load_tokenizer()
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id, tie_word_embeddings=True)
    model = LlamaForCausalLM(cfg)
    dest.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(dest)
    tok.save_pretrained(dest)
    # some transformers versions only keep the template in tokenizer_config / a .jinja file
    (dest / "chat_template.jinja").write_text(tok.chat_template)
    return dest


def write_jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path
