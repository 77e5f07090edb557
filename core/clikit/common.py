"""What every command of ``python -m core`` shares: parent parsers, settings from flags, output.

Parent parsers (``argparse`` ``parents=[...]``) give each option one definition with its help text:

- :func:`json_parent`        ``--json``
- :func:`model_parent`       ``--model`` (the probe network, or the model a command works on)
- :func:`estimator_parent`   ``--estimator``, ``--estimator-param``
- :func:`batch_parent`       ``--batch-size``, ``--seq-len``, ``--num-batches``, ``--seed``
- :func:`device_parent`      ``--device``, ``--threads``
- :func:`precision_parent`   ``--precision auto|fp32|bf16``
- :func:`embedding_parents`  the five above that define an :class:`~core.settings.EmbedSettings`,
                             plus :func:`engine_parent`
- :func:`engine_parent`      ``--engine local|ray``, ``--ray-address``, ``--ray-actors`` (where the work
                             runs; never part of a cache key); :func:`apply_engine` connects it

:func:`settings_from_args` turns them into an ``EmbedSettings`` (validated once), :func:`emit`
prints text or JSON, :func:`fmt_coefficient` formats a coefficient with its 95% CI.
"""
from __future__ import annotations

import argparse
import json
from typing import Any, Callable, NoReturn

from core.errors import AlignScopeError
from core.precision import PRECISIONS
from core.probe import DEFAULT_MODEL


#: The CLI's words for the options and actions that errors name (:func:`core.errors.opt`); an
#: option missing here is rendered as ``--name-with-dashes``.
CLI_WORDS = {
    "hf_id": "--hf", "hf_config": "--config", "add_corpus": "python -m core corpora add NAME --path 'data/**/*.txt' "
    "(or --hf DATASET)", "list_corpora": "python -m core corpora list", "estimator_param": "--estimator-param",
    "max_documents": "a document cap (max_documents in the registry file)", "kind": "--path (files) or --hf (hf)",
    "budget_tokens": "--budget", "learning_rate": "--lr", "yes": "--yes", "weights": "mix save --weights",
}


def render_error(exc: AlignScopeError) -> str:
    """One line for stderr: the error in the CLI's words (flags instead of Python keywords)."""
    return " ".join(exc.render("cli", CLI_WORDS).split("\n"))


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr and exit code 2 (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        """Exit 2 with ``message`` on one line of stderr."""
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def positive_int(text: str) -> int:
    """argparse ``type`` of options that count something (threads...): an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of descriptions and example epilogs."""


def command_parser(sub: Any, name: str, *, help: str, epilog: str, parents: list[argparse.ArgumentParser] = (),
                   **kw: Any) -> argparse.ArgumentParser:
    """``sub.add_parser`` with the shared formatter, a description equal to ``help`` and an
    ``examples:`` epilog (every command's ``--help`` ends with examples)."""
    return sub.add_parser(name, help=help, description=kw.pop("description", help), parents=list(parents),
                          epilog="examples:\n" + epilog.strip("\n"), formatter_class=HelpFormatter, **kw)


def json_parent() -> argparse.ArgumentParser:
    """``--json``: print machine-readable JSON instead of text."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    return p


def model_parent(*, flag: str = "--model", help: str | None = None, title: str | None = None
                 ) -> argparse.ArgumentParser:
    """``--model`` (default :data:`core.probe.DEFAULT_MODEL`): a name, a hub id or a folder."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group(title) if title else p
    g.add_argument(flag, default=DEFAULT_MODEL,
                   help=help or f"probe network: {DEFAULT_MODEL} (embedded, default), a hub id or a folder")
    return p


def estimator_parent(*, title: str = "Task2Vec estimator") -> argparse.ArgumentParser:
    """``--estimator`` (default ``closed_form_head``) and repeatable ``--estimator-param K=V``."""
    from core.estimators import DEFAULT_ESTIMATOR
    from core.estimators.base import ESTIMATORS

    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group(title)
    g.add_argument("--estimator", default=DEFAULT_ESTIMATOR,
                   help=f"Task2Vec estimator ({', '.join(ESTIMATORS.names())}; default {DEFAULT_ESTIMATOR})")
    g.add_argument("--estimator-param", action="append", default=[], metavar="K=V",
                   help="estimator hyperparameter, repeatable (e.g. --estimator-param epochs=3)")
    return p


def batch_parent(*, prefix: str = "", title: str = "batches") -> argparse.ArgumentParser:
    """``--batch-size``, ``--seq-len``, ``--num-batches``, ``--seed`` (with ``prefix``, e.g.
    ``--align-batch-size``, defaulting to None = the :class:`~core.batches.BatchConfig` default)."""
    from core.batches import BatchConfig
    from core.clikit.args import BATCH_SIZE_MAX, NUM_BATCHES_MAX, SEED_MAX, SEQ_LEN_MAX, int_range, seed

    d = BatchConfig()
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group(title)
    dflt = (lambda v: None) if prefix else (lambda v: v)
    g.add_argument(f"--{prefix}batch-size", type=int_range(1, BATCH_SIZE_MAX), default=dflt(d.batch_size),
                   help=f"sequences per Task2Vec batch, 1 to {BATCH_SIZE_MAX} (default {d.batch_size}; the papers use 512)")
    g.add_argument(f"--{prefix}seq-len", type=int_range(2, SEQ_LEN_MAX), default=dflt(d.seq_len),
                   help=f"tokens per sequence of a batch, 2 to the probe network's positions (default {d.seq_len})")
    g.add_argument(f"--{prefix}num-batches", type=int_range(1, NUM_BATCHES_MAX), default=dflt(d.num_batches),
                   help=f"batches per corpus (default {d.num_batches}; at least 2 for a confidence interval; "
                        "bounded by the memory budget, docs/limits.md)")
    g.add_argument(f"--{prefix}seed", type=seed, default=dflt(d.seed),
                   help=f"batch sampling seed, 0 to {SEED_MAX} (default {d.seed})")
    return p


#: ``--threads`` help of commands whose work runs in this process (torch's own default).
THREADS_HELP = "torch CPU threads, >= 1 (default: torch's own, one per core it sees)"
#: ``--threads`` help of the fine-tune commands (their runner picks the idle cores, core.finetune.machine.choose_threads).
FINETUNE_THREADS_HELP = ("torch CPU threads of the fine-tune, >= 1 (default: the idle cores when the run starts, "
                         "max(1, cores - 1-minute load average))")


def device_parent(*, threads: bool = True, threads_help: str = THREADS_HELP) -> argparse.ArgumentParser:
    """``--device`` (default ``auto``) and, for computing commands, ``--threads`` (``threads_help`` says
    what its default does for that command)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("device")
    g.add_argument("--device", default="auto", help="auto (CUDA if present, default), cpu, cuda, cuda:N")
    if threads:
        from core.clikit.args import threads as threads_type

        g.add_argument("--threads", type=threads_type, default=None, help=threads_help + "; capped at the cores")
    return p


def precision_parent() -> argparse.ArgumentParser:
    """``--precision auto|fp32|bf16`` (default ``auto``, :mod:`core.precision`)."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("precision")
    g.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="forward-pass precision: auto (bf16 where the device runs it natively, else fp32; "
                        "default), fp32 or bf16; the resolved one is recorded with every result")
    return p


def engine_parent() -> argparse.ArgumentParser:
    """``--engine local|ray``, ``--ray-address``, ``--ray-actors`` (:mod:`core.engine`): where a computing
    command runs its embeddings and fine-tunes. An execution knob: results and cache keys are the same."""
    from core.execution import DEFAULT_ENGINE, ENGINES

    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("execution engine")
    g.add_argument("--engine", default=None, choices=ENGINES.names(),
                   help=f"where the work runs: local (this machine, default) or ray (Ray Data actors for "
                        f"embeddings, Ray tasks for fine-tunes); default ${{ALIGNSCOPE_ENGINE}} or {DEFAULT_ENGINE}")
    g.add_argument("--ray-address", default=None, metavar="ADDRESS",
                   help="with --engine ray: local (an in-process Ray on this machine, default), auto (the cluster "
                        "started here with 'ray start --head'), HEAD:6379 or ray://HEAD:10001")
    g.add_argument("--ray-actors", type=int, default=None, metavar="N",
                   help="with --engine ray: embedding actors, each holding one probe network (default one per "
                        "GPU, else one per 4 CPUs)")
    return p


def apply_engine(args: argparse.Namespace) -> None:
    """Make the parsed :func:`engine_parent` flags this process's engine (and, through the environment,
    its background jobs'); a named cluster is connected now, so a bad or unreachable ``--ray-address``
    fails before any work (no-op for commands without the flags, and for the default local engine
    when nothing was given).

    Raises:
        EngineError: unknown engine, malformed or unreachable address (naming it and the fix),
            ``--ray-address``/``--ray-actors`` without ``--engine ray``.
    """
    note = getattr(getattr(args, "threads", None), "note", None)
    if note:                                      # --threads clamped to the cores (core.clikit.args.threads)
        import sys

        print(note, file=sys.stderr)
    if not hasattr(args, "engine"):
        return
    from core.execution import EngineConfig, EngineError, use_engine
    from core.errors import opt

    env = EngineConfig.from_env()
    name = args.engine or env.name
    if name != "ray" and (args.ray_address is not None or args.ray_actors is not None):
        raise EngineError(f"{opt('ray_address')} and {opt('ray_actors')} apply to the Ray engine only.",
                          fix=f"add {opt('engine', 'ray')}, or leave them out.")
    if args.engine is None and name == env.name == "local":
        return
    config = EngineConfig(name=name, address=args.ray_address or (env.address if name == env.name else "local"),
                          actors=args.ray_actors if args.ray_actors is not None else env.actors)
    # a named cluster is connected now (an unreachable one fails before any work); an in-process Ray
    # starts on first use, in the process that computes (this one, or a background job's worker)
    use_engine(config, connect=config.address != "local").check()


def embedding_parents() -> list[argparse.ArgumentParser]:
    """Every option of an :class:`~core.settings.EmbedSettings` (model, estimator, batches, device,
    precision) and the execution engine that computes them (:func:`engine_parent`)."""
    return [model_parent(title="probe network"), estimator_parent(), batch_parent(), device_parent(),
            precision_parent(), engine_parent()]


def settings_from_args(args: argparse.Namespace, *, prefix: str = "", model_flag: str = "model") -> EmbedSettings:
    """The :class:`~core.settings.EmbedSettings` of parsed :func:`embedding_parents` flags.

    Args:
        prefix: the batch flags' prefix (``"align_"`` for ``--align-batch-size``...; None values
            mean the default).
        model_flag: attribute holding the probe network (``"probe"`` in the fine-tune commands).

    Everything is validated here, before any weights load: the batch sizes, the estimator's
    hyperparameters (:func:`core.estimators.get_estimator`) and, from the probe network's
    ``config.json`` (:func:`core.probe.check_limits`), the sequence length (2 to
    ``max_position_embeddings``) and the estimator's limits (``k`` within the layer count).

    The request's memory (:func:`core.limits.check_embedding_request`) and a pickled
    ``pytorch_model.bin`` probe (:func:`core.clikit.args.check_model_file`) are checked too.

    Raises:
        AlignScopeError: non-positive batch sizes, naming the flags, or a request over the memory
            budget naming the largest ``--num-batches`` that fits; EstimatorError: a bad
            estimator or parameter; ModelError: a sequence length the probe network cannot take,
            or weights that cannot be loaded safely.
    """
    from core.batches import BatchConfig
    from core.clikit.args import check_model_file
    from core.estimators import DEFAULT_ESTIMATOR, get_estimator
    from core.limits import check_embedding_request
    from core.settings import EmbedSettings
    from core.probe import check_limits

    d = BatchConfig()
    values = {k: getattr(args, prefix + k, None) for k in ("batch_size", "seq_len", "num_batches", "seed")}
    flags = ", ".join(f"--{prefix.replace('_', '-')}{k.replace('_', '-')}" for k in ("batch_size", "seq_len", "num_batches"))
    try:
        batch = BatchConfig(**{k: getattr(d, k) if v is None else v for k, v in values.items()})
    except ValueError as exc:
        raise AlignScopeError(str(exc), fix=f"pass positive {flags} (--{prefix.replace('_', '-')}seq-len >= 2).") from exc
    settings = EmbedSettings(model=getattr(args, model_flag), estimator=args.estimator or DEFAULT_ESTIMATOR,
                             estimator_params=tuple(sorted(key_values(args.estimator_param, option="--estimator-param", example="epochs=3").items())), batch=batch,
                             device=args.device, precision=getattr(args, "precision", "auto"))
    estimator = get_estimator(settings.estimator, **dict(settings.estimator_params))
    check_model_file(settings.model, option=f"--{model_flag}")
    check_limits(settings.model, seq_len=batch.seq_len, estimator=estimator, seq_len_option=prefix + "seq_len")
    check_embedding_request(batch_size=batch.batch_size, seq_len=batch.seq_len, num_batches=batch.num_batches,
                            prefix=prefix.replace("_", "-"))
    return settings


def split(value: str | None, option: str = "the list", *, unique: bool = True) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]`` (comma-separated flag values; None -> ``[]``).

    The one list parser (:func:`core.clikit.args.parse_list`): an empty value, an empty item
    (``"a,,b"``, ``",,,"``) or a duplicate is refused.

    Raises:
        AlignScopeError: naming ``option``.
    """
    from core.clikit.args import parse_list

    return parse_list(value, option=option, unique=unique)


def emit(args: argparse.Namespace, payload: Any, text: str) -> None:
    """Print ``payload`` as indented JSON with ``--json``, else ``text``."""
    print(json.dumps(payload, indent=2, default=str) if args.json else text)


def fmt_coefficient(c: dict | None, *, no_ci: str = "[n/a: too few batches]") -> str:
    """``"0.7157 [0.6593, 0.7720]"`` from a coefficient dict (``value``, ``ci_low``, ``ci_high``);
    ``no_ci`` stands for a missing interval, ``"n/a"`` for a missing coefficient."""
    if not c:
        return "n/a"
    lo, hi = c.get("ci_low"), c.get("ci_high")
    ci = f"[{lo:.4f}, {hi:.4f}]" if lo is not None and hi is not None else no_ci
    return f"{c['value']:.4f} {ci}"


def key_values(pairs: list[str] | None, *, option: str, example: str) -> dict:
    """``["k1=1.2", "device=cpu", "x=true"]`` -> ``{"k1": 1.2, "device": "cpu", "x": True}``: the values of a
    repeatable ``KEY=VALUE`` option, ints, floats and true/false parsed (other values stay strings).

    Raises:
        AlignScopeError: an item without ``=`` or with an empty key, naming ``option`` and ``example``.
    """
    out: dict = {}
    for pair in pairs or []:
        key, eq, raw = pair.partition("=")
        if not eq or not key.strip():
            raise AlignScopeError(f"{option} {pair!r} is not of the form KEY=VALUE.",
                                  fix=f"write e.g. {option} {example}.")
        raw = raw.strip()
        value: object = raw
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        else:
            for cast in (int, float):
                try:
                    value = cast(raw)
                    break
                except ValueError:
                    continue
        out[key.strip()] = value
    return out


def table(rows: list[dict], columns: list[tuple[str, int, Callable[[dict], str]]]) -> str:
    """A plain-text table: a header line, then one line per row; ``columns`` are ``(header, width, cell)``,
    every cell left-aligned to its width (the last one unpadded)."""
    def line(cells: list[str]) -> str:
        return " ".join(f"{c:{w}s}" for c, (_, w, _) in zip(cells[:-1], columns[:-1])) + " " + cells[-1]

    return "\n".join([line([h for h, _, _ in columns])] + [line([str(f(r)) for _, _, f in columns]) for r in rows])


def run_command(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse ``argv`` with ``parser`` and run the chosen command: the one way every entry point
    (``python -m core``, ``python -m core.metrics``) turns a command line into an exit code.

    ``--threads`` sets torch's threads, :func:`apply_engine` connects ``--engine`` before any work,
    and an :class:`AlignScopeError` prints one line (:func:`render_error`).

    Returns:
        0 ok, 2 bad input (one line on stderr: a flag out of its declared range while parsing, or a
        bad value found after), 130 interrupted (Ctrl-C or SIGTERM of an attached job).

    Raises:
        SystemExit: ``--help`` and ``--version`` (code 0) only.
    """
    import os
    import sys

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:          # a usage error is an exit code like any bad input; --help still exits
        if exc.code in (0, None):
            raise
        return exc.code if isinstance(exc.code, int) else 2
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    try:
        apply_engine(args)           # --engine/--ray-address: connect now, before any work
        return args.func(args)
    except AlignScopeError as exc:
        print(f"error: {render_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished batch embeddings are kept in the cache", file=sys.stderr)
        return 130
