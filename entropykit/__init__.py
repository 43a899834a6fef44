"""entropykit: measure, visualize and push exploration in reasoning LMs through token entropy.

The core package holds what every tool shares: model loading (`models`), entropy math
(`entropy`), teacher-forced scoring (`scoring`), sampling (`generation`), records and atomic
IO (`io`) and user-facing errors (`errors`). Tools live in `entropykit.analysis`,
`entropykit.evalkit` and `entropykit.train`; the CLI in `entropykit.cli`.
"""

__version__ = "0.1.0"
