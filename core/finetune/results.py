"""The results store: every fine-tune run is a row of a SQLite database (SQLAlchemy).

Database: ``cache_dir("results")/finetune.sqlite`` (WAL journal, 30 s busy timeout, so the
dashboard, the CLI and worker processes can read and write it at the same time).

Tables:

- ``runs``: one row per run (see :class:`Run`). A row is written when the run is queued, updated
  when it starts, as each phase completes (alignment, base perplexity, familiarity, training,
  evaluation) and when it ends, so a killed worker loses nothing that was finished.
- ``perplexity_cache``: deterministic measurements (base-model perplexities, familiarity), keyed
  by a fingerprint of model weights, tokenizer and the exact token windows.

A row whose job died without reporting (SIGKILL, out-of-memory killer, machine reboot) stays
``running`` in the table; :func:`reconcile` (called by :func:`list_runs`) asks ``core.jobs`` for the
job's state and marks the row ``killed`` (or cancelled / failed) with the reason.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, Float, Integer, String, Text, create_engine, event, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from core.errors import AlignScopeError
from core.fingerprint import fingerprint
from core.paths import cache_dir

if TYPE_CHECKING:
    import pandas as pd

_ENGINES: dict[str, object] = {}
_LOCK = threading.Lock()


class Base(DeclarativeBase):
    """SQLAlchemy declarative base of the results tables."""


class Run(Base):
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
    ppl_before: Mapped[float | None] = mapped_column(Float)      # base model on the held-out split
    ppl_after: Mapped[float | None] = mapped_column(Float)       # fine-tuned model on the held-out split
    nll_before: Mapped[float | None] = mapped_column(Float)
    nll_after: Mapped[float | None] = mapped_column(Float)
    eval_tokens: Mapped[int | None] = mapped_column(Integer)
    familiarity: Mapped[float | None] = mapped_column(Float)     # base model perplexity on the training data
    train_loss_first: Mapped[float | None] = mapped_column(Float)
    train_loss_last: Mapped[float | None] = mapped_column(Float)
    train_steps: Mapped[int | None] = mapped_column(Integer)
    train_seconds: Mapped[float | None] = mapped_column(Float)
    wall_seconds: Mapped[float | None] = mapped_column(Float)
    device: Mapped[str | None] = mapped_column(String(32))
    precision: Mapped[str | None] = mapped_column(String(8))     # resolved: fp32 | bf16 (None: before it existed)
    adapter_path: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    phase: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    created: Mapped[float] = mapped_column(Float, default=time.time)
    started: Mapped[float | None] = mapped_column(Float)
    finished: Mapped[float | None] = mapped_column(Float)
    updated: Mapped[float] = mapped_column(Float, default=time.time)

    def to_dict(self) -> dict:
        """The row as a dict of its columns (JSON columns decoded)."""
        d = {c.name: getattr(self, c.name) for c in self.__table__.columns}
        for k in ("hparams", "align_settings"):
            if d.get(k):
                try:
                    d[k] = json.loads(d[k])
                except json.JSONDecodeError:
                    pass
        return d


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


def _add_missing_columns(eng) -> None:
    """Add columns introduced after a database was created (``ALTER TABLE ADD COLUMN``, NULL in old rows)."""
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
                except OperationalError as exc:     # another process added it meanwhile
                    if "duplicate column" not in str(exc):
                        raise


def _json(v):
    return v if v is None or isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)


def _write_run(run_id: str, fields: dict, *, create: bool) -> dict | None:
    for k in ("hparams", "align_settings"):
        if k in fields:
            fields[k] = _json(fields[k])
    with Session(engine()) as s, s.begin():
        row = s.get(Run, run_id)
        if row is None:
            if not create:
                return None
            row = Run(run_id=run_id, created=time.time())
            s.add(row)
        for k, v in fields.items():
            if not hasattr(Run, k):
                raise KeyError(f"runs has no column {k!r}")
            setattr(row, k, v)
        row.updated = time.time()
        s.flush()
        return row.to_dict()


def upsert_run(run_id: str, **fields) -> dict:
    """Create the row or update the given fields; returns the row as a dict.

    Raises:
        KeyError: a field that is not a column of ``runs``.
    """
    return _write_run(run_id, fields, create=True)


def update_run(run_id: str, **fields) -> None:
    """Update fields of an existing row (no-op when it does not exist).

    Raises:
        KeyError: a field that is not a column of ``runs``.
    """
    _write_run(run_id, fields, create=False)


def get_run(run_id: str, *, reconcile_first: bool = True) -> dict | None:
    """The run's row as a dict (after :func:`reconcile` of it), or None."""
    if reconcile_first:
        reconcile([run_id])
    with Session(engine()) as s:
        row = s.get(Run, run_id)
        return row.to_dict() if row else None


def delete_run(run_id: str) -> bool:
    """Delete the run's row; False when there is none."""
    with Session(engine()) as s, s.begin():
        row = s.get(Run, run_id)
        if row is None:
            return False
        s.delete(row)
        return True


def reconcile(run_ids: list[str] | None = None) -> int:
    """Bring unfinished rows in line with their job's state; returns how many rows changed.

    A ``queued``/``running`` row whose job is ``killed`` becomes ``killed`` (error: the worker
    ended without reporting); ``cancelled``/``failed`` jobs give ``cancelled``/``failed`` rows;
    a missing job folder (cache cleared) gives ``killed``; a job that finished ``done`` while the row
    is unfinished (an experiment that ended before reaching it) gives ``cancelled``.
    """
    from core.jobs import get_job

    changed = 0
    with Session(engine()) as s, s.begin():
        q = select(Run).where(Run.status.in_(("queued", "running")))
        if run_ids is not None:
            q = q.where(Run.run_id.in_(run_ids))
        for row in s.scalars(q):
            if not row.job_id:
                continue
            job = get_job(row.job_id)
            if job is None:
                row.status, row.error = "killed", f"its job {row.job_id} no longer exists (cache cleared?)"
            else:
                st = job.status()
                state = st.get("state")
                if state not in ("done", "failed", "cancelled", "killed"):
                    continue
                # the job may have updated the row a moment ago: read it again
                s.refresh(row)
                if row.status not in ("queued", "running"):
                    continue
                if state == "killed":
                    row.status = "killed"
                    row.error = ("the worker process was killed (or crashed) "
                                 + ("while running this fine-tune" if row.phase and row.started else
                                    "before this run started") + f"; job {row.job_id}")
                elif state == "cancelled":
                    row.status, row.error = "cancelled", row.error or "cancelled before it finished"
                elif state == "failed":
                    row.status, row.error = "failed", st.get("error") or "the job failed"
                else:
                    row.status, row.error = "cancelled", "its job ended before this run started"
            row.finished = row.finished or time.time()
            row.updated = time.time()
            changed += 1
    return changed


def list_runs(*, target: str | None = None, status: str | tuple | None = None, experiment_id: str | None = None,
              group_key: str | None = None, reconcile_first: bool = True) -> list[dict]:
    """Rows (newest first) filtered by target / status / experiment / group, after :func:`reconcile`."""
    if reconcile_first:
        reconcile()
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
                 "ppl_after", "tokens_trained", "train_steps", "train_loss_first", "train_loss_last",
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

    Returns rows ``{"group_key", "target", "model", "method", "budget_tokens", "epochs", "learning_rate",
    "seq_len", "done", "total", "latest", "title"}``.
    """
    out: dict[str, dict] = {}
    for r in rows:
        key = r.get("group_key") or ""
        g = out.get(key)
        hp = r.get("hparams") if isinstance(r.get("hparams"), dict) else {}
        if g is None:
            g = out[key] = {"group_key": key, "target": r.get("target"), "model": r.get("model"),
                            "method": r.get("method"), "budget_tokens": hp.get("budget_tokens"),
                            "epochs": hp.get("epochs"), "learning_rate": hp.get("learning_rate"),
                            "seq_len": hp.get("seq_len"), "done": 0, "total": 0, "latest": 0.0}
        g["total"] += 1
        g["done"] += r.get("status") == "done"
        g["latest"] = max(g["latest"], r.get("updated") or 0.0)
    for g in out.values():
        g["title"] = (f"{g['target']} · {g['model']} · {g['method']} · {g['budget_tokens']} tokens · "
                      f"{g['epochs']} ep · lr {g['learning_rate']} · seq {g['seq_len']} ({g['done']}/{g['total']} done)")
    return sorted(out.values(), key=lambda g: -g["latest"])
