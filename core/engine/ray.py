"""The ``ray`` execution engine: batch embeddings on Ray Data, fine-tune sweeps as Ray tasks.

(Over 500 lines on purpose: one engine class and the worker-side actor and task it ships, kept beside the
driver code that calls each of them, so a remote call and the code it runs are read together.)

Embeddings (:meth:`RayEngine.embed_missing`):
    Only the batches missing from the store are sent: ``ray.data.from_items`` of their token ids
    (one block per batch), then ``map_batches(ProbeActor, concurrency=actors, num_gpus=1 per actor
    when the cluster has GPUs)``: a callable class that loads the probe network once per actor and
    runs the same estimator code as the local engine. The driver iterates the results as they
    stream in (``iter_batches``) and writes each embedding to its store at once (under the key's
    lock, never overwriting an entry another job wrote meanwhile), so a killed driver loses only
    the batches in flight; it reports progress per batch and polls ``should_stop`` between batches,
    like the local loop. A killed actor is restarted and its batch retried (``max_restarts``,
    ``max_task_retries``).

Per-window embeddings of a selection pool (:meth:`RayEngine.embed_windows_missing`):
    The same job with the same :class:`ProbeActor` in its per-window mode: the windows missing from
    the store are cut into forward passes of ``batch_size`` windows (as the local loop cuts them), one
    Ray Data row per pass; the actor calls ``estimator.embed_rows`` on it and returns one row per
    window, which the driver stores under that window's own key
    (:func:`core.selection.embed.window_keys`) as it arrives.

Fine-tune sweeps (:meth:`RayEngine.run_finetunes`):
    One Ray task per run (``num_gpus=1`` when the cluster has GPUs, else the CPUs of a node), each
    calling the product's own :func:`core.finetune.runner.run_finetune`; the task returns its row
    and the driver records it in its results database as each task ends (``ray.wait``). A task
    whose worker dies is retried (``max_retries``); a run that fails (bad data, NaN) is recorded as
    ``failed`` and the sweep goes on.

Where things live: the cache (store, results database) is the driver's. Workers need the probe
network, the corpora and the code at the same paths (a shared filesystem, or the same checkout
and ``cache/`` on every node): ``$ALIGNSCOPE_CACHE`` and the other ``ALIGNSCOPE_*`` variables of
the driver are passed to every actor and task. On a remote cluster the ``core`` package is also
shipped with the job (``runtime_env={"py_modules": [core]}``).
"""
from __future__ import annotations

import logging
import os
import socket
import time
import warnings
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence
from urllib.parse import urlparse

import numpy as np

from core.execution import Engine, EngineConfig, EngineError, Progress, RowsDone, RunOutcome, RunRequest
from core.errors import opt

if TYPE_CHECKING:
    from core.estimators.base import Task2VecEstimator
    from core.settings import EmbedSettings
    from core.pipeline import CachedEmbeddings
    from core.probe import ProbeNetwork
    from core.selection.pool import Pool
    from core.store import EmbeddingStore

#: Restarts of a dead embedding actor, and retries of its batch (a crash that repeats is reported).
MAX_RESTARTS = 3
#: Retries of a fine-tune task whose worker died (not of a run that failed on its own).
MAX_TASK_RETRIES = 2
#: Seconds to wait for a TCP connection to a named head node before calling it unreachable.
CONNECT_TIMEOUT_S = 5.0
#: Environment passed from the driver to every actor and task (besides ``ALIGNSCOPE_*``).
FORWARDED_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM", "HF_HOME")

INSTALL_FIX = ('install Ray: .venv/bin/pip install "ray[data]==2.60.0" (scripts/setup.sh does it), or use '
               f"{opt('engine', 'local')}.")


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise EngineError(f"{opt('engine', 'ray')} needs the ray package ({exc}).", fix=INSTALL_FIX) from None
    return ray


def worker_env() -> dict[str, str]:
    """The driver's environment that workers need: the cache root (``$ALIGNSCOPE_CACHE``, resolved),
    every other ``ALIGNSCOPE_*`` variable, the offline flags; the engine inside a worker is
    ``local`` (a task never starts a Ray job of its own)."""
    from core.paths import cache_root

    env = {k: v for k, v in os.environ.items() if k.startswith("ALIGNSCOPE_") or k in FORWARDED_ENV}
    env["ALIGNSCOPE_CACHE"] = str(cache_root())
    env.update({"ALIGNSCOPE_ENGINE": "local", "ALIGNSCOPE_RAY_ADDRESS": "local", "ALIGNSCOPE_RAY_ACTORS": ""})
    return env


def _apply_env(env: dict[str, str]) -> None:
    """Inside an actor or task: take the driver's environment (see :func:`worker_env`)."""
    for k in [k for k in os.environ if k.startswith("ALIGNSCOPE_") and k not in env]:
        del os.environ[k]
    os.environ.update(env)


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class ProbeActor:
    """Ray Data callable class: one probe network per actor, one Task2Vec embedding per input row
    (a batch), or with ``per_window`` one per window of each input row (a forward pass of windows).

    Args (``fn_constructor_kwargs``):
        settings: :meth:`EmbedSettings.to_dict` (model, estimator and its parameters, device).
        precision: the resolved precision the driver's keys name (``fp32``/``bf16``).
        env: :func:`worker_env` of the driver.  threads: torch CPU threads (None: leave as is).
        per_window: per-window embeddings of a selection pool (``estimator.embed_rows``).
    """

    def __init__(self, *, settings: dict, precision: str, env: dict, threads: int | None = None,
                 per_window: bool = False) -> None:
        _apply_env(env)
        import torch

        from core.estimators import get_estimator
        from core.settings import EmbedSettings
        from core.probe import load_probe

        if threads:
            torch.set_num_threads(threads)
        s = EmbedSettings.from_dict(settings)
        self.probe = load_probe(s.model, device=s.device, progress=False)
        self.probe.model                       # load the weights once per actor, before the first batch
        self.estimator = get_estimator(s.estimator, **dict(s.estimator_params))
        self.precision = precision
        self.per_window = per_window
        self.worker = _worker_name()

    def embed(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """:meth:`__call__` as a plain actor method (the Ray Client path calls actors directly)."""
        return self(batch)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``{"look", "row", "corpus", "index", "input_ids" int64 [n, B, T], "attention_mask"}`` ->
        ``{"look", "row", "embedding" float32 [n, D], "seconds", "tokens", "model", "worker", "device"}``
        (per-window mode: :meth:`_windows`)."""
        from core.batches import TokenBatch

        if self.per_window:
            return self._windows(batch)
        vecs, secs, toks = [], [], []
        for j in range(len(batch["row"])):
            b = TokenBatch(str(batch["corpus"][j]), int(batch["index"][j]), np.array(batch["input_ids"][j], dtype=np.int64),
                           np.array(batch["attention_mask"][j], dtype=np.int64), (), ())
            t = time.perf_counter()
            vecs.append(np.asarray(self.estimator.embed(self.probe, b, precision=self.precision), dtype=np.float32))
            secs.append(time.perf_counter() - t)
            toks.append(b.num_tokens)
        return self._out(np.asarray(batch["look"]), np.asarray(batch["row"]), vecs, secs, toks)

    def _windows(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``{"rows" int64 [n, W] (window indices in the pool, -1 = padding), "input_ids" int64 [n, W, T],
        "attention_mask" [n, W, T], ...}``: one ``estimator.embed_rows`` forward pass per input row ->
        one output row per window (``"row"`` = its index in the pool; ``"seconds"`` = the pass's wall
        time shared out per window; ``"tokens"`` = its real tokens)."""
        from core.batches import TokenBatch

        rows, vecs, secs, toks = [], [], [], []
        for j in range(len(batch["rows"])):
            idx = np.asarray(batch["rows"][j], dtype=np.int64)
            keep = idx >= 0
            n = int(keep.sum())
            b = TokenBatch("pool", j, np.array(batch["input_ids"][j], dtype=np.int64)[keep],
                           np.array(batch["attention_mask"][j], dtype=np.int64)[keep], ("",) * n, (0,) * n)
            t = time.perf_counter()
            out = np.asarray(self.estimator.embed_rows(self.probe, b, precision=self.precision), dtype=np.float32)
            dt = (time.perf_counter() - t) / max(n, 1)
            rows.extend(idx[keep].tolist())
            vecs.extend(out)
            secs.extend([dt] * n)
            toks.extend(b.attention_mask.sum(axis=1).tolist())
        return self._out(np.zeros(len(rows), dtype=np.int64), np.asarray(rows, dtype=np.int64), vecs, secs, toks)

    def _out(self, look: np.ndarray, row: np.ndarray, vecs: list, secs: list, toks: list) -> dict[str, np.ndarray]:
        n = len(vecs)
        return {"look": look, "row": row, "embedding": np.stack(vecs).astype(np.float32, copy=False),
                "seconds": np.asarray(secs), "tokens": np.asarray(toks), "model": np.asarray([self.probe.fingerprint] * n),
                "worker": np.asarray([self.worker] * n), "device": np.asarray([str(self.probe.device)] * n)}


def _resolve_remote_precision(requested: str, device: str, env: dict) -> str:
    """On a worker: the precision ``requested`` resolves to on ``device`` there."""
    _apply_env(env)
    from core.precision import resolve_precision
    from core.probe import resolve_device

    return resolve_precision(requested, resolve_device(device))


def _finetune_task(config: dict, settings: dict, run_id: str, job_id: str | None, experiment_id: str | None,
                   env: dict, threads: int | None) -> dict:
    """One fine-tune on a worker: :func:`core.finetune.runner.run_finetune`; returns ``{"row", "error",
    "worker"}`` (a run that fails is returned with its error, not raised: it is not retried)."""
    _apply_env(env)
    if threads and not env.get("ALIGNSCOPE_TORCH_THREADS"):   # the driver's --threads wins
        os.environ["ALIGNSCOPE_TORCH_THREADS"] = str(threads)
    gpus = []
    try:
        import ray

        gpus = [str(g) for g in ray.get_gpu_ids()]
    except Exception:
        pass
    if gpus:                          # one training slot per GPU, not one per machine
        os.environ["ALIGNSCOPE_TRAINING_SLOT"] = "gpu" + "-".join(gpus)
    from core.finetune import results
    from core.finetune.config import FinetuneConfig
    from core.finetune.runner import run_finetune

    try:
        row = run_finetune(FinetuneConfig.from_dict(config), settings, run_id=run_id, job_id=job_id,
                           experiment_id=experiment_id)
        row.pop("timings", None)
        return {"row": row, "error": None, "worker": _worker_name()}
    except Exception as exc:          # recorded as failed by run_finetune; the driver records it too
        return {"row": results.get_run(run_id, reconcile_first=False), "error": str(exc) or type(exc).__name__,
                "worker": _worker_name()}


def _check_model(res: dict, j: int, expected: str, model: str) -> None:
    """Raise when result row ``j`` came from another probe network than the driver's (weights hash)."""
    if str(res["model"][j]) != expected:
        raise EngineError(f"Worker {res['worker'][j]} loaded another probe network than the driver's {model!r} "
                          f"(weights hash {str(res['model'][j])[:12]} vs {expected[:12]}); nothing from it was stored.",
                          fix="put the same model files at the same path on every node (or a shared path).")


def _client_mode(ray) -> bool:
    """Connected through Ray Client (``ray://``): the driver is outside the cluster."""
    try:
        return bool(ray.util.client.ray.is_connected())
    except Exception:
        return False


def _actor_pool_results(ray, items: list[dict], kwargs: dict, *, actors: int, cpus: float, gpus: int) -> Iterator[dict]:
    """The Ray Client path of :meth:`RayEngine._stream`: the same :class:`ProbeActor` (one probe
    network per actor, restarted and retried like the Ray Data actors) through ``ray.util.ActorPool``,
    results yielded as each batch finishes (Ray Data's streaming executor needs a driver inside the
    cluster)."""
    from ray.util import ActorPool

    remote = ray.remote(ProbeActor).options(num_cpus=cpus, num_gpus=gpus, max_restarts=MAX_RESTARTS,
                                            max_task_retries=MAX_RESTARTS)
    handles = [remote.remote(**kwargs) for _ in range(actors)]
    try:
        pool = ActorPool(handles)
        yield from pool.map_unordered(lambda a, item: a.embed.remote({k: np.asarray([v]) for k, v in item.items()}),
                                      items)
    finally:
        for h in handles:
            ray.kill(h)


class RayEngine(Engine):
    """A Ray cluster (see the module docstring). ``config.address``: ``local`` starts an in-process
    Ray (this machine's CPUs and GPUs, no dashboard); ``auto``, ``host:port``, ``ray://host:port``
    connect to a running cluster."""

    name = "ray"
    distributed = True

    def __init__(self, config: EngineConfig) -> None:
        super().__init__(config)
        self._ray = None
        self._started = False
        self._pinned: dict[tuple[str, str], str] = {}

    # -- connection -------------------------------------------------------------------------------
    def connect(self) -> "RayEngine":
        """Connect to (or start) the cluster; idempotent. A running ``ray.init`` of this process is reused.

        Raises:
            EngineError: ray is not installed; the address cannot be reached (naming it and the fix).
        """
        ray = _import_ray()
        address = self.config.address
        if address not in ("auto", "local"):
            self._probe_tcp(address)          # a named head that does not answer fails in seconds
        if ray.is_initialized():
            self._ray = ray
            self._quiet(ray)
            return self
        kw: dict[str, Any] = {"logging_level": logging.WARNING, "ignore_reinit_error": True,
                              "log_to_driver": True}
        if address == "local":
            kw.update(include_dashboard=False, runtime_env={"env_vars": worker_env()})
        else:
            import core

            kw["runtime_env"] = {"env_vars": worker_env(), "py_modules": [os.path.dirname(core.__file__)]}
        try:
            ray.init(address=address, **kw)
        except (ConnectionError, TimeoutError, RuntimeError, ValueError, OSError) as exc:
            raise self._unreachable(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
        self._started = address == "local"
        self._ray = ray
        self._quiet(ray)
        return self

    def check(self) -> None:
        """Ray installed; a named head answers on its port; ``auto`` finds a cluster started on this
        machine (``$RAY_ADDRESS`` or Ray's ``/tmp/ray/ray_current_cluster``). Starts nothing.

        Raises:
            EngineError: naming the address and the fix.
        """
        _import_ray()
        address = self.config.address
        if address == "auto":
            if not (os.environ.get("RAY_ADDRESS") or os.path.exists("/tmp/ray/ray_current_cluster")):
                raise self._unreachable("no running Ray cluster was found on this machine")
        elif address != "local":
            self._probe_tcp(address)

    def _probe_tcp(self, address: str) -> None:
        """Fail fast (seconds, not Ray's minute of retries) when the named head does not answer."""
        url = urlparse(address if "://" in address else f"ray://{address}")
        try:
            with socket.create_connection((url.hostname, url.port), timeout=CONNECT_TIMEOUT_S):
                pass
        except OSError as exc:
            raise self._unreachable(f"no answer on {url.hostname}:{url.port} ({exc.strerror or exc})") from None

    def _unreachable(self, why: str) -> EngineError:
        a = self.config.address
        if a == "auto":
            fix = (f"start a cluster on this machine first (ray start --head), or name it with "
                   f"{opt('ray_address', 'HEAD:6379')} or {opt('ray_address', 'ray://HEAD:10001')}, or use "
                   f"{opt('ray_address', 'local')} for an in-process Ray.")
        else:
            port = urlparse("ray://" + a.split("://")[-1]).port
            fix = (f"start the head node there (ray start --head "
                   + (f"--ray-client-server-port {port}" if a.startswith("ray://") else f"--port {port}")
                   + f"), check the host, the port and the firewall; or use {opt('ray_address', 'local')} for an "
                   f"in-process Ray, or {opt('engine', 'local')}.")
            if a.startswith("ray://"):
                fix += (" Ray 2.60's client sends no authentication token: on a trusted network start the head and "
                        "run this command with RAY_AUTH_MODE=disabled, or run it on the head with "
                        f"{opt('ray_address', 'auto')}.")
        return EngineError(f"The Ray cluster at {opt('ray_address', a)} cannot be reached: {why}.", fix=fix)

    @staticmethod
    def _quiet(ray) -> None:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        for name in ("ray.data", "ray.data._internal", "ray"):
            logging.getLogger(name).setLevel(logging.WARNING)
        logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)   # "progress bars disabled"

    def resources(self) -> dict[str, float]:
        """The cluster's total resources (``CPU``, ``GPU``, memory...)."""
        self.connect()
        return dict(self._ray.cluster_resources())

    def _node_cpus(self) -> int:
        """CPUs of the largest alive node (what one actor or task may ask for)."""
        nodes = [n for n in self._ray.nodes() if n.get("Alive")]
        return int(max((n.get("Resources", {}).get("CPU", 0) for n in nodes), default=1)) or 1

    def _gpus_for(self, device: str) -> int:
        """GPUs the work may use: the cluster's, unless the device setting asks for the CPU."""
        return 0 if str(device).startswith("cpu") else int(self.resources().get("GPU", 0))

    def describe(self) -> str:
        r = self.resources()
        where = "in-process Ray" if self.config.address == "local" else f"Ray cluster {self.config.address}"
        return f"ray engine ({where}: {int(r.get('CPU', 0))} CPUs, {int(r.get('GPU', 0))} GPUs)"

    def close(self) -> None:
        if self._ray is not None and self._started and self._ray.is_initialized():
            self._ray.shutdown()
        self._started = False

    # -- precision --------------------------------------------------------------------------------
    def pin_precision(self, requested: str, device: str) -> str:
        """``auto`` as the workers resolve it, when that differs from this process's resolution
        (see :meth:`Engine.pin_precision`); asked once per device setting from a worker."""
        if requested != "auto":
            return requested
        key = (requested, str(device))
        if key not in self._pinned:
            from core.precision import resolve_precision
            from core.probe import resolve_device

            ray = self.connect()._ray
            task = ray.remote(_resolve_remote_precision).options(num_gpus=1 if self._gpus_for(device) else 0,
                                                                 num_cpus=1, max_retries=MAX_TASK_RETRIES)
            there = ray.get(task.remote(requested, device, worker_env()))
            try:
                here = resolve_precision(requested, resolve_device(device))
            except Exception:                 # e.g. --device cuda on a CPU-only driver
                here = None
            self._pinned[key] = requested if there == here else there
        return self._pinned[key]

    # -- embeddings -------------------------------------------------------------------------------
    def actors_for(self, n_batches: int, device: str) -> tuple[int, float, int, int]:
        """``(actors, cpus per actor, gpus per actor, torch threads per actor)`` for ``n_batches``
        missing batches: ``config.actors`` or one per GPU, else one per 4 CPUs; never more actors
        than batches; the CPUs are shared out among CPU actors (at most one node's worth each)."""
        r = self.resources()
        gpus = self._gpus_for(device)
        cpus = int(r.get("CPU", 1)) or 1
        actors = self.config.actors or (gpus if gpus else max(1, cpus // 4))
        actors = max(1, min(actors, n_batches))
        if gpus:
            return actors, 1.0, 1, 1
        per = max(1, min(cpus // actors, self._node_cpus()))
        return actors, float(per), 0, per

    def embed_missing(self, look: "CachedEmbeddings", settings: "EmbedSettings", *, store: "EmbeddingStore",
                      should_stop: Callable[[], bool] | None = None,
                      on_batch: Callable[[int, bool], None] | None = None) -> tuple[list[np.ndarray], int]:
        """The missing batches through Ray Data (see the module docstring and :meth:`Engine.embed_missing`).

        Raises:
            InterruptedError: ``should_stop`` returned True (stored batches stay).
            EngineError: an actor's probe network differs from the driver's (another model at the
                same path on some node); the embeddings are not stored.
        """
        rows: list[np.ndarray | None] = [look.found.get(k) for k in range(len(look.batches))]

        def one(_i: int, k: int, fresh: bool, vec: np.ndarray) -> None:
            rows[k] = vec
            if on_batch:
                on_batch(k, fresh)

        computed = self._embed_looks([look], settings, store=store, should_stop=should_stop, on_row=one)
        return rows, computed

    def prefetch(self, looks: Sequence["CachedEmbeddings"], settings: "EmbedSettings", *, store: "EmbeddingStore",
                 should_stop: Callable[[], bool] | None = None, progress: Progress | None = None) -> list[int]:
        """Every missing batch of several corpora in one Ray Data job (one actor pool, the probe network
        loaded once per actor for all of them); :func:`core.pipeline.embed_corpora` calls it before
        reading each corpus from the store. Returns how many embeddings were computed per look."""
        total = sum(len(look.missing) for look in looks)
        done, computed = [0], [0] * len(looks)

        def one(i: int, k: int, fresh: bool, vec: np.ndarray) -> None:
            done[0] += 1
            computed[i] += fresh
            if progress:
                progress(done[0], total, f"{looks[i].batches[k].corpus}: batch {looks[i].batches[k].index}")

        if total:
            self._embed_looks(looks, settings, store=store, should_stop=should_stop, on_row=one)
        return computed

    def _embed_looks(self, looks, settings, *, store, should_stop, on_row) -> int:
        """The rows missing from ``looks`` (re-checked in the store first) computed by one Ray Data job;
        ``on_row(look_index, row, computed, embedding)`` for each missing row as it is stored."""
        ray = self.connect()._ray
        send: list[tuple[int, int]] = []
        for i, look in enumerate(looks):
            for k in look.missing:       # another job may have filled some since the look-up
                hit = store.get(look.keys[k])
                if hit is None:
                    send.append((i, k))
                else:
                    on_row(i, k, False, hit[0]["embedding"])
        if not send:
            return 0
        first = looks[send[0][0]].batches[send[0][1]].corpus
        if should_stop and should_stop():
            raise InterruptedError(f"stopped before the first new batch of {first!r}")
        precisions = {looks[i].precision for i, _ in send}
        if len(precisions) != 1:
            raise EngineError(f"One Ray job got batches of several precisions {sorted(precisions)}.",
                              fix="embed them with one --precision.")
        items = [{"look": i, "row": k, "corpus": b.corpus, "index": b.index, "input_ids": b.input_ids,
                  "attention_mask": b.attention_mask} for i, k in send for b in (looks[i].batches[k],)]
        it = self._stream(ray, items, settings, precision=precisions.pop())
        est_fps = [look.estimator.fingerprint() for look in looks]

        def store_result(res: dict) -> int:
            fresh_now = 0
            for j in range(len(res["row"])):
                i, k = int(res["look"][j]), int(res["row"][j])
                look, b = looks[i], looks[i].batches[k]
                _check_model(res, j, look.probe.fingerprint, settings.model)
                fresh, vec = self._store_one(store, look.keys[k], np.asarray(res["embedding"][j], dtype=np.float32), {
                    "corpus": b.corpus, "batch": b.index, "seconds": float(res["seconds"][j]), "tokens": b.num_tokens,
                    "estimator": est_fps[i], "model": look.probe.name, "precision": look.precision,
                    "engine": "ray", "worker": str(res["worker"][j])})
                fresh_now += fresh
                on_row(i, k, fresh, vec)
            return fresh_now

        return self._drain(it, store_result, should_stop, lambda c: f"stopped after {c} new batches of {first!r}")

    @staticmethod
    def _drain(it: Iterator[dict], store_result: Callable[[dict], int], should_stop: Callable[[], bool] | None,
               stopped: Callable[[int], str]) -> int:
        """Store each result dict of ``it`` as it arrives (``store_result`` returns how many it computed),
        polling ``should_stop`` after each (True raises ``InterruptedError(stopped(computed))``); the
        stream is closed in every case. Returns how many were computed."""
        computed = 0
        try:
            for res in it:
                computed += store_result(res)
                if should_stop and should_stop():
                    raise InterruptedError(stopped(computed))
        finally:
            close = getattr(it, "close", None)
            if close:
                close()
        return computed

    def _stream(self, ray, items: list[dict], settings: "EmbedSettings", *, precision: str,
                per_window: bool = False) -> Iterator[dict]:
        """The :class:`ProbeActor` job over ``items`` (one per forward pass): Ray Data ``map_batches``
        (one block per item, streamed), or through Ray Client an ``ActorPool`` of the same actors;
        yields the actors' result dicts as they finish. Dead actors are restarted and their item retried."""
        actors, cpus, gpus, threads = self.actors_for(len(items), settings.device)
        kwargs = {"settings": settings.to_dict(), "precision": precision, "env": worker_env(), "threads": threads,
                  "per_window": per_window}
        if _client_mode(ray):                # Ray Client: Ray Data cannot stream to a client driver
            return _actor_pool_results(ray, items, kwargs, actors=actors, cpus=cpus, gpus=gpus)
        ds = ray.data.from_items(items, override_num_blocks=len(items))     # one block per item: streamed
        with warnings.catch_warnings():  # max_restarts/max_task_retries: "ray_remote_args" until Ray 2.64
            warnings.simplefilter("ignore", DeprecationWarning)
            out = ds.map_batches(ProbeActor, batch_size=1, batch_format="numpy", num_cpus=cpus,
                                 num_gpus=gpus or None, fn_constructor_kwargs=kwargs,
                                 compute=ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=2),
                                 max_restarts=MAX_RESTARTS, max_task_retries=MAX_RESTARTS)
        return iter(out.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=0))

    @staticmethod
    def _store_one(store, key: str, vec: np.ndarray, meta: dict) -> tuple[bool, np.ndarray]:
        """Store ``vec`` under ``key`` (with ``meta``) under the key's lock unless another job stored
        it meanwhile (then that one is kept and returned). Returns ``(stored now, embedding)``."""
        with store.lock(key):
            hit = store.get(key)
            if hit is not None:
                return False, hit[0]["embedding"]
            store.put(key, {"embedding": vec}, meta)
        return True, vec

    def embed_windows_missing(self, pool: "Pool", missing: Sequence[int], settings: "EmbedSettings", *,
                              keys: Sequence[str], probe: "ProbeNetwork", estimator: "Task2VecEstimator",
                              precision: str, store: "EmbeddingStore", should_stop: Callable[[], bool] | None = None,
                              on_rows: RowsDone | None = None) -> int:
        """The missing windows through the per-window :class:`ProbeActor` job (module docstring;
        :meth:`Engine.embed_windows_missing`): windows another job stored since the look-up are
        read, not sent; each returned window is stored under its own key as it arrives.

        Raises:
            InterruptedError: ``should_stop`` returned True (stored windows stay).
            EngineError: an actor's probe network differs from the driver's; nothing from it is stored.
        """
        ray = self.connect()._ray
        todo = []
        for i in missing:                    # another job may have filled some since the look-up
            hit = store.get(keys[i])
            if hit is None:
                todo.append(i)
            elif on_rows:
                on_rows([i], [hit[0]["embedding"]], 0)
        if not todo:
            return 0
        if should_stop and should_stop():
            raise InterruptedError("stopped before the first new window")
        bsz, seq = settings.batch.batch_size, pool.input_ids.shape[1]
        items = []
        for c, start in enumerate(range(0, len(todo), bsz)):   # the local loop's forward passes, padded to bsz
            part = todo[start:start + bsz]
            rows, ids, mask = np.full(bsz, -1, np.int64), np.zeros((bsz, seq), np.int64), np.zeros((bsz, seq), np.int64)
            rows[:len(part)], ids[:len(part)], mask[:len(part)] = part, pool.input_ids[part], pool.attention_mask[part]
            items.append({"look": 0, "row": c, "rows": rows, "input_ids": ids, "attention_mask": mask})
        it = self._stream(ray, items, settings, precision=precision, per_window=True)

        def store_result(res: dict) -> int:
            done, vecs, fresh = [], [], 0
            for j in range(len(res["row"])):
                _check_model(res, j, probe.fingerprint, settings.model)
                i, w = int(res["row"][j]), pool.windows[int(res["row"][j])]
                new, vec = self._store_one(store, keys[i], np.asarray(res["embedding"][j], dtype=np.float32), {
                    "corpus": w.corpus, "doc_id": w.doc_id, "offset": w.offset, "tokens": w.tokens,
                    "seconds": float(res["seconds"][j]), "per_sequence": True, "model": probe.name,
                    "precision": precision, "engine": "ray", "worker": str(res["worker"][j])})
                done.append(i)
                vecs.append(vec)
                fresh += new
            if on_rows:
                on_rows(done, vecs, fresh)
            return fresh

        return self._drain(it, store_result, should_stop, lambda c: f"stopped after {c} new windows")

    # -- fine-tune sweeps -------------------------------------------------------------------------
    def run_finetunes(self, requests: Sequence[RunRequest], *, progress: Progress | None = None,
                      should_stop: Callable[[], bool] | None = None,
                      log: Callable[[str], None] | None = None) -> Iterator[RunOutcome]:
        """One Ray task per run; rows recorded by the driver as the tasks end (see the module docstring)."""
        ray = self.connect()._ray
        say = log or (lambda m: None)
        if not requests:
            return
        device = getattr(requests[0].config, "device", "auto")
        gpus = 1 if self._gpus_for(device) else 0
        cpus = 1 if gpus else self._node_cpus()
        threads = None if gpus else cpus
        task = ray.remote(_finetune_task)
        env = worker_env()
        pending = {}
        for k, req in enumerate(requests):
            ref = task.options(num_cpus=cpus, num_gpus=gpus, max_retries=MAX_TASK_RETRIES,
                               name=f"finetune {req.label or req.run_id}"[:100]).remote(
                req.config.to_dict(), req.settings.to_dict() if hasattr(req.settings, "to_dict") else req.settings,
                req.run_id, req.job_id, req.experiment_id, env, threads)
            pending[ref] = k
        say(f"{len(requests)} fine-tunes sent to {self.describe()}: {gpus or cpus} {'GPU' if gpus else 'CPUs'} per run")
        n, done = len(requests), 0
        if progress:
            progress(0, n, f"0/{n} runs done on Ray")
        try:
            while pending:
                if should_stop and should_stop():
                    raise InterruptedError(f"stopped with {len(pending)} runs unfinished")
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
                for ref in ready:
                    k = pending.pop(ref)
                    req = requests[k]
                    try:
                        res = ray.get(ref)
                    except Exception as exc:     # the task's worker died more often than it may be retried
                        res = {"row": None, "error": f"Ray task failed: {str(exc).splitlines()[0]}", "worker": "?"}
                    outcome = self._record(k, req, res)
                    done += 1
                    say(f"[{done}/{n}] {req.label or req.run_id}: "
                        + (f"done on {res['worker']}" if outcome.ok else f"FAILED: {outcome.error}"))
                    if progress:
                        progress(done, n, f"{done}/{n} runs done on Ray ({req.label or req.run_id} {'done' if outcome.ok else 'failed'})")
                    yield outcome
        except BaseException:
            for ref, k in pending.items():
                ray.cancel(ref, force=True)
            self._mark_cancelled([requests[k] for k in pending.values()])
            raise

    @staticmethod
    def _record(k: int, req: RunRequest, res: dict) -> RunOutcome:
        """Write the run's row, as returned by its task, into the driver's results database."""
        from core.finetune import results

        row = res.get("row")
        columns = {c.name for c in results.Run.__table__.columns} - {"run_id"}
        if row:
            results.upsert_run(req.run_id, **{c: v for c, v in row.items() if c in columns})
        elif res.get("error"):
            results.upsert_run(req.run_id, status="failed", error=res["error"], finished=time.time(),
                               label=getattr(req.config, "label", None), target=getattr(req.config, "target", None))
        if res.get("error"):
            return RunOutcome(k, req.run_id, None, res["error"])
        return RunOutcome(k, req.run_id, results.get_run(req.run_id, reconcile_first=False))

    @staticmethod
    def _mark_cancelled(reqs: list[RunRequest]) -> None:
        from core.finetune import results

        for req in reqs:
            row = results.get_run(req.run_id, reconcile_first=False)
            if row and row.get("status") in ("queued", "running"):
                results.update_run(req.run_id, status="cancelled", error="sweep cancelled", finished=time.time())
