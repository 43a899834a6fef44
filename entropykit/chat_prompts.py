"""Prompt fidelity: the token ids a record's prompt was seen as, whatever shape it arrives in.

A response's entropies depend on every token before it, so a prompt must be scored exactly as
the model saw it. Records from other tools carry the prompt in one of four forms
(`prompt_form`):

    plain     a question: wrapped in the model's chat template as a user turn (entropykit's own
              records, a dataset's "problem" column). A plain prompt that turns out to be a
              decoded chat template is recovered as below, never templated a second time.
    messages  an OpenAI-style list of turns (system and earlier turns kept): templated as a whole.
    raw       exactly the text the model was fed (lm-eval contexts, vLLM /v1/completions
              prompts, lighteval's full prompt): never templated.
    decoded   a prompt as veRL and TRL log it: the token ids decoded with special tokens
              stripped. A chat template ("system\\n...\\nuser\\n...\\nassistant\\n") is recovered
              with the scoring model's own template, accepted only when rendering the turns again
              and decoding the same way gives back the logged text character for character, and
              no other split of the text into turns does; text without turns (TRL on a plain-text
              dataset) was fed as it is, without special tokens.

A decoded prompt that the model's template does not reproduce is refused (`UserError`): its
special tokens are gone, so any guess at them would change the entropies of every response
token (by up to 0.85 nats for the first token, measured on SmolLM2-135M).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from entropykit.errors import UserError
from entropykit.models import encode_prompt, uses_chat_template

PROMPT_FORMS = ("plain", "messages", "raw", "decoded")
_SENTINEL = "\u2063{}\u2063"  # an invisible separator around a turn's index: survives templating and decoding
# role orders tried when recovering a decoded prompt (a system turn may be the template's default)
_ROLE_ORDERS = (("user",), ("system", "user"), ("user", "assistant", "user"), ("system", "user", "assistant", "user"))
# the shape of a decoded chat prompt whatever the template: role names on their own lines
_LOOKS_DECODED = re.compile(r"^(?:system|user)\n.*\n(?:assistant|model)\n?$", re.S)


def check_messages(messages: Any, where: str) -> list[dict]:
    """A list of {"role", "content"} turns with string contents (UserError naming `where`)."""
    if not isinstance(messages, list) or not messages:
        raise UserError(f"{where}: 'messages' must be a non-empty list of {{role, content}} turns")
    out = []
    for turn in messages:
        if not (isinstance(turn, dict) and isinstance(turn.get("role"), str) and isinstance(turn.get("content"), str)):
            raise UserError(f"{where}: every turn of 'messages' needs a string 'role' and a string 'content'")
        out.append({"role": turn["role"], "content": turn["content"]})
    return out


def _template_ids(tok: Any, messages: list[dict]) -> list[int]:
    text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return list(tok(text, add_special_tokens=False)["input_ids"])


def _decoded(tok: Any, ids: list[int]) -> str:
    return tok.decode(ids, skip_special_tokens=True)


@lru_cache(maxsize=64)
def _patterns(tok: Any) -> tuple[tuple[tuple[str, ...], re.Pattern], ...]:
    """For each role order, a regex of the template rendered and decoded with placeholders."""
    out = []
    for roles in _ROLE_ORDERS:
        msgs = [{"role": r, "content": _SENTINEL.format(i)} for i, r in enumerate(roles)]
        try:
            text = _decoded(tok, _template_ids(tok, msgs))
        except Exception:  # a template that refuses this role order (e.g. no system role)  # noqa: BLE001
            continue
        parts = re.split(_SENTINEL.format(r"\d+"), text)
        if len(parts) != len(roles) + 1:
            continue
        out.append((roles, re.compile("".join(re.escape(p) + ("(.*?)" if i < len(roles) else "")
                                              for i, p in enumerate(parts)), re.S)))
    return tuple(out)


def recover_messages(tok: Any, text: str) -> list[dict] | None:
    """The turns whose template, decoded without special tokens, is exactly `text`; None when
    no role order reproduces it. Raises UserError when two different token sequences do (the
    text alone cannot say where the turns were)."""
    found: dict[tuple[int, ...], list[dict]] = {}
    for roles, pattern in _patterns(tok):
        m = pattern.fullmatch(text)
        if not m:
            continue
        msgs = [{"role": r, "content": c} for r, c in zip(roles, m.groups())]
        ids = _template_ids(tok, msgs)
        if _decoded(tok, ids) == text:
            found.setdefault(tuple(ids), msgs)
    if len(found) > 1:
        raise UserError("a decoded chat prompt splits into turns in more than one way under this model's template; "
                        "give the turns as 'messages' instead")
    return next(iter(found.values()), None)


def _has_template_tokens(tok: Any, text: str) -> bool:
    """Whether `text` holds the tokenizer's special tokens as text (a prompt templated but not decoded)."""
    specials = [t for t in getattr(tok, "all_special_tokens", []) if t and len(t) > 1]
    return any(t in text for t in specials)


def prompt_token_ids(tok: Any, record: dict, chat: bool | None, where: str) -> list[int]:
    """Token ids of `record`'s prompt exactly as the model saw it (see the module docstring).

    `chat` is the user's --chat choice: None uses the template when the tokenizer has one;
    False feeds every plain prompt raw (messages still need a template)."""
    form = record.get("prompt_form") or ("messages" if record.get("messages") else "plain")
    prompt = record.get("prompt") or ""
    has_template = bool(getattr(tok, "chat_template", None))
    if form == "messages":
        if not has_template:
            raise UserError(f"{where}: the prompt is a list of chat turns but the model's tokenizer has no chat template")
        return _template_ids(tok, check_messages(record.get("messages"), where))
    templated = _has_template_tokens(tok, prompt)
    if form == "raw" or templated:  # already what the model was fed (a template's own tokens: add none)
        return list(tok(prompt, add_special_tokens=not templated)["input_ids"])
    if has_template and chat is not False:
        msgs = recover_messages(tok, prompt) if form == "decoded" or _LOOKS_DECODED.match(prompt) else None
        if msgs is not None:
            return _template_ids(tok, msgs)
    if form == "decoded" and not _LOOKS_DECODED.match(prompt):  # no turns in it: the tool fed the text as it is (TRL, plain text)
        return list(tok(prompt, add_special_tokens=False)["input_ids"])
    if form == "decoded" or (_LOOKS_DECODED.match(prompt) and uses_chat_template(tok, chat)):
        raise UserError(f"{where}: the prompt is a chat template decoded without its special tokens (as veRL and TRL log "
                        "prompts), and this model's template does not reproduce it exactly: score it with the model that "
                        "wrote it, or give the turns as 'messages'")
    return encode_prompt(tok, prompt, chat)
