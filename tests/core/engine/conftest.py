"""Fixtures of the execution-engine tests: one in-process Ray (2 CPUs, no dashboard) for the whole test
session, the engine chosen per test and forgotten afterwards, tiny fine-tune settings."""
from __future__ import annotations

import logging

import pytest


@pytest.fixture(scope="session")
def ray_cluster():
    """An in-process Ray started once per test session: 2 CPUs, dashboard off."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(autouse=True)
def engine_reset(monkeypatch):
    """Each test starts on the default engine and leaves no engine setting behind (in the process or
    the environment, which the CLI's --engine writes for child processes)."""
    from core.engine import clear_engine

    for var in ("ALIGNSCOPE_ENGINE", "ALIGNSCOPE_RAY_ADDRESS", "ALIGNSCOPE_RAY_ACTORS"):
        monkeypatch.setenv(var, "")
    clear_engine()
    yield
    clear_engine()


@pytest.fixture
def ray_engine(ray_cluster):
    """Make the Ray engine (on the session's cluster) this process's engine; returns a factory
    ``use(actors=None)``."""
    from core.engine import EngineConfig, use_engine

    def use(actors: int | None = None):
        return use_engine(EngineConfig("ray", "local", actors=actors), export=False)
    return use


@pytest.fixture
def tiny_settings(tiny_settings):
    """tests/conftest.py's tiny settings with 4 batches (the engines split them over workers)."""
    from dataclasses import replace

    return replace(tiny_settings, batch=replace(tiny_settings.batch, num_batches=4))
