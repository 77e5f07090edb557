"""Execution engines: ``local`` (default, this machine) and ``ray`` (a Ray cluster). See :mod:`core.engine.base`."""
from core.engine.base import (DEFAULT_ENGINE, ENGINES, Engine, EngineConfig, EngineError, RunOutcome, RunRequest,
                              check_address, clear_engine, current_engine, get_engine, use_engine)

__all__ = ["DEFAULT_ENGINE", "ENGINES", "Engine", "EngineConfig", "EngineError", "RunOutcome", "RunRequest",
           "check_address", "clear_engine", "current_engine", "get_engine", "use_engine"]
