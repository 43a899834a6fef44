"""`entropykit passk` (sample + verify + pass@k) and `entropykit passk compare`.

Option defaults come from `PasskConfig` (`config_option`), and every check is `PasskConfig.validate()`:
this layer only maps options to the config. --out cannot be a click-required option (`passk
compare` shares this group and would then need it too), so the usage line says it instead.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, NamedTuple, Optional

import typer

from entropykit.cli.options import config_option, given_options
from entropykit.errors import UserError
from entropykit.evalkit.config import DYNAMICS_MAX_SAMPLES, PasskConfig


def _fail(msg: str) -> None:
    print(f"entropykit: error: {msg}", file=sys.stderr)
    raise typer.Exit(2)


def _console():
    from entropykit.progress import console

    return console


passk_app = typer.Typer(
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    subcommand_metavar="[compare RUN_DIR...]",
    help="Sample n answers per problem, verify them with math-verify, report unbiased pass@k.\n\n"
         "--k alone is enough: `--k 16` samples n = 16 per problem and reports pass@1, 2, 4, 8, 16. "
         "Rerun the same command after a kill or Ctrl-C to resume. To scale out, run `--shard I/N` "
         "for I = 0..N-1 (one process per GPU or node) into the same --out folder.",
)


@passk_app.callback()
def passk(
    ctx: typer.Context,
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="run folder (required): samples*.jsonl, summary.json, problems.jsonl, passk.html"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="embedded alias (smollm2-135m), local HF folder, .gguf file or hub id"),
    benchmark: Optional[List[str]] = typer.Option(None, "--benchmark", "-b", help="math500, aime24, aime25, amc23, gsm8k, easy, or a local .jsonl/.json/.parquet/.csv file or folder (repeatable)"),
    k: Optional[str] = typer.Option(None, "--k", help="k values for pass@k: '1,2,4,8', or one number K meaning 1,2,4,...,K. Alone it is enough: n defaults to the largest k"),
    n: Optional[int] = typer.Option(None, "--n", help="samples per problem (default: the largest k; 1 without --k)"),
    temperature: float = config_option(PasskConfig, "temperature", "--temperature", help="sampling temperature (the paper's eval)"),
    top_p: float = config_option(PasskConfig, "top_p", "--top-p", help="nucleus sampling (the paper's eval)"),
    max_tokens: int = config_option(PasskConfig, "max_tokens", "--max-tokens", help="max response tokens (the paper's 8K)"),
    seed: int = config_option(PasskConfig, "seed", "--seed", help="base seed; sample seeds derive from (seed, benchmark, problem, index)"),
    backend: str = config_option(PasskConfig, "backend", "--backend", help="auto (vllm when importable with a GPU), vllm or hf"),
    prompt_template: Optional[str] = typer.Option(None, "--prompt-template", help="math (the problem + the paper's 'reason step by step ... \\boxed{}' suffix), dapo, raw, or a string in which {problem} is replaced (nothing else is interpreted: the same as train's)"),
    chat: Optional[bool] = typer.Option(None, "--chat/--no-chat", help="apply the tokenizer's chat template (default: when it has one)"),
    shard: Optional[str] = typer.Option(None, "--shard", help="I/N: sample share I (0..N-1) of N; run all N (one per GPU/node, same other options) into one --out; the last to finish writes the summary"),
    token_entropies: bool = config_option(PasskConfig, "token_entropies", "--token-entropies/--no-token-entropies", help="record each sample's per-token entropy and log-prob while sampling (fields of `entropykit score`, so `analyze` needs no rescoring); transformers backend"),
    from_samples: Optional[Path] = typer.Option(None, "--from-samples", help="verify and score existing records (problem_id, response, answer[, benchmark]; a JSONL file or a run folder) without a model"),
    input_format: str = config_option(PasskConfig, "input_format", "--format", help="Shape of the input records: auto (detected), entropykit, verl, lm-eval, lighteval, trl, vllm-batch, messages, generations."),
    fields: Optional[str] = config_option(PasskConfig, "fields", "--fields", help="Name the fields of an undetected shape: prompt=FIELD,response=FIELD[,answer=,id=,messages=,step=,verdict=] (dotted paths reach nested fields; a list-valued response gives one record per sample)."),
    batch_input: Optional[Path] = config_option(PasskConfig, "batch_input", "--batch-input", help="vLLM run_batch: the batch's input file, joined with the output by custom_id."),
    columns: Optional[str] = typer.Option(None, "--columns", help="column mapping for local benchmark files, e.g. problem=question,answer=final,id=idx"),
    limit: Optional[int] = typer.Option(None, "--limit", help="use only the first N problems of each benchmark"),
    timeout: float = config_option(PasskConfig, "timeout_s", "--verify-timeout", help="hard time limit per answer check, seconds"),
    workers: Optional[int] = typer.Option(None, "--verify-workers", help="verifier processes (default: all cores; half of them while the transformers backend generates; 0: in this process, no time limit)"),
    grader: str = config_option(PasskConfig, "grader", "--grader", help="entropykit (a stated answer only; see evalkit/README.md) or mathverify-default (Math-Verify's own extraction, to reproduce other papers)"),
    batch_size: int = config_option(PasskConfig, "batch_size", "--batch-size", help="transformers backend: sequences per batch"),
    tensor_parallel_size: int = config_option(PasskConfig, "tensor_parallel_size", "--tensor-parallel-size", "--tp", help="vLLM: GPUs per engine"),
    data_parallel_size: int = config_option(PasskConfig, "data_parallel_size", "--data-parallel-size", "--dp", help="vLLM: engine replicas on this machine (untested here, no GPUs; --shard is the tested way to scale out)"),
    html: bool = config_option(PasskConfig, "html", "--html/--no-html", help="write passk.html"),
    quiet: bool = config_option(PasskConfig, "quiet", "--quiet", "-q", help="no progress bar or log lines"),
) -> None:
    """Sample, verify and score; resumable (rerun the same command after a kill)."""
    if ctx.invoked_subcommand is not None:
        return
    given = given_options(ctx.params, {"k": "ks", "benchmark": "benchmarks", "timeout": "timeout_s"})  # option -> field
    for key in ("out", "from_samples", "batch_input"):
        if key in given:
            given[key] = str(given[key])
    if "benchmarks" in given:
        given["benchmarks"] = list(given["benchmarks"])
    try:
        _passk(PasskConfig(**given))
    except UserError as e:
        _fail(str(e))


def _passk(cfg: PasskConfig) -> None:
    from entropykit.io import ensure_writable_dir

    cfg.validate()
    ensure_writable_dir(cfg.out, create=False)  # before any model load or sampling; nothing created yet
    console = _console()
    log = (lambda s: None) if cfg.quiet else (lambda s: console.print(f"[dim]{s}[/dim]", highlight=False))
    if cfg.from_samples is not None:
        from entropykit.evalkit.runner import score_samples

        summary = score_samples(cfg.from_samples, cfg.ks, cfg.out, timeout_s=cfg.timeout_s, workers=cfg.workers,
                                html=cfg.html, log=log, grader=cfg.grader, fmt=cfg.input_format, fields=cfg.fields,
                                batch_input=cfg.batch_input)
    else:
        from entropykit.evalkit.runner import PasskInterrupted, run_passk

        if cfg.n is None and cfg.ks is None:
            log("sampling n=1 per problem (pass@1 only): give --k K for pass@1..K from K samples per problem")
        try:
            summary = run_passk(cfg, log=log)
        except PasskInterrupted as e:
            print(f"entropykit: {e}", file=sys.stderr)
            raise typer.Exit(130)
        st = summary.get("_stats", {})
        if st.get("generated"):
            log(f"generated {st['generated']} samples ({st['tokens']} tokens) in {st['wall_time_s']:.1f}s; "
                f"reused {st['reused']}")
        if not summary.get("complete", True):
            missing = ", ".join(f"shard {s} ({c})" for s, c in summary["missing"].items())
            console.print(f"shard {cfg.shard}: its samples are saved. summary.json waits for "
                          f"{summary['num_missing']} of {summary['num_jobs']} samples from {missing}; the last "
                          f"shard to finish writes it (or rerun any shard's command once they are done)",
                          highlight=False)
            return
    from rich.console import Console

    from entropykit.evalkit.report import print_table

    print_table(summary, Console())
    for name, b in summary["benchmarks"].items():
        if b.get("ungradable_gold"):
            ids = ", ".join(str(g["problem_id"]) for g in b["ungradable_gold"][:10])
            print(f"entropykit: warning: {name}: {len(b['ungradable_gold'])} problem(s) have an empty or unparsable gold answer "
                  f"and are left out of pass@k ({ids}{', ...' if len(b['ungradable_gold']) > 10 else ''})", file=sys.stderr)
        if b.get("n_per_problem"):
            per = ", ".join(f"n={k} ({v} problems)" for k, v in b["n_per_problem"].items())
            console.print(f"{name}: uneven samples per problem: {per}; each problem's pass@k uses its own n",
                          highlight=False)
    written = ["summary.json", "problems.jsonl"] + (["passk.html"] if cfg.html else [])
    log(f"wrote {', '.join(str(Path(cfg.out) / w) for w in written)}")


# `passk compare A1 A2 -- B1 B2`: click ends the options at "--" and drops it, so the compare
# command's own parse_args (below) turns each "--" (or "--vs", for shells and wrappers that eat
# "--") into this marker before click sees the arguments; it can be no folder's name.
GROUP_SEP = "\x1f--vs"
SEPARATORS = ("--", "--vs")


class _GroupSeparator:
    """Mixed into the compare command's class: keeps the group separators as arguments."""

    def parse_args(self, ctx, args):
        return super().parse_args(ctx, [GROUP_SEP if a in SEPARATORS else a for a in args])


@passk_app.command("compare")
def compare(
    dirs: List[Path] = typer.Argument(..., help="run folders made by `entropykit passk` (two or more); or groups of them, one folder per training seed, separated by -- or --vs (A1 A2 A3 -- B1 B2 B3); or one `entropykit reproduce` folder (its base and each method's seeds)"),
    out: Path = typer.Option(Path("passk-compare.html"), "--out", "-o", help="HTML report (a .json twin is written beside it)"),
    labels: Optional[str] = typer.Option(None, "--labels", help="comma-separated names, one per folder, or one per group (default: model names; groups A, B, ...)"),
    base_group: Optional[str] = typer.Option(None, "--base-group", help="groups only: the group (its label: A, B, ... or from --labels) that is one untrained model, e.g. the base; it has no training seeds, so its t intervals are exact (a one-run group that is a method's one training seed has none)"),
    max_samples: int = typer.Option(DYNAMICS_MAX_SAMPLES, "--max-samples", help="responses per run used for test-time dynamics"),
) -> None:
    """Overlay pass@k curves (base vs RL): crossover k per benchmark and test-time dynamics per model.

    With groups of runs (A1 A2 A3 -- B1 B2 B3: each folder one training seed of its group's method, all on the
    same problems with the same n and sample seeds) or a reproduce folder: per benchmark each group's mean
    accuracy over its seeds and each seed's value, the pass@k curves averaged over seeds, and for every pair of
    groups (the first group against each other first; a reproduce folder: its Figure-8 pairs first) B - A with a
    two-level bootstrap CI (seeds within each group, problems shared), a t interval and the probability of
    improvement."""
    from entropykit.io import ensure_writable_parent

    if max_samples < 1:
        _fail(f"--max-samples must be >= 1, got {max_samples}")
    try:
        ensure_writable_parent(out, create=False)  # before reading the runs; nothing created yet
        lab = [s.strip() for s in labels.split(",")] if labels else None
        grouped = _grouped_comparison(dirs, lab, base_group)
        if grouped is not None:
            from entropykit.evalkit.group_compare import compare_groups

            report = compare_groups(grouped.groups, str(out), pairs=grouped.pairs, base=grouped.base,
                                    notes=grouped.notes, max_samples=max_samples)
        else:
            from entropykit.evalkit.report import compare_runs

            report = compare_runs([str(d) for d in dirs], str(out), labels=lab, max_samples=max_samples)
    except UserError as e:
        _fail(str(e))
        return
    from rich.console import Console

    if grouped is not None:
        from entropykit.evalkit.group_page import print_group_compare as show
    else:
        from entropykit.evalkit.report import print_compare as show
    show(report, Console())
    _console().print(f"[dim]wrote {out} and {Path(out).with_suffix('.json')}[/dim]")


class GroupedComparison(NamedTuple):
    """What `compare_groups` takes: (label, run folders) per group, (A, B) index pairs (None:
    every pair), the index of the untrained base group (or None), notes for the report."""

    groups: list[tuple[str, list[str]]]
    pairs: list[tuple[int, int]] | None
    base: int | None
    notes: list[str]


def _grouped_comparison(dirs: List[Path], labels: Optional[List[str]], base_group: Optional[str]) -> GroupedComparison | None:
    """The groups of `passk compare` arguments: separated by -- (`_split_groups`) or one reproduce
    folder (`_reproduce_groups`); None for the plain comparison of single runs."""
    names = [str(d) for d in dirs]
    if GROUP_SEP in names:
        return _split_groups(names, labels, base_group)
    if len(dirs) == 1 and (dirs[0] / "reproduce.json").exists():
        if base_group is not None:
            raise UserError(f"--base-group: the groups of a reproduce folder are its base model and its methods; "
                            f"give the folder alone (entropykit passk compare {dirs[0]})")
        return _reproduce_groups(dirs[0], labels)
    if base_group is not None:
        raise UserError("--base-group names a group of a grouped comparison (A1 A2 -- B1 B2), not a run")
    return None


def _split_groups(names: list[str], labels: Optional[List[str]], base_group: Optional[str]) -> GroupedComparison:
    """Groups separated by -- (GROUP_SEP here). UserError: a side without runs, a reproduce folder
    among them, labels that do not match the groups, a --base-group that is none of them."""
    sides: list[list[str]] = [[]]
    for name in names:
        if name == GROUP_SEP:
            sides.append([])
        else:
            sides[-1].append(name)
    for i, side in enumerate(sides):
        if not side:
            where = "before the first --" if i == 0 else ("after the last --" if i == len(sides) - 1 else "between two --")
            raise UserError(f"passk compare: no run folder {where}; give every side its runs: A1 A2 -- B1 B2")
    for name in names:
        if name != GROUP_SEP and (Path(name) / "reproduce.json").exists():
            raise UserError(f"{name}: an `entropykit reproduce` folder holds its own groups: give it alone "
                            f"(entropykit passk compare {name}), not with --")
    if labels is not None and len(labels) != len(sides):
        raise UserError(f"--labels must give one label per group ({len(sides)} groups, {len(labels)} labels)")
    tags = labels or [chr(ord("A") + i) if i < 26 else f"G{i + 1}" for i in range(len(sides))]
    base = None
    if base_group is not None:
        if base_group not in tags:
            raise UserError(f"--base-group {base_group}: no such group (the groups are {', '.join(tags)})")
        base = tags.index(base_group)
    return GroupedComparison(list(zip(tags, sides)), None, base, [])


def _reproduce_groups(folder: Path, labels: Optional[List[str]]) -> GroupedComparison:
    """The groups of a reproduce folder: its base model, then each method's finished seeds; its
    pairs (`compared_pairs`: the Figure-8 pairs first, then every other); its notes on unfinished
    seeds. UserError: not a readable reproduce folder, labels that do not match its groups."""
    from entropykit.reproduce.layout import compared_pairs, label, read_experiment

    cfg, lay, runs, notes = read_experiment(folder)
    order = ["base", *runs]
    tags = [label(v) for v in order]
    if labels is not None:
        if len(labels) != len(order):
            raise UserError(f"--labels must give one label per group ({len(order)}: {', '.join(tags)}), got {len(labels)}")
        tags = labels
    groups = [(tags[0], [str(lay.passk("base"))])] + [(tags[i + 1], [str(lay.passk(n)) for n in runs[v]])
                                                      for i, v in enumerate(runs)]
    pairs = [(order.index(a), order.index(b)) for a, b in compared_pairs(cfg, list(runs))]
    return GroupedComparison(groups, pairs, 0, notes)


def register(app: typer.Typer) -> None:
    from entropykit.cli.app import PlainHelpCommand  # defined before the app registers its tools

    for info in passk_app.registered_commands:
        if info.name == "compare":  # plain help, and the group separators kept (`_GroupSeparator`)
            info.cls = type("GroupedCompareCommand", (_GroupSeparator, PlainHelpCommand), {})
    app.add_typer(passk_app, name="passk", options_metavar="--out DIR [OPTIONS]")
