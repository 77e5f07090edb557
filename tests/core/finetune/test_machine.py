"""A run's share of the machine: torch's CPU threads follow the cores other processes leave idle."""
import pytest


def test_torch_threads_follow_the_setting_or_the_idle_cores(monkeypatch):
    import torch

    from core.finetune.machine import choose_threads

    cpu = torch.device("cpu")
    assert choose_threads(cpu) == 1 and torch.get_num_threads() == 1           # ALIGNSCOPE_TORCH_THREADS=1 (conftest)
    monkeypatch.delenv("ALIGNSCOPE_TORCH_THREADS")
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    monkeypatch.setattr("core.finetune.machine.busy_elsewhere", lambda: 2.6)
    assert choose_threads(cpu) == 5
    monkeypatch.setattr("core.finetune.machine.busy_elsewhere", lambda: 30.0)
    assert choose_threads(cpu) == 1
    assert choose_threads(torch.device("cuda")) is None


class _Machine:
    """A fake machine for :func:`busy_elsewhere`: psutil's counters and ``time.sleep`` on one clock.

    Sleeping ``s`` seconds adds ``own * s`` busy CPU seconds to this process and to the machine and
    ``others * s`` to the machine only, so the expected answer is exact (the real counters tick in
    1/100 s, which made a real spinning thread read 0.033 busy cores elsewhere on CI).
    """

    def __init__(self, *, own: float, others: float):
        self.own_rate, self.others_rate = own, others
        self.own = self.others = 0.0

    def sleep(self, s: float) -> None:
        self.own += self.own_rate * s
        self.others += self.others_rate * s

    def install(self, monkeypatch) -> None:
        import types

        import psutil

        kind = type(psutil.cpu_times())
        n = len(kind._fields)

        def cpu_times():
            busy = [0.0] * n
            busy[kind._fields.index("user")] = self.own + self.others
            return kind(*busy)

        def process():
            return types.SimpleNamespace(cpu_times=lambda: types.SimpleNamespace(
                user=self.own, system=0.0, children_user=0.0, children_system=0.0))

        monkeypatch.setattr(psutil, "cpu_times", cpu_times)
        monkeypatch.setattr(psutil, "Process", process)
        monkeypatch.setattr("core.finetune.machine.time.sleep", self.sleep)


def test_busy_elsewhere_leaves_out_this_process_own_work(monkeypatch):
    """A process spinning on its own cores is not 'elsewhere': the measure must not count it (the load
    average did, so every run after the first of a worker got one thread on an idle machine)."""
    from core.finetune.machine import busy_elsewhere

    _Machine(own=2.0, others=0.0).install(monkeypatch)
    assert busy_elsewhere(window_s=0.3) == pytest.approx(0.0, abs=1e-12)         # our own 2 cores: not counted
    _Machine(own=1.0, others=1.5).install(monkeypatch)
    assert busy_elsewhere(window_s=0.5) == pytest.approx(1.5)                     # others' 1.5 cores: counted


def test_busy_elsewhere_falls_back_to_the_load_average_without_counters(monkeypatch):
    import psutil

    from core.finetune.machine import busy_elsewhere

    monkeypatch.setattr(psutil, "cpu_times", lambda: (_ for _ in ()).throw(OSError("no counters")))
    monkeypatch.setattr("os.getloadavg", lambda: (1.25, 0, 0))
    assert busy_elsewhere(window_s=0.01) == 1.25                                  # fallback: the load average
    monkeypatch.undo()                                                            # the counters are back
    monkeypatch.setattr("os.getloadavg", lambda: (9.0, 0, 0))
    _Machine(own=0.0, others=0.25).install(monkeypatch)
    assert busy_elsewhere(window_s=0.05) == pytest.approx(0.25)                   # the counters win over it


def test_busy_elsewhere_on_the_real_counters_is_a_finite_core_count():
    import math

    from core.finetune.machine import busy_elsewhere

    value = busy_elsewhere(window_s=0.05)
    assert math.isfinite(value) and value >= 0.0
