"""Reading other tools' outputs stays cheap: `entropykit.formats.read_records` on a 100,000-record
veRL dump (JSONL) and the same records as parquet, against the baseline of a bare
`json.loads` loop over the same file, in one run.

    python bench/formats.py [--records 100000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    args = ap.parse_args()
    import pyarrow as pa
    import pyarrow.parquet as pq

    from entropykit.formats import read_records

    rows = [{"input": f"system\nYou are a tutor.\nuser\nWhat is {i} + 3?\nassistant\n", "output": f"{i} + 3 = {i + 3}. \\boxed{{{i + 3}}}",
             "gts": str(i + 3), "score": 1.0, "step": 1 + i // 10_000} for i in range(args.records)]
    with tempfile.TemporaryDirectory() as d:
        jl, pqf = Path(d) / "1.jsonl", Path(d) / "dump.parquet"
        jl.write_text("".join(json.dumps(r) + "\n" for r in rows))
        pq.write_table(pa.Table.from_pylist(rows), pqf)
        times: dict[str, list[float]] = {"base": [], "jsonl": [], "parquet": []}
        for _ in range(3):  # interleaved rounds, best of each: a busy machine slows whatever runs then
            t0 = time.perf_counter()
            with open(jl, encoding="utf-8") as fh:
                base = [json.loads(line) for line in fh]
            times["base"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            got = read_records(jl)
            times["jsonl"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            got_pq = read_records(pqf)
            times["parquet"].append(time.perf_counter() - t0)
        t_base, t_jsonl, t_pq = (min(times[k]) for k in ("base", "jsonl", "parquet"))
    assert len(base) == len(got.records) == len(got_pq.records) == args.records
    print(f"{args.records:,} veRL records: json.loads loop {t_base:.2f} s (baseline); read_records JSONL {t_jsonl:.2f} s "
          f"({t_jsonl / t_base:.2f}x); parquet {t_pq:.2f} s ({t_pq / t_base:.2f}x)")


if __name__ == "__main__":
    main()
