"""The policy's (and critic's) own forward over prompt + response.

Log-probabilities and full-vocabulary entropies of the response tokens come from one forward
pass of the backbone, then the LM head in token chunks through
`entropykit.entropy.chunked_entropy_and_logprobs` (float32, never a [B, L, V] logits tensor),
differentiable when training. Response token t of sample i is predicted by the hidden state at
sequence position (prompt_len_i + t - 1).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor, nn

from entropykit.entropy import chunked_entropy_and_logprobs
from entropykit.models import backbone_and_head


@dataclass
class Packed:
    """A right-padded batch of prompt + response sequences.

    input_ids, attention_mask [B, L]; pred_pos [B, T] (position of the hidden state that
    predicts response token t); targets, resp_mask [B, T].
    """

    input_ids: Tensor
    attention_mask: Tensor
    pred_pos: Tensor
    targets: Tensor
    resp_mask: Tensor

    def to(self, device) -> "Packed":
        return Packed(*(getattr(self, f).to(device) for f in ("input_ids", "attention_mask", "pred_pos", "targets", "resp_mask")))

    def select(self, idx: Tensor) -> "Packed":
        """Rows `idx`, trimmed to the longest sequence / response among them."""
        am = self.attention_mask[idx]
        rm = self.resp_mask[idx]
        L = int(am.sum(1).max()) if am.numel() else 1
        T = int(rm.sum(1).max()) if rm.numel() else 1
        T = max(T, 1)
        return Packed(self.input_ids[idx, :L], am[:, :L], self.pred_pos[idx, :T], self.targets[idx, :T], rm[:, :T])


def micro_batches(rows: Tensor, seq_lens: Tensor, *, max_samples: int = 0, max_tokens: int = 0) -> list[Tensor]:
    """Split `rows` into micro-batches of at most `max_samples` rows and `max_tokens` padded tokens.

    A micro-batch of rows R costs len(R) * max(seq_lens[R]) tokens (right padding is computed
    too). Rows are taken longest first, so that similar lengths share a micro-batch; a row
    longer than the budget gets a micro-batch of its own. 0 means no limit. The split never
    changes the loss (token-level denominators of the whole mini-batch), only peak memory.

    Shapes: rows [N] (int64 row indices), seq_lens [B] (tokens of each row) -> list of [n_i].
    """
    if rows.numel() == 0:
        return []
    lens = seq_lens[rows].tolist()
    order = sorted(range(len(lens)), key=lambda i: -lens[i])  # stable: ties keep their order
    out: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        width = lens[cur[0]] if cur else lens[i]  # the first row of a group is its longest
        full = (max_samples and len(cur) >= max_samples) or (max_tokens and (len(cur) + 1) * width > max_tokens)
        if cur and full:
            out.append(cur)
            cur = []
        cur.append(i)
    out.append(cur)
    return [rows[torch.tensor(g, device=rows.device)] for g in out]


def pack(prompt_ids: Sequence[Sequence[int]], response_ids: Sequence[Sequence[int]], pad_id: int) -> Packed:
    """Concatenate each prompt with its response and right-pad (pure Python -> tensors)."""
    if len(prompt_ids) != len(response_ids):
        raise ValueError("prompt_ids and response_ids differ in length")
    B = len(prompt_ids)
    L = max((len(p) + len(r) for p, r in zip(prompt_ids, response_ids)), default=1)
    T = max((len(r) for r in response_ids), default=1) or 1
    input_ids = torch.full((B, L), pad_id, dtype=torch.long)
    attn = torch.zeros((B, L), dtype=torch.long)
    pred_pos = torch.zeros((B, T), dtype=torch.long)
    targets = torch.full((B, T), pad_id, dtype=torch.long)
    resp_mask = torch.zeros((B, T), dtype=torch.float32)
    for i, (p, r) in enumerate(zip(prompt_ids, response_ids)):
        if len(p) < 1:
            raise ValueError("every prompt needs at least one token")
        seq = list(p) + list(r)
        input_ids[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        attn[i, : len(seq)] = 1
        n = len(r)
        if n:
            pred_pos[i, :n] = torch.arange(len(p) - 1, len(p) - 1 + n)
            targets[i, :n] = torch.tensor(list(r), dtype=torch.long)
            resp_mask[i, :n] = 1.0
    return Packed(input_ids, attn, pred_pos, targets, resp_mask)


def unwrap(model: nn.Module) -> nn.Module:
    """The transformers causal LM under an optional peft wrapper."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _hidden(backbone: nn.Module, batch: Packed, autocast_dtype: torch.dtype | None) -> Tensor:
    """Final (post-norm) hidden states at the predicting positions, [B, T, D]."""
    dev = batch.input_ids.device
    ctx = torch.autocast(device_type=dev.type, dtype=autocast_dtype) if autocast_dtype else contextlib.nullcontext()
    with ctx:
        out = backbone(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False)
    h = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
    D = h.shape[-1]
    return h.gather(1, batch.pred_pos.unsqueeze(-1).expand(-1, -1, D))


def policy_logprobs_entropy(
    model: nn.Module,
    batch: Packed,
    *,
    chunk_size: int = 1024,
    grad: bool = True,
    autocast_dtype: torch.dtype | None = None,
    temperature: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """log pi_T(o_t | q, o_<t) and H_t of pi_T = softmax(z / T) (full vocabulary) for every response token.

    `temperature` is the rollout temperature, as in veRL: the policy that sampled the tokens is
    softmax(logits / T), so the ratios and entropies of the update use the same distribution.
    Shapes: batch with resp_mask [B, T] -> (logp [B, T], H [B, T]), float32, 0 on padding.
    Differentiable w.r.t. the model parameters when grad=True (the LM head runs chunked and
    checkpointed, so memory stays O(chunk x V) beyond the backbone activations).
    """
    backbone, head, softcap = backbone_and_head(model)  # (a peft-wrapped model is unwrapped there)
    with torch.set_grad_enabled(grad):
        h = _hidden(backbone, batch, autocast_dtype)
        sel = batch.resp_mask > 0
        hs = h[sel]
        if autocast_dtype is not None:
            hs = hs.to(head.weight.dtype)
        logp_flat, ent_flat = chunked_entropy_and_logprobs(
            hs, head.weight, batch.targets[sel], chunk_size=chunk_size, bias=getattr(head, "bias", None),
            temperature=temperature, softcap=softcap, grad=grad,
        )
        logp = torch.zeros(batch.resp_mask.shape, dtype=torch.float32, device=h.device)
        ent = torch.zeros_like(logp)
        logp = logp.index_put((sel,), logp_flat)
        ent = ent.index_put((sel,), ent_flat)
    return logp, ent


class ValueModel(nn.Module):
    """PPO critic: a causal-LM backbone (initialized from the policy's weights) + a linear value head.

    forward(batch) -> values [B, T]: V(s_t), the value of the state before response token t
    (read at the same position that predicts token t).
    """

    def __init__(self, backbone: nn.Module, hidden_size: int):
        super().__init__()
        self.backbone = backbone
        self.v_head = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.v_head.weight)
        nn.init.zeros_(self.v_head.bias)

    @classmethod
    def from_pretrained(cls, path: str, device: torch.device) -> "ValueModel":
        from transformers import AutoModelForCausalLM

        lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        backbone, _, _ = backbone_and_head(lm)
        vm = cls(backbone, lm.config.hidden_size)
        return vm.to(device)

    def forward(self, batch: Packed, autocast_dtype: torch.dtype | None = None) -> Tensor:
        h = _hidden(self.backbone, batch, autocast_dtype)
        return self.v_head(h.float()).squeeze(-1) * batch.resp_mask
