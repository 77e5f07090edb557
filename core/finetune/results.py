"""The results store: every fine-tune run is a row of a SQLite database (SQLAlchemy), and the one
place that holds its state.

Database: ``cache_dir("results")/finetune.sqlite`` (WAL journal, 30 s busy timeout, so the
dashboard, the CLI and worker processes can read and write it at the same time).

Tables:

- ``runs``: one row per run (see :class:`Run`). A row is written when the run is queued, updated
  when it starts, as each phase completes (alignment, base perplexity, familiarity, training,
  evaluation), with its progress (percent, message, ETA) and when it ends, so a killed worker
  loses nothing that was finished.
- ``experiments``: one row per experiment preset (see :class:`Experiment`): its runs, state and
  progress.
- ``perplexity_cache``: deterministic measurements (base-model perplexities, familiarity), keyed
  by a fingerprint of model weights, tokenizer and the exact token windows.

Run state lives here only: the ``core.jobs`` folder of a ``finetune`` or ``experiment`` job holds a
pointer to its row (``{"run_id"}`` / ``{"experiment_id"}``), and ``Job.status()`` of those kinds
reads the row (:func:`core.finetune.jobs.job_status`). Each unfinished row records the process
working on it (``worker_pid``). A row whose worker died without reporting (SIGKILL, out-of-memory
killer, machine reboot) is marked ``killed`` by :func:`mark_dead_workers` (called by
:func:`get_run`, :func:`list_runs` and :func:`get_experiment`), from the table alone.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from sqlalchemy import Boolean, Engine, Float, Integer, String, Text, create_engine, event, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from core.errors import AlignScopeError
from core.fingerprint import fingerprint
from core.paths import cache_dir

if TYPE_CHECKING:
    import pandas as pd

_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()


class Base(DeclarativeBase):
    """SQLAlchemy declarative base of the results tables."""


#: The states of a run or experiment (``core.jobs`` uses the same words for a job).
UNFINISHED = ("queued", "running")


class _State:
    """Columns of the state of a run or experiment (a mixin: each table gets its own copies).

    ``status``: ``queued``, ``running``, ``done``, ``failed``, ``cancelled`` or ``killed``;
    ``progress``: percent done (0-100) with ``message`` and ``eta_s`` (seconds left, extrapolated);
    ``worker_pid``: the process working on it (or that will), to detect a dead worker.
    """

    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    message: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[float | None] = mapped_column(Float)
    eta_s: Mapped[float | None] = mapped_column(Float)
    worker_pid: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    started: Mapped[float | None] = mapped_column(Float)
    finished: Mapped[float | None] = mapped_column(Float)
    updated: Mapped[float] = mapped_column(Float, default=time.time)

    def to_dict(self) -> dict:
        """The row as a dict of its columns (JSON columns decoded)."""
        d = {c.name: getattr(self, c.name) for c in self.__table__.columns}
        for k in _JSON_COLUMNS:
            if d.get(k):
                try:
                    d[k] = json.loads(d[k])
                except json.JSONDecodeError:
                    pass
        return d


_JSON_COLUMNS = ("hparams", "align_settings", "run_ids", "packed_documents", "outcomes", "eval_documents")


class Run(_State, Base):
    """One fine-tune run.

    Identity: ``run_id`` is the fingerprint of the run's configuration and alignment settings (the
    same as the id of the ``finetune`` job that runs it alone); ``job_id`` is the job actually
    running it (that job, or an ``experiment`` job), ``experiment_id`` the experiment it belongs to.
    ``group_key`` is equal for runs that share target and hyperparameters (points of one plot).
    """

    __tablename__ = "runs"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[str | None] = mapped_column(String(64), index=True)
    experiment_id: Mapped[str | None] = mapped_column(String(64), index=True)
    group_key: Mapped[str | None] = mapped_column(Text, index=True)
    label: Mapped[str] = mapped_column(String(200))           # source name or "mixture:NAME"
    source: Mapped[str | None] = mapped_column(String(200))
    mixture: Mapped[str | None] = mapped_column(String(200))
    target: Mapped[str] = mapped_column(String(200), index=True)
    eval_corpus: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(500))
    method: Mapped[str] = mapped_column(String(16))
    alignment: Mapped[float | None] = mapped_column(Float)
    align_ci_low: Mapped[float | None] = mapped_column(Float)
    align_ci_high: Mapped[float | None] = mapped_column(Float)
    align_settings: Mapped[str | None] = mapped_column(Text)  # JSON EmbedSettings.to_dict()
    budget_tokens: Mapped[int | None] = mapped_column(Integer)
    tokens_trained: Mapped[int | None] = mapped_column(Integer)  # unique training tokens
    tokens_seen: Mapped[int | None] = mapped_column(Integer)     # tokens x epochs
    documents_used: Mapped[int | None] = mapped_column(Integer)
    hparams: Mapped[str | None] = mapped_column(Text)            # JSON FinetuneConfig.to_dict()
    train_data_fp: Mapped[str | None] = mapped_column(String(64))  # sha256 of the packed training ids (None: before issue 20)
    eval_fp: Mapped[str | None] = mapped_column(String(64))        # sha256 of the evaluation windows
    packed_documents: Mapped[str | None] = mapped_column(Text)     # JSON [[source, doc_id, tokens], ...]
    ppl_before: Mapped[float | None] = mapped_column(Float)      # base model on the held-out split
    ppl_after: Mapped[float | None] = mapped_column(Float)       # fine-tuned model on the held-out split
    nll_before: Mapped[float | None] = mapped_column(Float)
    nll_after: Mapped[float | None] = mapped_column(Float)
    eval_tokens: Mapped[int | None] = mapped_column(Integer)
    quick: Mapped[bool | None] = mapped_column(Boolean)          # evaluated on a seeded subsample (finetune --quick)
    eval_documents: Mapped[str | None] = mapped_column(Text)     # JSON [doc_id, ...] of a quick run's subsample
    ppl_ci_low: Mapped[float | None] = mapped_column(Float)      # 95% bootstrap CI of ppl_after over documents (quick)
    ppl_ci_high: Mapped[float | None] = mapped_column(Float)
    familiarity: Mapped[float | None] = mapped_column(Float)     # base model perplexity on the training data
    outcomes: Mapped[str | None] = mapped_column(Text)           # JSON {name: {value, ci_low, ci_high, before, ...}} (config.outcomes)
    train_loss_first: Mapped[float | None] = mapped_column(Float)
    train_loss_last: Mapped[float | None] = mapped_column(Float)
    train_steps: Mapped[int | None] = mapped_column(Integer)
    train_seconds: Mapped[float | None] = mapped_column(Float)
    wall_seconds: Mapped[float | None] = mapped_column(Float)
    device: Mapped[str | None] = mapped_column(String(32))
    precision: Mapped[str | None] = mapped_column(String(8))     # resolved: fp32 | bf16 (None: before it existed)
    adapter_path: Mapped[str | None] = mapped_column(Text)
    phase: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    created: Mapped[float] = mapped_column(Float, default=time.time)


class Experiment(_State, Base):
    """One experiment preset (``experiment_id`` = the id of its ``experiment`` job): its runs in order
    (``run_ids``, JSON) and its own state; ``progress`` counts over all its runs."""

    __tablename__ = "experiments"

    experiment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    target: Mapped[str | None] = mapped_column(String(200))
    run_ids: Mapped[str | None] = mapped_column(Text)
    created: Mapped[float] = mapped_column(Float, default=time.time)


class CachedValue(Base):
    """A cached deterministic measurement (``perplexity_cache``): key fingerprint -> JSON value."""

    __tablename__ = "perplexity_cache"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created: Mapped[float] = mapped_column(Float, default=time.time)


def db_path() -> Path:
    """Path of the SQLite file (under the current cache root)."""
    return cache_dir("results") / "finetune.sqlite"


def engine() -> Engine:
    """The SQLAlchemy engine of :func:`db_path` (one per path per process; tables created on first use)."""
    path = str(db_path())
    with _LOCK:
        eng = _ENGINES.get(path)
        if eng is None:
            eng = create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})

            @event.listens_for(eng, "connect")
            def _pragmas(conn, _record):
                cur = conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()

            try:
                Base.metadata.create_all(eng)
                _add_missing_columns(eng)
            except DBAPIError as exc:          # not a database (garbage file), unreadable, locked...
                eng.dispose()
                raise AlignScopeError(f"The results database {path} cannot be opened "
                                      f"({getattr(exc, 'orig', None) or exc}).",
                                      fix=f"move it aside (mv {path} {path}.broken); a new, empty one is made on "
                                          "the next run (finished runs in the old file are not read).") from None
            _ENGINES[path] = eng
    return eng


def _add_missing_columns(eng: Engine) -> None:
    """Add columns introduced after a database was created (``ALTER TABLE ADD COLUMN``, NULL in old rows).

    When ``runs`` gains ``worker_pid`` (run state moved into this database), its unfinished rows
    were tracked by job folders that no longer say anything about runs: they are marked ``killed``.
    """
    from sqlalchemy import inspect, text
    from sqlalchemy.exc import OperationalError

    for table in Base.metadata.sorted_tables:
        have = {col["name"] for col in inspect(eng).get_columns(table.name)}
        for col in table.columns:
            if col.name not in have:
                try:
                    with eng.begin() as conn:
                        conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{col.name}" '
                                          f'{col.type.compile(eng.dialect)}'))
                        if table.name == "runs" and col.name == "worker_pid":
                            conn.execute(text("UPDATE runs SET status = 'killed', finished = :now, error = :why "
                                              "WHERE status IN ('queued', 'running')"),
                                         {"now": time.time(), "why": "its worker predates run tracking in the "
                                                                     "results database; submit it again"})
                except OperationalError as exc:     # another process added it meanwhile
                    if "duplicate column" not in str(exc):
                        raise


def _json(v: object) -> str | None:
    return v if v is None or isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)


def _write(table: type[_State], key: str, fields: dict, *, create: bool) -> dict | None:
    for k in _JSON_COLUMNS:
        if k in fields:
            fields[k] = _json(fields[k])
    with Session(engine()) as s, s.begin():
        row = s.get(table, key)
        if row is None:
            if not create:
                return None
            row = table(**{table.__mapper__.primary_key[0].name: key}, created=time.time())
            s.add(row)
        for k, v in fields.items():
            if not hasattr(table, k):
                raise KeyError(f"{table.__tablename__} has no column {k!r}")
            setattr(row, k, v)
        row.updated = time.time()
        s.flush()
        return row.to_dict()


def upsert_run(run_id: str, **fields: object) -> dict:
    """Create the row or update the given fields; returns the row as a dict.

    Raises:
        KeyError: a field that is not a column of ``runs``.
    """
    return _write(Run, run_id, fields, create=True)


def update_run(run_id: str, **fields: object) -> None:
    """Update fields of an existing row (no-op when it does not exist).

    Raises:
        KeyError: a field that is not a column of ``runs``.
    """
    _write(Run, run_id, fields, create=False)


def get_run(run_id: str, *, reconcile_first: bool = True) -> dict | None:
    """The run's row as a dict, or None (``reconcile_first``: :func:`mark_dead_workers` of it first)."""
    if reconcile_first:
        mark_dead_workers([run_id])
    return _read(Run, run_id)


def _read(table: type[_State], key: str) -> dict | None:
    with Session(engine()) as s:
        row = s.get(table, key)
        return row.to_dict() if row else None


def delete_run(run_id: str) -> bool:
    """Delete the run's row; False when there is none."""
    with Session(engine()) as s, s.begin():
        row = s.get(Run, run_id)
        if row is None:
            return False
        s.delete(row)
        return True


def save_experiment(experiment_id: str, **fields: object) -> dict:
    """Create the experiment's row, or update the given fields of it (``run_ids``: a list of run ids);
    returns the row. Raises KeyError for a field that is not a column of ``experiments``."""
    return _write(Experiment, experiment_id, fields, create=True)


def get_experiment(experiment_id: str) -> dict | None:
    """The experiment's row (``run_ids`` decoded to a list) after :func:`mark_dead_workers`, or None."""
    mark_dead_workers(experiment_ids=[experiment_id])
    return _read(Experiment, experiment_id)


#: A queued row that no process took after this many seconds (its submitter ended before starting
#: a worker) is marked killed.
ORPHAN_AFTER_S = 120.0


def mark_dead_workers(run_ids: list[str] | None = None, *, experiment_ids: list[str] | None = None) -> int:
    """Mark ``killed`` the unfinished rows whose worker process is gone; returns how many changed.

    A ``queued``/``running`` row (of ``runs``, and of ``experiments``) whose ``worker_pid`` is no
    longer alive (:func:`core.jobs.pid_alive`) becomes ``killed`` with the reason (``while running
    this fine-tune`` when it had started, else ``before this run started``); a ``queued`` row with
    no worker for :data:`ORPHAN_AFTER_S` seconds too. ``run_ids``/``experiment_ids`` limit the check
    (None: every unfinished row of that table; with only ``experiment_ids`` given, no runs).
    """
    from core.jobs import pid_alive

    if run_ids is None and experiment_ids is None:
        checks = ((Run, None), (Experiment, None))
    else:
        checks = tuple((t, ids) for t, ids in ((Run, run_ids), (Experiment, experiment_ids)) if ids is not None)
    changed, now = 0, time.time()
    with Session(engine()) as s, s.begin():
        for table, ids in checks:
            q = select(table).where(table.status.in_(UNFINISHED))
            if ids is not None:
                q = q.where(table.__mapper__.primary_key[0].in_(ids))
            for row in s.scalars(q):
                if row.worker_pid is None:
                    if row.status != "queued" or now - row.updated <= ORPHAN_AFTER_S:
                        continue
                    row.error = "no worker took it (its submitter ended before starting one)"
                elif pid_alive(row.worker_pid):
                    continue
                else:
                    s.refresh(row)                # it may have finished a moment ago
                    if row.status not in UNFINISHED:
                        continue
                    what = "this fine-tune" if table is Run else "this experiment"
                    row.error = ("the worker process was killed (or crashed) "
                                 + (f"while running {what}" if row.started and row.status == "running"
                                    else "before this run started") + f"; pid {row.worker_pid}")
                row.status, row.finished, row.updated = "killed", row.finished or now, now
                changed += 1
    return changed


def progress_recorder(run_id: str | None = None, *, experiment_id: str | None = None, every: float = 0.5,
                      started: float | None = None) -> Callable[[int, int, str], None]:
    """A ``progress(done, total, message)`` callback that records the progress of a run (or experiment)
    in its row: ``progress`` (percent), ``message`` and ``eta_s`` (seconds, extrapolated linearly
    from ``started``, default now). Writes at most every ``every`` seconds, and always at the end.
    """
    table, key = (Run, run_id) if run_id is not None else (Experiment, experiment_id)
    t0 = started or time.time()
    last = [0.0]

    def record(done: int, total: int, message: str = "") -> None:
        now = time.time()
        if now - last[0] < every and done < total:
            return
        last[0] = now
        eta = (now - t0) / done * (total - done) if done and total else None
        _write(table, key, {"progress": 100.0 * done / total if total else 0.0, "message": message, "eta_s": eta},
               create=False)

    return record


def list_runs(*, target: str | None = None, status: str | tuple | None = None, experiment_id: str | None = None,
              group_key: str | None = None, reconcile_first: bool = True) -> list[dict]:
    """Rows (newest first) filtered by target / status / experiment / group (``reconcile_first``:
    :func:`mark_dead_workers` first)."""
    if reconcile_first:
        mark_dead_workers()
    with Session(engine()) as s:
        q = select(Run)
        if target:
            q = q.where(Run.target == target)
        if status:
            q = q.where(Run.status.in_((status,) if isinstance(status, str) else tuple(status)))
        if experiment_id:
            q = q.where(Run.experiment_id == experiment_id)
        if group_key:
            q = q.where(Run.group_key == group_key)
        return [r.to_dict() for r in s.scalars(q.order_by(Run.created.desc()))]


def cache_get(key: dict) -> dict | None:
    """A cached measurement (``key`` is any JSON-able dict), or None."""
    with Session(engine()) as s:
        row = s.get(CachedValue, fingerprint(key))
        return json.loads(row.value) if row else None


def cache_put(key: dict, value: dict) -> None:
    """Store a measurement under ``key`` (any JSON-able dict), replacing an older one."""
    with Session(engine()) as s, s.begin():
        k = fingerprint(key)
        row = s.get(CachedValue, k)
        if row is None:
            s.add(CachedValue(key=k, value=json.dumps(value), created=time.time()))
        else:
            row.value = json.dumps(value)


TABLE_COLUMNS = ("label", "status", "alignment", "align_ci_low", "align_ci_high", "familiarity", "ppl_before",
                 "ppl_after", "ppl_ci_low", "ppl_ci_high", "quick", "tokens_trained", "train_steps", "train_loss_first", "train_loss_last",
                 "wall_seconds", "model", "method", "target", "notes", "error", "run_id", "experiment_id")


def to_frame(rows: list[dict]) -> pd.DataFrame:
    """A pandas DataFrame of rows with the most useful columns first (hyperparameters as JSON)."""
    import pandas as pd

    if not rows:
        return pd.DataFrame(columns=list(TABLE_COLUMNS))
    df = pd.DataFrame(rows)
    df["hparams"] = df["hparams"].map(lambda v: json.dumps(v, sort_keys=True) if isinstance(v, dict) else v)
    df["align_settings"] = df["align_settings"].map(lambda v: json.dumps(v, sort_keys=True) if isinstance(v, dict) else v)
    first = [c for c in TABLE_COLUMNS if c in df.columns]
    return df[first + [c for c in df.columns if c not in first]]


def groups(rows: list[dict]) -> list[dict]:
    """Comparable sets of runs (same target and hyperparameters), most recently updated first.

    Returns rows ``{"group_key", "target", "model", "method", "quick", "budget_tokens", "epochs",
    "learning_rate", "seq_len", "done", "total", "latest", "title"}``; ``quick``: a group of quick runs
    (evaluated on the held-out subsample, ``finetune --quick``), titled "quick · ...".
    """
    out: dict[str, dict] = {}
    for r in rows:
        key = r.get("group_key") or ""
        g = out.get(key)
        hp = r.get("hparams") if isinstance(r.get("hparams"), dict) else {}
        if g is None:
            g = out[key] = {"group_key": key, "target": r.get("target"), "model": r.get("model"),
                            "method": r.get("method"), "quick": bool(hp.get("eval_subsample_tokens")),
                            "budget_tokens": hp.get("budget_tokens"),
                            "epochs": hp.get("epochs"), "learning_rate": hp.get("learning_rate"),
                            "seq_len": hp.get("seq_len"), "done": 0, "total": 0, "latest": 0.0}
        g["total"] += 1
        g["done"] += r.get("status") == "done"
        g["latest"] = max(g["latest"], r.get("updated") or 0.0)
    for g in out.values():
        g["title"] = (("quick · " if g["quick"] else "") + f"{g['target']} · {g['model']} · {g['method']} · {g['budget_tokens']} tokens · "
                      f"{g['epochs']} ep · lr {g['learning_rate']} · seq {g['seq_len']} ({g['done']}/{g['total']} done)")
    return sorted(out.values(), key=lambda g: -g["latest"])
