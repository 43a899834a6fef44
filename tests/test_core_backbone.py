"""`entropykit.models.backbone_and_head`: the one rule by which the scorer, the trainer and the
critic find a causal LM's body and output layer (issue 17). Checked on each model family we
support against the model's own forward: head(backbone(x)), soft-capped where the config says,
equals its logits."""

from __future__ import annotations

import pytest
import torch
import transformers

from entropykit.models import backbone_and_head

SMALL = dict(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
             intermediate_size=64, pad_token_id=0, bos_token_id=1, eos_token_id=2)
FAMILIES = {
    "llama": lambda: transformers.LlamaConfig(**SMALL),
    "qwen2": lambda: transformers.Qwen2Config(**SMALL),
    "qwen3": lambda: transformers.Qwen3Config(**SMALL, head_dim=8),
    "mistral": lambda: transformers.MistralConfig(**SMALL),
    "gemma2": lambda: transformers.Gemma2Config(**SMALL, head_dim=8, final_logit_softcapping=3.0),  # soft-capped logits
    "gpt2": lambda: transformers.GPT2Config(vocab_size=97, n_embd=32, n_layer=2, n_head=4, bos_token_id=1, eos_token_id=2),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_head_of_backbone_gives_the_models_logits(family):
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(FAMILIES[family]()).eval().double()
    ids = torch.randint(3, 97, (2, 7))
    mask = torch.ones_like(ids)
    backbone, head, softcap = backbone_and_head(model)
    with torch.no_grad():
        h = backbone(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
        logits = head(h)
        if softcap is not None:
            logits = softcap * torch.tanh(logits / softcap)
        want = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
    torch.testing.assert_close(logits, want, rtol=1e-10, atol=1e-10)
    assert (softcap is not None) == (family == "gemma2")


def test_a_peft_wrapped_model_is_unwrapped():
    peft = pytest.importorskip("peft")
    model = transformers.AutoModelForCausalLM.from_config(FAMILIES["llama"]())
    wrapped = peft.get_peft_model(model, peft.LoraConfig(r=2, target_modules="all-linear", task_type="CAUSAL_LM"))
    backbone, head, _ = backbone_and_head(wrapped)
    assert backbone is model.get_decoder() and head is model.get_output_embeddings()
