"""Kind ``"hf"`` corpora: HF ``datasets`` with a fast hub probe and an offline fallback."""
from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterator
from urllib.parse import urlparse

from core.corpora.readers.base import datasets_quiet, needed_columns
from core.corpora.readers.template import check_columns, render
from core.corpora.spec import CorpusSpec, Document
from core.errors import CorpusError, opt
from core.paths import cache_dir

if TYPE_CHECKING:
    import datasets


# ----------------------------------------------------------------------------------------------
# Hugging Face datasets
# ----------------------------------------------------------------------------------------------
_PROBE_CACHE: dict[tuple[str, int], tuple[float, bool]] = {}
_PROBE_TTL_S = 60.0
_PROBE_TIMEOUT_S = 3.0
_TRUE = {"1", "ON", "YES", "TRUE"}


def hf_offline_env() -> bool:
    """True when ``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` asks for offline mode."""
    return any(os.environ.get(k, "").upper() in _TRUE for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def hub_reachable() -> bool:
    """Probe the hub (``$HF_ENDPOINT`` or https://huggingface.co) with a TCP connect.

    Takes at most about 3 s (DNS included, in a daemon thread); the answer is cached 60 s.
    Downloads nothing.
    """
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    u = urlparse(endpoint)
    host = u.hostname or "huggingface.co"
    port = u.port or (80 if u.scheme == "http" else 443)
    key = (host, port)
    hit = _PROBE_CACHE.get(key)
    if hit and time.monotonic() - hit[0] < _PROBE_TTL_S:
        return hit[1]
    result = [False]

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S):
                result[0] = True
        except OSError:
            result[0] = False

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(_PROBE_TIMEOUT_S + 0.5)
    _PROBE_CACHE[key] = (time.monotonic(), bool(result[0]) and not t.is_alive())
    return _PROBE_CACHE[key][1]


def _snake(name: str) -> str:
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    name = re.sub(r"([a-z\d])([A-Z])", r"\1_\2", name)
    return name.lower()


def hf_cached(hf_id: str) -> bool:
    """True when ``hf_id`` has a prepared copy in AlignScope's ``datasets`` cache or the HF hub cache."""
    parts = hf_id.split("/")
    parts[-1] = _snake(parts[-1])
    root = cache_dir("hf_datasets") / "___".join(parts)
    if any(p.is_dir() for p in root.glob("*/*/*")):
        return True
    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"), "hub")
    return (Path(hub) / ("datasets--" + hf_id.replace("/", "--"))).is_dir()


def hf_local_path(hf_id: str) -> Path | None:
    """Return the folder when ``hf_id`` names an existing local dataset folder, else None."""
    p = Path(hf_id).expanduser()
    return p if p.exists() else None


def hf_available(spec: CorpusSpec) -> bool:
    """Whether an hf corpus can plausibly be loaded now, without downloading anything."""
    if hf_local_path(spec.hf_id) is not None or hf_cached(spec.hf_id):
        return True
    if hf_offline_env():
        return False
    return hub_reachable()


@contextlib.contextmanager
def _forced_offline() -> Iterator[None]:
    """Temporarily switch ``datasets`` and ``huggingface_hub`` to offline mode (cache only)."""
    import datasets.config as dcfg
    import huggingface_hub.constants as hcst

    saved = (dcfg.HF_HUB_OFFLINE, getattr(dcfg, "HF_DATASETS_OFFLINE", None), hcst.HF_HUB_OFFLINE)
    dcfg.HF_HUB_OFFLINE = True
    if hasattr(dcfg, "HF_DATASETS_OFFLINE"):
        dcfg.HF_DATASETS_OFFLINE = True
    hcst.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        dcfg.HF_HUB_OFFLINE = saved[0]
        if hasattr(dcfg, "HF_DATASETS_OFFLINE"):
            dcfg.HF_DATASETS_OFFLINE = saved[1]
        hcst.HF_HUB_OFFLINE = saved[2]


def _unreachable(hf_id: str, detail: str = "", *, offline: bool = False) -> CorpusError:
    why = ("offline mode is on (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE)" if offline
           else "the hub is unreachable")
    return CorpusError(
        f"Hugging Face dataset {hf_id!r} cannot be loaded: {why} and no local copy "
        f"is cached{' (' + detail + ')' if detail else ''}.",
        fix="connect to the internet once, or set HF_DATASETS_OFFLINE=1 with the dataset already "
            f"cached, or register a local copy with {opt('path')}.")


def load_hf_dataset(spec: CorpusSpec) -> datasets.Dataset:
    """Load ``spec``'s HF dataset split (a ``datasets.Dataset``) without hanging offline.

    Raises:
        CorpusError: hub unreachable and not cached, dataset or config not found, unknown split,
            or any other loading failure; the message names the dataset id.
    """
    hf_id, split = spec.hf_id, spec.split or "train"
    local = hf_local_path(hf_id) is not None
    offline = hf_offline_env()
    force_offline = False
    if not local and (offline or not hub_reachable()):
        if not hf_cached(hf_id):
            raise _unreachable(hf_id, offline=offline)
        force_offline = True  # read the cached copy; never retry the network
    try:
        with datasets_quiet() as datasets:
            with (_forced_offline() if force_offline else contextlib.nullcontext()):
                return datasets.load_dataset(str(Path(hf_id).expanduser()) if local else hf_id,
                                             spec.hf_config, split=split,
                                             cache_dir=str(cache_dir("hf_datasets")))
    except Exception as exc:  # noqa: BLE001 - mapped to a CorpusError below
        msg = f"{type(exc).__name__}: {exc}"
        if "Unknown split" in str(exc) or "split" in str(exc).lower() and "should be one of" in str(exc):
            raise CorpusError(f"Hugging Face dataset {hf_id!r} has no split {split!r} ({exc}).",
                              fix=f"set {opt('split')} to one of the dataset's splits (see the message).") from exc
        if isinstance(exc, ConnectionError) or "OfflineModeIsEnabled" in msg or "Couldn't reach" in msg:
            raise _unreachable(hf_id, str(exc)[:200], offline=offline or force_offline) from exc
        if isinstance(exc, FileNotFoundError) or "DatasetNotFound" in msg:
            raise CorpusError(f"Hugging Face dataset {hf_id!r} (config {spec.hf_config!r}) was not found: {str(exc)[:300]}",
                              fix="check the id and config on https://huggingface.co/datasets, or register a "
                                  f"local copy with {opt('path')}.") from exc
        if "Config name is missing" in str(exc) or "BuilderConfig" in str(exc):
            raise CorpusError(f"Hugging Face dataset {hf_id!r} needs a valid hf_config ({str(exc)[:300]}).",
                              fix=f"set {opt('hf_config')} to one of the configs listed in the message.") from exc
        raise CorpusError(f"Hugging Face dataset {hf_id!r} could not be loaded: {msg[:400]}",
                          fix=f"check {opt('hf_id')}, {opt('hf_config')} and {opt('split')}, or register a local copy with {opt('path')}.") from exc


def read_hf(spec: CorpusSpec) -> tuple[list[Document], list[str], str]:
    """Read a kind-``"hf"`` corpus.

    Returns:
        ``(documents, warnings, identity)`` where ``identity`` is the loaded dataset's
        fingerprint (``Dataset._fingerprint``), used in :meth:`Corpus.fingerprint`.

    Raises:
        CorpusError: see :func:`load_hf_dataset`; missing field/template column (message names
            the dataset and its columns); no non-empty document.
    """
    ds = load_hf_dataset(spec)
    split = spec.split or "train"
    where = f"Hugging Face dataset {spec.hf_id!r} split {split!r}"
    check_columns(spec, ds.column_names, where)
    cols = needed_columns(spec)
    n = len(ds)
    data = ds.select_columns(cols).to_dict()
    docs: list[Document] = []
    for i in range(n):
        text = render(spec, {c: data[c][i] for c in cols}, f"{where} row {i + 1}")
        if text.strip():
            docs.append(Document(f"{split}:{i + 1}", text))
            if spec.max_documents is not None and len(docs) >= spec.max_documents:
                break
    if not docs:
        raise CorpusError(f"{where} has no non-empty document in column(s) {', '.join(cols)}.",
                          fix=f"pick another {opt('field')} or {opt('template')}.")
    identity = json.dumps({"fingerprint": getattr(ds, "_fingerprint", None), "rows": len(ds),
                           "columns": ds.column_names})
    return docs, [], identity
