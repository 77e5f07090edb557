"""The execution engine: *where* embeddings and fine-tunes are computed, never *what* is computed.

This file is the engine *interface* (:class:`Engine`, :class:`EngineConfig`, :data:`ENGINES`,
:func:`current_engine`); it sits below the steps that hand work to an engine (:mod:`core.pipeline`,
:mod:`core.selection.embed`, the fine-tune sweeps), and names what it needs of them as protocols
(:class:`EmbeddingLookup`, :class:`WindowPool`), so it imports none of them. The implementations,
:mod:`core.engine.local` and :mod:`core.engine.ray`, sit above everything they run and are loaded
by name from :data:`ENGINES`.

Two engines are registered in :data:`ENGINES` (a :class:`core.registry.Registry`):

- ``local`` (default, :class:`core.engine.local.LocalEngine`): today's behaviour, in this process
  (or the dashboard's job worker processes), nothing to start;
- ``ray`` (:class:`core.engine.ray.RayEngine`): batch embeddings and the per-window embeddings of a
  selection pool through Ray Data ``map_batches`` with one probe network per actor, fine-tune sweeps as Ray tasks (one run per task), on a Ray
  cluster named by an address (``auto``, ``ray://host:port``, ``host:port``) or an in-process Ray
  (``local``).

The engine is an execution knob: it never enters a cache key, a job id or a run id
(:mod:`core.fingerprint` builds those from the settings alone), so both engines read and fill the
same cache and results database, and give the same embeddings within the tolerance stated in
``tests/core/engine/test_ray_engine.py`` (max abs difference 1e-5 in fp32: the same code runs on the
same batches, only in another process).

The engine of a process is chosen once (:func:`use_engine`; the CLI's ``--engine``/``--ray-address``
and the dashboard's sidebar call it) and is also written to ``$ALIGNSCOPE_ENGINE`` /
``$ALIGNSCOPE_RAY_ADDRESS`` / ``$ALIGNSCOPE_RAY_ACTORS`` so the dashboard's job worker processes
inherit it; :func:`current_engine` returns it (``local`` when nothing was chosen).
"""
from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol, Sequence

from core.errors import AlignScopeError, opt
from core.registry import Registry

if TYPE_CHECKING:
    import numpy as np

    from core.estimators.base import Task2VecEstimator
    from core.probe import ProbeNetwork
    from core.settings import EmbedSettings
    from core.store import EmbeddingStore

#: Execution engines: name -> ``"module:class"`` (imported on first use, so listing never imports ray).
ENGINES = Registry("execution engine", fix_hint="(--engine local|ray)")
ENGINES.register("local", "core.engine.local:LocalEngine", aliases=("embedded", "processes"),
                 description="this machine: the command's own process or the dashboard's job workers (default)")
ENGINES.register("ray", "core.engine.ray:RayEngine", aliases=("ray-cluster",),
                 description="a Ray cluster: Ray Data actors for embeddings, Ray tasks for fine-tune sweeps")

DEFAULT_ENGINE = "local"
#: ``--ray-address`` values besides ``host:port`` and ``ray://host:port``.
SPECIAL_ADDRESSES = ("auto", "local")
ENV_ENGINE, ENV_ADDRESS, ENV_ACTORS = "ALIGNSCOPE_ENGINE", "ALIGNSCOPE_RAY_ADDRESS", "ALIGNSCOPE_RAY_ACTORS"

_ADDRESS = re.compile(r"^(ray://)?(?P<host>[A-Za-z0-9_.\-]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})$")


class EmbeddingLookup(Protocol):
    """What an engine reads of a corpus's cache look-up (:class:`core.pipeline.CachedEmbeddings` is one):
    the drawn batches, their store keys, which rows were found (float32 [D] each) and which are missing,
    and the probe network, estimator and resolved precision to compute the missing ones with."""

    batches: Sequence
    keys: Sequence[str]
    found: dict
    missing: Sequence[int]
    probe: Any
    estimator: Any
    precision: str


class WindowPool(Protocol):
    """What an engine reads of a selection pool (:class:`core.selection.pool.Pool` is one): its windows,
    their token ids and attention masks (int64 [N, T])."""

    windows: Sequence
    input_ids: Any
    attention_mask: Any


class EngineError(AlignScopeError):
    """A bad engine setting or an unreachable cluster (the message names it and the fix)."""


@dataclass(frozen=True)
class EngineConfig:
    """Which engine runs the work, and where.

    Attributes:
        name: ``local`` (default) or ``ray`` (registry names or aliases of :data:`ENGINES`).
        address: Ray only: ``auto`` (a running cluster found on this machine, ``$RAY_ADDRESS``),
            ``local`` (start an in-process Ray, default), ``ray://host:port`` (Ray Client) or
            ``host:port`` (the head node's GCS).
        actors: Ray only: embedding actors (probe network copies); None = one per GPU of the cluster,
            else one per 4 CPUs of the cluster (at least 1).

    Raises (constructor):
        EngineError: unknown engine, malformed address, non-positive ``actors``.
    """

    name: str = DEFAULT_ENGINE
    address: str = "local"
    actors: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", ENGINES.canonical(self.name) if self.name in ENGINES else self.name)
        if self.name not in ENGINES:
            raise EngineError(f"Unknown execution engine {self.name!r}.",
                              fix=f"use {opt('engine', 'local')} or {opt('engine', 'ray')}.")
        check_address(self.address)
        if self.actors is not None and (not isinstance(self.actors, int) or self.actors < 1):
            raise EngineError(f"{opt('ray_actors', self.actors)} is not a positive number of actors.",
                              fix=f"give {opt('ray_actors', 1)} or more, or leave it out (one per GPU).")

    def to_env(self) -> dict[str, str]:
        """The ``$ALIGNSCOPE_ENGINE``... variables that make child processes use this engine."""
        return {ENV_ENGINE: self.name, ENV_ADDRESS: self.address, ENV_ACTORS: "" if self.actors is None else str(self.actors)}

    @classmethod
    def from_env(cls, env: dict | None = None) -> "EngineConfig":
        """The engine named by ``$ALIGNSCOPE_ENGINE`` / ``$ALIGNSCOPE_RAY_ADDRESS`` / ``$ALIGNSCOPE_RAY_ACTORS``
        (defaults when unset).

        Raises:
            EngineError: a bad value (the message names the variable).
        """
        env = os.environ if env is None else env
        actors = (env.get(ENV_ACTORS) or "").strip()
        try:
            return cls(name=(env.get(ENV_ENGINE) or DEFAULT_ENGINE).strip(), address=(env.get(ENV_ADDRESS) or "local").strip(),
                       actors=int(actors) if actors.isdigit() else None)
        except EngineError as exc:
            raise EngineError(f"${ENV_ENGINE}/${ENV_ADDRESS}: {exc.what}", fix=exc.fix) from None


def check_address(address: str) -> str:
    """Validate a ``--ray-address`` value (its form only; :meth:`Engine.connect` checks it is reachable).

    Raises:
        EngineError: not ``auto``, ``local``, ``host:port`` or ``ray://host:port`` (port 1-65535).
    """
    m = _ADDRESS.match(address or "")
    if address in SPECIAL_ADDRESSES or (m and 0 < int(m.group("port")) < 65536):
        return address
    raise EngineError(f"{opt('ray_address', address)} is not a Ray address.",
                      fix=f"give {opt('ray_address', 'auto')} (a cluster started with 'ray start --head' on this "
                          f"machine), {opt('ray_address', 'local')} (an in-process Ray), ray://HEAD:10001 (Ray Client) "
                          "or HEAD:6379 (the head's GCS).")


@dataclass
class RunRequest:
    """One fine-tune of a sweep, as the sweep code hands it to :meth:`Engine.run_finetunes`.

    Attributes:
        config: :class:`core.finetune.config.FinetuneConfig`.  settings: the alignment's
            :class:`~core.settings.EmbedSettings`.  run_id: the results-database row id.
        job_id, experiment_id: recorded in the row (None outside a job).  label: for messages.
    """

    config: Any
    settings: Any
    run_id: str
    job_id: str | None = None
    experiment_id: str | None = None
    label: str = ""


@dataclass
class RunOutcome:
    """The end of one :class:`RunRequest`: ``row`` (the results-database row, recorded on this
    machine) or ``error`` (the message; the row is recorded as ``failed``)."""

    index: int
    run_id: str
    row: dict | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


Progress = Callable[[int, int, str], None]
#: ``(window rows, their float32 [D] embeddings, how many of them were computed now)``, called by
#: :meth:`Engine.embed_windows_missing` after each forward pass's windows are in the store.
RowsDone = Callable[[list, list, int], None]


class Engine:
    """What an execution engine does. Subclasses: :class:`~core.engine.local.LocalEngine`,
    :class:`~core.engine.ray.RayEngine`."""

    name = "engine"
    #: True when work leaves this process tree (a Ray cluster): sweeps dispatch all runs at once.
    distributed = False

    def __init__(self, config: EngineConfig) -> None:
        self.config = config

    def connect(self) -> "Engine":
        """Make the engine ready (a no-op locally; Ray connects or starts). Idempotent.

        Raises:
            EngineError: the cluster cannot be reached (the message names the address and the fix).
        """
        return self

    def check(self) -> None:
        """Quick reachability check without starting anything (seconds at most; the dashboard's
        sidebar calls it on every change).

        Raises:
            EngineError: the engine cannot be used as set (a missing package, a head that does not answer).
        """

    def describe(self) -> str:
        """One line for logs: the engine and where it runs."""
        return self.name

    def pin_precision(self, requested: str, device: str) -> str:
        """The precision to request so that ``auto`` means what it means where the work runs.

        Returns ``requested`` unchanged unless it is ``auto`` and the workers resolve it differently
        from this process (e.g. a CPU driver and GPU workers: ``bf16``); then the workers' resolved
        precision, so the cache keys and run ids name the precision actually used.
        """
        return requested

    def embed_missing(self, look: "EmbeddingLookup", settings: "EmbedSettings", *, store: "EmbeddingStore",
                      should_stop: Callable[[], bool] | None = None,
                      on_batch: Callable[[int, bool], None] | None = None) -> tuple[list["np.ndarray"], int]:
        """Fill ``look.missing``: compute each missing batch's Task2Vec embedding and store it.

        Args:
            look: :func:`core.pipeline.cached_embeddings`'s answer (batches, keys, found, missing,
                probe, estimator, precision).
            settings: the embedding settings (model, estimator, device, precision).
            store: the embedding store the driver writes to.
            should_stop: polled between batches; True raises ``InterruptedError`` (stored batches stay).
            on_batch: ``(row, computed)`` after each row not in ``look.found``.

        Returns:
            ``(rows, computed)``: float32 [D] per batch in order, and how many were computed now.
        """
        raise NotImplementedError

    def embed_windows_missing(self, pool: "WindowPool", missing: Sequence[int], settings: "EmbedSettings", *,
                              keys: Sequence[str], probe: "ProbeNetwork", estimator: "Task2VecEstimator",
                              precision: str, store: "EmbeddingStore", should_stop: Callable[[], bool] | None = None,
                              on_rows: RowsDone | None = None) -> int:
        """Compute and store the per-window Task2Vec embeddings of a selection pool's ``missing`` windows
        (:func:`core.selection.embed.embed_windows` looks them up and calls this).

        One ``estimator.embed_rows`` forward pass per ``settings.batch.batch_size`` missing windows
        (eq. (2) of :mod:`core.estimators.closed_form` per window); each window is stored under its own
        key ``keys[i]`` (:func:`core.selection.embed.window_keys`; the engine never enters it).

        Args:
            pool: :class:`core.selection.pool.Pool` (``input_ids``/``attention_mask`` int64 [N, T]).
            missing: rows of ``pool`` not in the store at look-up time (re-checked before computing).
            keys: the store key of every window of ``pool`` (length N).
            probe, estimator, precision: the driver's probe network, estimator and resolved precision.
            store: the embedding store the driver writes to.
            should_stop: polled between forward passes; True raises ``InterruptedError`` (stored windows stay).
            on_rows: ``(rows, embeddings, computed)`` after each forward pass's windows are stored
                (windows another job stored meanwhile are passed with ``computed`` not counting them).

        Returns:
            How many window embeddings were computed (and stored) now.
        """
        raise NotImplementedError

    def prefetch(self, looks: Sequence["EmbeddingLookup"], settings: "EmbedSettings", *, store: "EmbeddingStore",
                 should_stop: Callable[[], bool] | None = None, progress: Progress | None = None) -> list[int]:
        """Compute the missing batches of several corpora at once, if the engine gains from it (a Ray
        job starts its actors once for all of them); the local engine does nothing here and computes
        each corpus in :meth:`embed_missing`. Returns how many embeddings were computed per look.

        Args:
            looks: :func:`core.pipeline.cached_embeddings` of each corpus (same settings).
            progress: ``(done, total, message)`` over all missing batches.
        """
        return [0] * len(looks)

    def run_finetunes(self, requests: Sequence[RunRequest], *, progress: Progress | None = None,
                      should_stop: Callable[[], bool] | None = None,
                      log: Callable[[str], None] | None = None) -> Iterator[RunOutcome]:
        """Run the fine-tunes of a sweep; yields one :class:`RunOutcome` per request as each ends
        (its row already recorded in this machine's results database).

        Args:
            progress: ``(done, total, message)`` (per run locally: percent of the current run).
            should_stop: cancellation poll; True raises ``InterruptedError``.
            log: one line per event.

        Raises:
            InterruptedError: cancelled (finished runs stay recorded).
        """
        raise NotImplementedError

    def close(self) -> None:
        """Release what :meth:`connect` took (an in-process Ray is shut down)."""


_lock = threading.Lock()
_current: dict[str, Any] = {}


def get_engine(config: EngineConfig | None = None) -> Engine:
    """The engine instance of ``config`` (one per config per process; not yet connected)."""
    config = config or EngineConfig()
    with _lock:
        eng = _current.get(("instance", config))
        if eng is None:
            eng = ENGINES.get(config.name)(config)
            _current[("instance", config)] = eng
        return eng


def use_engine(config: EngineConfig, *, connect: bool = True, export: bool = True) -> Engine:
    """Make ``config`` this process's engine (and, with ``export``, its child processes' through the
    environment); with ``connect`` it is connected now, so a bad address fails before any work.

    Raises:
        EngineError: the cluster cannot be reached.
    """
    eng = get_engine(config)
    if connect:
        eng.connect()
    with _lock:
        _current["config"] = config
    if export:
        os.environ.update(config.to_env())
    return eng


def clear_engine() -> None:
    """Forget the engine given to :func:`use_engine` (the environment's, or ``local``, applies again)."""
    with _lock:
        _current.pop("config", None)


def current_engine() -> Engine:
    """This process's engine: the one given to :func:`use_engine`, else the one named by the
    environment (a dashboard job worker), else ``local``.

    Raises:
        EngineError: a bad ``$ALIGNSCOPE_ENGINE``/``$ALIGNSCOPE_RAY_ADDRESS``.
    """
    config = _current.get("config") or EngineConfig.from_env()
    return get_engine(config)
