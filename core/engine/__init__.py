"""Execution engines: ``local`` (default, this machine) and ``ray`` (a Ray cluster).

The interface is :mod:`core.execution`; this package holds the implementations, loaded by name.
"""
from core.execution import (DEFAULT_ENGINE, ENGINES, Engine, EngineConfig, EngineError, RunOutcome, RunRequest,
                           check_address, clear_engine, current_engine, get_engine, use_engine)

__all__ = ["DEFAULT_ENGINE", "ENGINES", "Engine", "EngineConfig", "EngineError", "RunOutcome", "RunRequest",
           "check_address", "clear_engine", "current_engine", "get_engine", "use_engine"]
