"""core.precision: names, detection of fast bf16 (flag and measurement), resolution, autocast."""
import pytest
import torch

from core import precision as P
from core.errors import AlignScopeError


@pytest.fixture(autouse=True)
def fresh_memo(monkeypatch):
    monkeypatch.delenv("ALIGNSCOPE_FAST_BF16", raising=False)
    P.fast_bf16.cache_clear()
    P.cpu_bf16_speedup.cache_clear()
    yield
    P.fast_bf16.cache_clear()
    P.cpu_bf16_speedup.cache_clear()


def test_unknown_precision_is_a_clear_error():
    assert [P.check_precision(p) for p in P.PRECISIONS] == list(P.PRECISIONS)
    with pytest.raises(AlignScopeError, match="--precision auto, fp32 or bf16"):
        P.check_precision("fp16")
    with pytest.raises(AlignScopeError):
        P.resolve_precision("half", "cpu")


def test_explicit_precisions_are_kept_and_auto_follows_detection(monkeypatch):
    assert P.resolve_precision("fp32", "cpu") == "fp32" and P.resolve_precision("bf16", "cpu") == "bf16"
    monkeypatch.setenv("ALIGNSCOPE_FAST_BF16", "1")
    P.fast_bf16.cache_clear()
    assert P.resolve_precision("auto", torch.device("cpu")) == "bf16"
    monkeypatch.setenv("ALIGNSCOPE_FAST_BF16", "0")
    P.fast_bf16.cache_clear()
    assert P.resolve_precision("auto", "cpu") == "fp32"


def _mkldnn_bf16() -> bool:
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


@pytest.mark.parametrize("speedup", [0.55, 2.0])
def test_cpu_detection_needs_the_flag_and_a_measured_speedup_stored_once(monkeypatch, speedup):
    calls = []

    def measure():
        calls.append(1)
        return speedup

    monkeypatch.setattr(P, "_measure_cpu_bf16_speedup", measure)
    expected = _mkldnn_bf16() and speedup >= P.MIN_CPU_SPEEDUP
    assert P.fast_bf16("cpu") is expected
    P.fast_bf16.cache_clear()
    P.cpu_bf16_speedup.cache_clear()                     # a new process: read from the disk, not measured again
    assert P.fast_bf16("cpu") is expected
    assert P.cpu_bf16_speedup() == speedup
    assert calls == ([1] if _mkldnn_bf16() else [])     # measured once, only where the flag is set
    assert P.fast_bf16("tpu") is False


def test_the_measurement_is_a_real_ratio():
    r = P._measure_cpu_bf16_speedup(rows=64, inner=64, outer=256, reps=2)
    assert 0.05 < r < 20


def test_autocast_runs_matmuls_in_bf16_only_for_bf16():
    a, b = torch.randn(4, 8), torch.randn(8, 3)
    with P.autocast("bf16", "cpu"):
        assert (a @ b).dtype == torch.bfloat16
    with P.autocast("fp32", torch.device("cpu")):
        assert (a @ b).dtype == torch.float32
