"""A fine-tune run's share of the machine: the machine-wide training slot and torch's CPU threads.

- :func:`training_slot`: only one run trains at a time on a machine (``cache/finetune/train.lock``, a
  ``filelock`` lock the OS releases if the worker dies), so a second job waits instead of halving the
  speed of both;
- :func:`choose_threads`: torch's CPU threads for a run, the cores that other processes leave idle
  (:func:`busy_elsewhere`).

Split out of :mod:`core.finetune.runner`, which takes the slot and sets the threads for each run.
"""
from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING, Callable, Iterator

from core.paths import cache_dir, file_lock

if TYPE_CHECKING:
    import torch


@contextlib.contextmanager
def training_slot(*, should_stop: Callable[[], bool] | None = None, on_wait: Callable[[], None] | None = None,
                  poll: float = 1.0) -> Iterator[None]:
    """Hold the machine-wide fine-tuning lock (one training at a time); waits, polling ``should_stop``
    every ``poll`` seconds and calling ``on_wait`` once if it has to wait.

    The lock is :func:`core.paths.file_lock` on ``cache/finetune/train.lock`` (``train-<slot>.lock`` per
    GPU under the ray engine): an OS ``flock``, released by the kernel when its holder dies; the holder's
    pid is in ``<lock>.owner`` (:func:`core.paths.lock_holder`).

    Raises:
        InterruptedError: ``should_stop()`` became true while waiting.
    """
    slot = os.environ.get("ALIGNSCOPE_TRAINING_SLOT", "")    # set per GPU by the ray engine's tasks
    path = cache_dir("finetune") / (f"train-{slot}.lock" if slot.replace("-", "").isalnum() else "train.lock")
    told = (lambda _message: on_wait()) if on_wait else (lambda _message: None)
    with file_lock(path, what="the fine-tune training slot (one training at a time)", on_wait=told,
                   should_stop=should_stop or (lambda: False), poll=poll):
        yield


def busy_elsewhere(*, window_s: float = 0.5) -> float:
    """Cores kept busy by *other* processes now: the machine's busy CPU seconds over ``window_s``
    seconds minus this process's own (and its children's), divided by ``window_s`` (psutil).

    The 1-minute load average, used before, counts this process's own previous run: after a run
    that trained on both of 2 cores it reads about 2, so every next run of an experiment or lab in the
    same worker got 1 thread on an idle machine (bench/finetune_quick.py: 1 of 2 cores for all 9 runs).
    Falls back to the load average where psutil cannot read the counters.
    """
    try:
        import psutil

        me = psutil.Process()

        def sample() -> tuple[float, float]:
            t, m = psutil.cpu_times(), me.cpu_times()
            busy = sum(t) - t.idle - getattr(t, "iowait", 0.0)
            return busy, m.user + m.system + m.children_user + m.children_system

        b0, m0 = sample()
        time.sleep(window_s)
        b1, m1 = sample()
        return max(0.0, (b1 - b0) - (m1 - m0)) / window_s
    except Exception:                     # no psutil counters here: the load average (counts this process)
        try:
            return float(os.getloadavg()[0])
        except OSError:
            return 0.0


def choose_threads(device: torch.device | str, log: Callable[[str], None] | None = None) -> int | None:
    """Set torch's CPU threads for a run and return the number (None on CUDA: nothing to do).

    ``$ALIGNSCOPE_TORCH_THREADS`` (the CLI's ``--threads``) wins. Otherwise the cores other processes
    leave idle: ``max(1, cores - round(busy_elsewhere()))`` (:func:`busy_elsewhere`). On a small shared
    machine this matters a lot: with the other core busy, two OpenMP threads wait for each other and
    one thread trains about 2.5x faster than two (measured on 2 cores: a SmolLM2-135M step of 8 x 128
    tokens took 20 s with one thread and 47 s with two at load 7).
    """
    import torch

    if getattr(device, "type", str(device)) == "cuda":
        return None
    env = os.environ.get("ALIGNSCOPE_TORCH_THREADS", "")
    cores = os.cpu_count() or 1
    if env.isdigit() and int(env) > 0:
        n = int(env)
    else:
        n = max(1, min(cores, cores - int(round(busy_elsewhere()))))
    torch.set_num_threads(n)
    if log:
        log(f"torch CPU threads: {n} of {cores} cores")
    return n
