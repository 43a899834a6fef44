"""Top-k alternatives while scoring (float64 reference) and their round trip through tokens.parquet."""

import numpy as np
import torch

from entropykit.analysis.tokens import TokenTable, read_token_table, write_token_table


def test_score_top_k_matches_float64_reference(tiny_model_dir):
    from entropykit.models import format_prompt, load_model
    from entropykit.scoring import score_responses, scored_record

    lm = load_model(str(tiny_model_dir), device="cpu", dtype="float32")
    recs = [{"prompt": "Compute 2+3.", "response": "First, 2 + 3 = 5. Therefore the answer is 5."},
            {"prompt": "Hi", "response": "Wait, let me verify: ok."}]
    scored = score_responses(lm, recs, chat=False, chunk_size=7, top_k=5)  # chunks cross responses
    tok = lm.tokenizer
    model64 = lm.model.to(torch.float64)
    try:
        for rec, s in zip(recs, scored):
            p_ids = tok(format_prompt(tok, rec["prompt"], False), add_special_tokens=True)["input_ids"]
            r_ids = tok(rec["response"], add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                logits = model64(torch.tensor([p_ids + r_ids])).logits[0, len(p_ids) - 1 : len(p_ids) + len(r_ids) - 1]
            ref = torch.log_softmax(logits, dim=-1)
            top = torch.topk(ref, 5, dim=-1)
            assert len(s.top_k) == len(r_ids)
            for t, alts in enumerate(s.top_k):
                assert [a[0] for a in alts] == top.indices[t].tolist()
                np.testing.assert_allclose([a[2] for a in alts], top.values[t].numpy(), atol=2e-5)
                assert alts[0][1] == tok.decode([alts[0][0]])
                assert s.logprobs[t] <= alts[0][2] + 1e-6  # nothing beats the top-1
            np.testing.assert_allclose(s.entropies, -(ref.exp() * ref).sum(-1).numpy(), atol=2e-5)
    finally:
        model64.to(torch.float32)
    rec = scored_record(recs[0], scored[0], "tiny")
    assert len(rec["top_k"]) == rec["num_tokens"] and len(rec["top_k"][0]) == 5 and isinstance(rec["top_k"][0][0][1], str)
    assert "top_k" not in scored_record(recs[0], score_responses(lm, recs[:1], chat=False)[0], "tiny")


def test_token_table_top_k_round_trip(tmp_path):
    t1 = TokenTable.from_lists([[5, 6]], [["a", "b"]], [[(0, 1), (1, 2)]], [[-0.1, -0.2]], [[0.5, 1.5]],
                               keys=["k1"], top_k=[[[(5, "a", -0.1), (9, "z", -2.5)], [(6, "b", -0.2)]]])
    t2 = TokenTable.from_lists([[7]], [["c"]], [[(0, 1)]], [[-0.3]], [[0.7]], keys=["k2"])  # no alternatives
    t = TokenTable.concat([t1, t2])
    assert t.top_k == 2 and t.top_ids.tolist() == [[5, 9], [6, -1], [-1, -1]]
    write_token_table(tmp_path / "tokens.parquet", t, {"model": "m"})
    back, md = read_token_table(tmp_path / "tokens.parquet")
    assert md["top_k"] == 2 and back.keys == ["k1", "k2"]
    assert back.top_ids.tolist() == t.top_ids.tolist()
    np.testing.assert_allclose(back.top_logprob, t.top_logprob)
    assert back.top_text == {5: "a", 9: "z", 6: "b"}
    sel = back.select([1, 0])
    assert sel.top_ids.tolist() == [[-1, -1], [5, 9], [6, -1]] and sel.token == ["c", "a", "b"]
    import pyarrow.parquet as pq

    col = pq.read_table(tmp_path / "tokens.parquet").column("top_tokens").to_pylist()
    assert col == [["a", "z"], ["b"], []]
