"""`entropykit demo`'s steps (issue 19, point 4): its headline analysis runs on the 200 bundled
real samples, enough responses per group for the per-response tests, and its last lines say what
each page shows. (The demo itself is `bash scripts/demo.sh`; its time is in the README.)"""

from __future__ import annotations

import json
from pathlib import Path

from entropykit.cli.demo import demo_pages, demo_steps


def test_headline_analysis_is_on_the_bundled_real_samples(tmp_path):
    steps = demo_steps(tmp_path, problems=6, samples=4, max_tokens=256)
    titles = [t for t, _ in steps]
    assert [t.split()[0] for t in titles] == [f"{i}/{len(steps)}" for i in range(1, len(steps) + 1)]
    (argv,) = [a for _, a in steps if "analysis-math500" in " ".join(a)]
    samples, base = Path(argv[1]), Path(argv[argv.index("--base") + 1])
    recs = [json.loads(x) for x in samples.read_text(encoding="utf-8").splitlines() if x.strip()]
    assert argv[0] == "analyze" and len(recs) == 200 and len({r["problem_id"] for r in recs}) == 50
    assert base.exists() and {r["model"] for r in recs} == {"smollm2-135m"}  # scored by the model that wrote them
    # the per-token arrays ship with them (analyze then loads no model), beside the samples as passk wrote them
    plain = [json.loads(x) for x in (samples.parent / "smollm2_math500_samples.jsonl").read_text(encoding="utf-8").splitlines()]
    arrays = ("token_ids", "offsets", "logprobs", "entropies")
    assert [{k: v for k, v in r.items() if k not in arrays} for r in recs] == plain
    for r in recs:
        n = len(r["entropies"])  # the response re-tokenized for teacher forcing (may differ from the sampled ids)
        assert r["offsets"][-1][1] >= len(r["response"].rstrip()) - 1  # the tokens cover the whole response
        assert all(len(r[k]) == n for k in arrays) and all(0 <= e < 11 for e in r["entropies"])
        assert r["offsets"][0][0] >= 0 and all(a[0] <= b[0] for a, b in zip(r["offsets"], r["offsets"][1:]))


def test_last_lines_name_every_page_a_step_writes(tmp_path):
    outs = {Path(a[a.index("--out") + 1]) for _, a in demo_steps(tmp_path, 6, 4, 256) if "--out" in a}
    for page, shows in demo_pages(tmp_path):
        assert page.parent in outs or page in outs, page
        assert len(shows) > 30
