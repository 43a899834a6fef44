"""Prompt templates: how a problem becomes the text a model is asked (shared by passk and train).

One convention everywhere: a template is a string in which the literal ``{problem}`` is
replaced by the problem text and nothing else is interpreted (so ``\\boxed{}`` and any other
braces stay as written). Named templates:

- ``math``: the paper's suffix for math models (Qwen2.5-Math), "Please reason step by step, and
  put your final answer within \\boxed{}."
- ``dapo``: DAPO's own prompt (used by the paper for Qwen2.5-Base; DAPO-Math-17k stores every
  problem inside it)
- ``raw``: the problem alone
"""

from __future__ import annotations

from entropykit.errors import UserError

PROMPT_TEMPLATES: dict[str, str] = {
    "math": "{problem}\nPlease reason step by step, and put your final answer within \\boxed{}.",
    "dapo": (
        "Solve the following math problem step by step. The last line of your response should be of the form "
        "Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n{problem}\n\n"
        'Remember to put your answer on its own line after "Answer:".'
    ),
    "raw": "{problem}",
}


def check_template(template: str, option: str = "--prompt-template") -> None:
    """UserError unless `template` is a named template or a string containing {problem}."""
    if template not in PROMPT_TEMPLATES and "{problem}" not in template:
        raise UserError(f"{option} must contain {{problem}} or be one of {', '.join(PROMPT_TEMPLATES)} (got {template!r})")


def template_text(template: str) -> str:
    """The template string of a name in PROMPT_TEMPLATES, or `template` itself."""
    return PROMPT_TEMPLATES.get(template, template)


def render_prompt(template: str, problem: str) -> str:
    """`template` (a name or a string with {problem}) with the problem put in its place."""
    return template_text(template).replace("{problem}", problem)


def strip_template(template: str, prompt: str) -> str | None:
    """The problem inside `prompt` written with `template`, or None if it was not."""
    head, _, tail = template_text(template).partition("{problem}")
    if len(prompt) >= len(head) + len(tail) and prompt.startswith(head) and prompt.endswith(tail):
        return prompt[len(head): len(prompt) - len(tail)]
    return None
