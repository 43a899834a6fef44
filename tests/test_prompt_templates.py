"""One prompt-template convention for passk and train (issue 17): `{problem}` is replaced and
nothing else is interpreted. Before, passk used str.format (so `\\boxed{}` had to be written
`\\boxed{{}}`, and a template with single braces was refused) while train used .replace (so
passk's `{{}}` reached the model literally): the same --prompt-template gave different prompts."""

from __future__ import annotations

import pytest

from entropykit.errors import UserError
from entropykit.evalkit.config import PasskConfig
from entropykit.prompts import PROMPT_TEMPLATES, render_prompt
from entropykit.train.config import TrainConfig

TEMPLATES = [
    "math",
    "dapo",
    "Question: {problem}\nAnswer inside \\boxed{}.",
    "Solve {problem}. Use the set {1, 2, 3} and write {x} for unknowns.",
    "{problem}",
]


def _passk_prompt(template: str, problem: str) -> str:
    """The prompt `passk` sends for a problem: the run's own rendering path."""
    from entropykit.evalkit import runner

    cfg = PasskConfig(model="m", benchmarks=["easy"], out="x", prompt_template=template).validate()
    return runner.render_prompt(cfg.prompt_template, problem)


@pytest.mark.parametrize("template", TEMPLATES)
def test_passk_and_train_send_the_same_prompt(template):
    problem = "What is {a} + 2 when a = 1?"  # braces in the problem stay as written, too
    train = TrainConfig(data="x", prompt_template=template).validate().render_prompt(problem)
    assert _passk_prompt(template, problem) == train == render_prompt(template, problem)
    assert problem in train


def test_the_paper_suffix_is_written_once():
    text = render_prompt("math", "P")
    assert text == "P\nPlease reason step by step, and put your final answer within \\boxed{}."
    assert PasskConfig().prompt_template == TrainConfig().prompt_template == "math"
    assert PROMPT_TEMPLATES["math"].count("{problem}") == 1


@pytest.mark.parametrize("make", [lambda t: PasskConfig(model="m", benchmarks=["easy"], out="x", prompt_template=t).validate(),
                                  lambda t: TrainConfig(data="x", prompt_template=t).validate()])
def test_a_template_without_the_problem_is_refused_alike(make):
    with pytest.raises(UserError, match="--prompt-template must contain {problem} or be one of math, dapo, raw"):
        make("Answer in \\boxed{}.")
