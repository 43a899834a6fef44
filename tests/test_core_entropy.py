"""Entropy math against float64 references (H = logsumexp(z) - sum softmax(z) z, in nats)."""

import math

import pytest
import torch

from entropykit.entropy import chunked_entropy_and_logprobs, entropy_and_logprobs, token_entropy


def ref_entropy_logp(z: torch.Tensor, t: torch.Tensor | None = None):
    """Independent float64 reference: explicit -sum p log p over finite entries."""
    z = z.double()
    out_h, out_lp = [], []
    for i, row in enumerate(z.reshape(-1, z.shape[-1])):
        fin = row[torch.isfinite(row)]
        p = torch.exp(fin - fin.max())
        p = p / p.sum()
        out_h.append(float(torch.special.entr(p).sum()))  # -p log p, 0 where p underflows to 0
        if t is not None:
            tgt = row[t.reshape(-1)[i]]
            out_lp.append(float(tgt - (fin.max() + torch.log(torch.exp(fin - fin.max()).sum()))))
    return torch.tensor(out_h, dtype=torch.float64), torch.tensor(out_lp, dtype=torch.float64)


def test_uniform_and_one_hot_hand_computed():
    v = 1000
    assert token_entropy(torch.zeros(v)).item() == pytest.approx(math.log(v), abs=1e-5)
    z = torch.full((v,), -math.inf)
    z[7] = 3.0
    assert token_entropy(z).item() == 0.0
    # two equally likely tokens, rest masked: H = log 2
    z[8] = 3.0
    assert token_entropy(z).item() == pytest.approx(math.log(2), abs=1e-6)
    # p = (0.75, 0.25): H = -(0.75 ln 0.75 + 0.25 ln 0.25)
    z2 = torch.tensor([math.log(3.0), 0.0, -math.inf])
    assert token_entropy(z2).item() == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)), abs=1e-6)


@pytest.mark.parametrize("scale", [1.0, 30.0, 1e4])
def test_token_entropy_matches_float64_reference(scale):
    torch.manual_seed(0)
    z = torch.randn(6, 5000) * scale + 1e4  # large offsets must not overflow
    z[0, :2500] = -math.inf  # masked vocabulary entries
    h = token_entropy(z)
    ref, _ = ref_entropy_logp(z)
    assert torch.isfinite(h).all()
    assert (h.double() - ref).abs().max() < 1e-4


def test_entropy_and_logprobs_matches_reference_with_masks():
    torch.manual_seed(1)
    z = torch.randn(4, 300) * 4
    z[1, 100:] = -math.inf
    t = torch.tensor([3, 5, 299, 0])
    lp, h = entropy_and_logprobs(z, t)
    ref_h, ref_lp = ref_entropy_logp(z, t)
    assert (h.double() - ref_h).abs().max() < 1e-5
    assert (lp.double() - ref_lp).abs().max() < 1e-5
    assert torch.isfinite(h).all()


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
def test_chunked_equals_naive_for_any_chunk_size(chunk):
    torch.manual_seed(2)
    n, d, v = 53, 32, 777
    hidden, weight, bias = torch.randn(n, d), torch.randn(v, d), torch.randn(v)
    t = torch.randint(0, v, (n,))
    lp, h = chunked_entropy_and_logprobs(hidden, weight, t, chunk_size=chunk, bias=bias, temperature=0.7)
    ref_h, ref_lp = ref_entropy_logp((hidden @ weight.T + bias) / 0.7, t)
    assert (h.double() - ref_h).abs().max() < 1e-4
    assert (lp.double() - ref_lp).abs().max() < 1e-4
    hidden_before = hidden.clone()
    chunked_entropy_and_logprobs(hidden, weight, t, chunk_size=chunk)
    assert torch.equal(hidden, hidden_before)  # the in-place fast path never touches inputs


def test_chunked_softcap_matches_reference():
    torch.manual_seed(3)
    hidden, weight = torch.randn(9, 8) * 3, torch.randn(50, 8) * 3
    t = torch.randint(0, 50, (9,))
    lp, h = chunked_entropy_and_logprobs(hidden, weight, t, softcap=30.0, chunk_size=4)
    ref_h, ref_lp = ref_entropy_logp(30.0 * torch.tanh((hidden @ weight.T) / 30.0), t)
    assert (h.double() - ref_h).abs().max() < 1e-5 and (lp.double() - ref_lp).abs().max() < 1e-5


def test_chunked_gradient_equals_full_softmax_gradient():
    torch.manual_seed(4)
    n, d, v = 20, 8, 100
    h0, w0 = torch.randn(n, d, dtype=torch.float64), torch.randn(v, d, dtype=torch.float64)
    t = torch.randint(0, v, (n,))
    coef = torch.randn(n, dtype=torch.float64)

    def grads(fn):
        h, w = h0.clone().float().requires_grad_(), w0.clone().float().requires_grad_()
        lp, ent = fn(h, w)
        ((lp * coef.float()).sum() + (ent * coef.float()).sum()).backward()
        return h.grad.double(), w.grad.double()

    g_chunk = grads(lambda h, w: chunked_entropy_and_logprobs(h, w, t, chunk_size=6, grad=True))
    g_full = grads(lambda h, w: entropy_and_logprobs(h @ w.T, t))
    for a, b in zip(g_chunk, g_full):
        assert (a - b).abs().max() < 1e-4


def test_chunked_empty_and_bad_shapes():
    lp, h = chunked_entropy_and_logprobs(torch.zeros(0, 4), torch.zeros(10, 4), torch.zeros(0, dtype=torch.long))
    assert lp.shape == (0,) and h.shape == (0,)
    with pytest.raises(ValueError):
        chunked_entropy_and_logprobs(torch.zeros(3, 4), torch.zeros(10, 4), torch.zeros(2, dtype=torch.long))


def test_compiled_chunks_with_padded_last_chunk_match_reference():
    """The torch.compile path (GPU default) pads the last chunk; results must be unaffected."""
    torch.manual_seed(5)
    hidden, weight = torch.randn(50, 16), torch.randn(300, 16)
    t = torch.randint(0, 300, (50,))
    lp, h = chunked_entropy_and_logprobs(hidden, weight, t, chunk_size=16, compile=True)
    ref_h, ref_lp = ref_entropy_logp(hidden @ weight.T, t)
    assert lp.shape == (50,)
    assert (h.double() - ref_h).abs().max() < 1e-4 and (lp.double() - ref_lp).abs().max() < 1e-4
