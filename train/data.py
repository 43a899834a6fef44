"""Training prompts and rewards.

- Problems come from the core's `entropykit.benchmarks.load_problems` (bundled sets, hub
  benchmarks, local files with problem/answer columns), checked before any model is loaded.
- Rewards are pluggable: a `RewardFn` is any callable `(prompts, completions, answers) ->
  list[float]`. `math_reward` (+1 correct / -1 otherwise, through the shared math-verify
  verifier) is the paper's; `--reward module:function` loads another.
- A toy verifiable task (`build_toy_model`, `toy_reward`, `toy_problems`) with a tiny word-level
  vocabulary, for fast proofs that the trainer learns.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Callable, Sequence

from entropykit.errors import UserError

RewardFn = Callable[[Sequence[str], Sequence[str], Sequence[str]], list[float]]

# --------------------------------------------------------------------------------------------
# rewards


class MathReward:
    """+1 when math-verify accepts the response's final answer against the gold answer, else -1.

    Keeps one pool of verifier processes (hard per-item time limit) open for the whole run;
    `close()` shuts it down. Responses are passed whole to the shared grader (`entropykit.verify`):
    an answer must be stated (a box, an answer statement, ...); with `finish_reasons`, a response
    cut off at the token limit ("length") needs a complete explicit answer.
    """

    def __init__(self, *, timeout_s: float = 5.0, workers: int | None = None):
        self.timeout_s, self.workers = timeout_s, workers
        self._verifier = None

    def __call__(self, prompts: Sequence[str], completions: Sequence[str], answers: Sequence[str],
                 finish_reasons: Sequence[str | None] | None = None) -> list[float]:
        from entropykit.verify import Verifier

        if self._verifier is None:
            self._verifier = Verifier(timeout_s=self.timeout_s, workers=self.workers)
        verdicts = self._verifier.verify([str(a) for a in answers], list(completions),
                                         None if finish_reasons is None else list(finish_reasons))
        return [1.0 if v.correct else -1.0 for v in verdicts]

    def close(self) -> None:
        if self._verifier is not None:
            self._verifier.close()
            self._verifier = None


def math_reward(prompts: Sequence[str], completions: Sequence[str], answers: Sequence[str]) -> list[float]:
    """One-shot `MathReward` (starts and stops a verifier pool; prefer MathReward in loops)."""
    r = MathReward()
    try:
        return r(prompts, completions, answers)
    finally:
        r.close()


def resolve_reward(spec: str) -> RewardFn:
    """'math' or 'toy' or 'package.module:function'."""
    if spec == "math":
        return MathReward()
    if spec == "toy":
        return toy_reward
    if ":" not in spec:
        raise UserError(f"--reward must be 'math', 'toy' or 'module:function', got {spec!r}")
    mod, _, fn = spec.partition(":")
    try:
        f = getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as e:
        raise UserError(f"--reward {spec!r}: cannot load ({e})") from None
    if not callable(f):
        raise UserError(f"--reward {spec!r} is not callable")
    return f


# --------------------------------------------------------------------------------------------
# toy verifiable task: "say the number", +1 when the last number said is the gold one

TOY_WORDS = ["<pad>", "<eos>", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
             "the", "answer", "is", "say", "a", "number", "please", "ok"]
_NUM = re.compile(r"\d+")


def toy_reward(prompts: Sequence[str], completions: Sequence[str], answers: Sequence[str]) -> list[float]:
    """+1 when the last number in the completion equals the gold answer, else -1."""
    out = []
    for c, a in zip(completions, answers):
        nums = _NUM.findall(c)
        out.append(1.0 if nums and nums[-1] == str(a).strip() else -1.0)
    return out


def toy_problems(answer: str = "7", n: int = 8) -> list[dict]:
    stems = ["say a number", "please say a number", "the answer is", "say the answer", "a number please",
             "ok say the number", "the number is", "say a number please"]
    return [{"problem": stems[i % len(stems)], "answer": answer} for i in range(n)]


def build_toy_model(path: str | Path, *, hidden_size: int = 32, num_layers: int = 2, seed: int = 0, vocab_size: int = 0,
                    max_positions: int = 128, chat_template: bool = False) -> str:
    """A tiny random Llama with a 20-word word-level tokenizer (no downloads), saved at `path`.

    One attention head, so head_dim = hidden_size (vLLM needs 64 or more). `vocab_size` pads
    the model's vocabulary beyond the 20 words (vLLM's CPU kernels crash on a 20-entry one;
    64 works); padded ids decode to nothing. `chat_template`: a minimal one (veRL always applies
    one); `max_positions`: the context window."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from entropykit.models import save_random_llama

    vocab = {w: i for i, w in enumerate(TOY_WORDS)}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="ok"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tk.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with spaces
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<eos>", pad_token="<pad>", unk_token="ok")
    if chat_template:
        tok.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    return save_random_llama(
        path, tok, seed=seed,
        vocab_size=max(len(vocab), vocab_size), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers, num_attention_heads=1, num_key_value_heads=1,
        max_position_embeddings=max_positions, bos_token_id=None, eos_token_id=vocab["<eos>"],
        pad_token_id=vocab["<pad>"], tie_word_embeddings=True,
    )


def accepts_finish_reasons(fn: Callable) -> bool:
    """Whether a reward function takes `finish_reasons=` (to grade a cut-off response by its rule)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # no signature to read (some builtins)
        return False
    return any(p.name == "finish_reasons" or p.kind is p.VAR_KEYWORD for p in params)
