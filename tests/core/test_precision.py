"""core.precision: names, the ``auto`` decision (flag and the measured closed_form_head step, stored
per CPU/torch/model), the ALIGNSCOPE_FAST_BF16 pin, resolution, autocast. No test asserts a timing:
the timer is replaced by given timings (bench/estimators.py measures)."""
import types

import pytest
import torch

from core import precision as P
from core.errors import AlignScopeError

pytestmark = pytest.mark.precision_sensitive


@pytest.fixture(autouse=True)
def fresh_memo(monkeypatch):
    monkeypatch.delenv("ALIGNSCOPE_FAST_BF16", raising=False)
    P.fast_bf16.cache_clear()
    P.cpu_bf16_speedup.cache_clear()
    P._DECISIONS.clear()
    yield
    P.fast_bf16.cache_clear()
    P.cpu_bf16_speedup.cache_clear()
    P._DECISIONS.clear()


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


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from core.probe import load_probe

    return load_probe(tiny_model_dir, device="cpu")


def _timer(monkeypatch, fp32, bf16, *, flag=True):
    """Replace the step timer with given timings (seconds per step); returns the list of its calls."""
    calls = []

    def time_steps(probe, batch, repeats):
        calls.append(probe.fingerprint)
        return {"fp32": list(fp32), "bf16": list(bf16)}

    monkeypatch.setattr(P, "_time_steps", time_steps)
    monkeypatch.setattr(P, "_cpu_bf16_flag", lambda: flag)
    return calls


@pytest.mark.parametrize("fp32,bf16,expected", [
    ([1.0, 1.0, 1.0], [0.8, 0.8, 0.8], "bf16"),          # exactly 1.25x: bf16
    ([1.0, 1.0, 1.0], [0.81, 0.81, 0.81], "fp32"),       # 1.23x: not enough
    ([2.0, 2.1, 9.0], [1.0, 1.0, 1.0], "bf16"),          # medians: one slow fp32 outlier changes nothing
    ([1.0, 1.0, 1.0], [0.97, 1.03, 0.99], "fp32"),       # no speed-up (the 1.03x)
    ([1.0, 1.0, 1.0], [2.0, 1.8, 1.9], "fp32")])         # bf16 slower (an Intel Xeon)
def test_auto_follows_the_measured_step_ratio(monkeypatch, tiny, fp32, bf16, expected):
    calls = _timer(monkeypatch, fp32, bf16)
    assert P.resolve_precision("auto", "cpu", probe=tiny) == expected
    d = P.auto_decision("cpu", tiny)
    assert d["precision"] == expected and d["threshold"] == P.MIN_STEP_SPEEDUP == 1.25
    m = d["measurement"]
    assert m["speedup"] == pytest.approx(sorted(fp32)[1] / sorted(bf16)[1])
    assert m["fp32_s"] == fp32 and m["bf16_s"] == bf16 and "closed_form_head" in d["reason"]
    assert d["key"]["model_fingerprint"] == tiny.fingerprint and d["key"]["torch"] == torch.__version__
    assert calls == [tiny.fingerprint]
    assert P.resolve_precision("fp32", "cpu", probe=tiny) == "fp32"       # explicit choices are never measured
    assert P.resolve_precision("bf16", "cpu", probe=tiny) == "bf16"


def test_the_decision_is_stored_once_per_model_and_cpu(monkeypatch, tiny, isolated_cache):
    calls = _timer(monkeypatch, [1.0] * 3, [0.5] * 3)
    assert P.resolve_precision("auto", "cpu", probe=tiny) == "bf16"
    assert P.resolve_precision("auto", "cpu", probe=tiny) == "bf16"      # memoised in the process
    P.auto_decision.cache_clear()                                         # a new process: read from disk
    assert P.resolve_precision("auto", "cpu", probe=tiny) == "bf16"
    assert calls == [tiny.fingerprint]
    stored = list((isolated_cache / "precision").glob("auto-*.json"))
    assert len(stored) == 1
    other = types.SimpleNamespace(tokenizer=tiny.tokenizer, fingerprint="another-model", device=tiny.device)
    calls_2 = _timer(monkeypatch, [1.0] * 3, [1.0] * 3)                   # another model: measured again
    assert P.resolve_precision("auto", "cpu", probe=other) == "fp32"
    assert calls_2 == ["another-model"]
    assert P.resolve_precision("auto", "cpu", probe=tiny) == "bf16"       # the first model's decision stays
    assert len(list((isolated_cache / "precision").glob("auto-*.json"))) == 2
    # another CPU (or torch build) is another key
    monkeypatch.setattr(P, "_cpu_identity", lambda: "Other CPU|avx512f|9.9|True")
    P._DECISIONS.clear()
    assert P.resolve_precision("auto", "cpu", probe=tiny) == "fp32" and calls_2 == ["another-model", tiny.fingerprint]


@pytest.mark.parametrize("pin,timings,expected", [("0", ([1.0], [0.1]), "fp32"), ("1", ([0.1], [1.0]), "bf16")])
def test_the_environment_pin_wins_over_the_measurement(monkeypatch, tiny, pin, timings, expected):
    calls = _timer(monkeypatch, *timings)
    monkeypatch.setenv("ALIGNSCOPE_FAST_BF16", pin)
    assert P.resolve_precision("auto", "cpu", probe=tiny) == expected
    assert P.resolve_precision("auto", "cpu") == expected and P.fast_bf16("cpu") is (expected == "bf16")
    assert calls == []                                                    # pinned: nothing timed, no model loaded


def test_without_the_bf16_flag_nothing_is_measured(monkeypatch, tiny, isolated_cache):
    calls = _timer(monkeypatch, [1.0], [0.1], flag=False)
    assert P.resolve_precision("auto", "cpu", probe=tiny) == "fp32"
    assert P.fast_bf16("cpu") is False
    assert calls == [] and not list((isolated_cache / "precision").glob("auto-*.json"))
    assert P.fast_bf16("tpu") is False


def test_fast_bf16_on_a_cpu_is_the_default_probe_networks_decision(monkeypatch):
    seen = []

    def decision(device_type="cpu", probe=None):
        seen.append((device_type, probe))
        return {"precision": "bf16"}

    monkeypatch.setattr(P, "auto_decision", decision)
    assert P.fast_bf16("cpu") is True and P.resolve_precision("auto", torch.device("cpu")) == "bf16"
    assert seen == [("cpu", None)]                                        # memoised: asked once


def test_the_timed_step_is_the_estimators_own_embed_alternated(monkeypatch, tiny):
    """The measurement runs closed_form_head.embed on a small real batch, fp32 and bf16 alternated,
    after one warm-up of each (the embedding itself is replaced here: no timing is asserted)."""
    from core.estimators.closed_form import ClosedFormHeadEstimator

    seen = []

    def embed(self, probe, batch, *, precision="fp32"):
        seen.append((precision, batch.input_ids.shape, int(batch.attention_mask.sum())))

    monkeypatch.setattr(ClosedFormHeadEstimator, "embed", embed)
    m = P.measure_step_speedup(tiny, repeats=2, batch_size=2, seq_len=16)
    assert [s[0] for s in seen] == ["fp32", "bf16"] * 3
    assert all(s[1] == (2, 16) and s[2] == 32 for s in seen) and m["tokens"] == 32
    assert len(m["fp32_s"]) == len(m["bf16_s"]) == 2 and m["repeats"] == 2
    b = P.step_batch(tiny, batch_size=2, seq_len=128)
    assert b.input_ids.dtype.name == "int64" and len(set(b.input_ids.ravel().tolist())) > 20   # real text


def test_the_measurement_is_fp32_time_over_bf16_time(monkeypatch):
    """The ratio is best-of-reps fp32 CPU time over best-of-reps bf16 CPU time, warm-up round
    excluded. A fake clock advances by a set cost per product of each dtype (the warm-up round is
    cheaper and equal for both, so counting it would give 1.0); no real timing is asserted, since the true
    ratio ranges from about 0.04 (Zen 3) to 2.4 (Zen 4) across the CPUs this suite runs on."""
    import time

    import torch

    clock = {"t": 0.0, "calls": 0}
    real_linear = torch.nn.functional.linear

    def linear(x, y):
        clock["calls"] += 1
        warm = clock["calls"] <= 6                       # round 0: 3 fp32 + 3 bf16 products
        cost = 0.3 if x.dtype == torch.float32 else 0.1  # bf16 three times faster here
        clock["t"] += 0.01 if warm else cost
        return real_linear(x, y)

    monkeypatch.setattr(torch.nn.functional, "linear", linear)
    monkeypatch.setattr(time, "process_time", lambda: clock["t"])
    r = P._measure_cpu_bf16_speedup(rows=8, inner=8, outer=16, reps=2)
    assert clock["calls"] == 3 * 2 * 3                   # (reps + 1) rounds x 2 dtypes x 3 products
    assert r == pytest.approx(3.0)


def test_the_real_measurement_is_a_finite_positive_ratio():
    import math

    r = P._measure_cpu_bf16_speedup(rows=64, inner=64, outer=256, reps=2)
    assert isinstance(r, float) and math.isfinite(r) and r > 0


def test_autocast_runs_matmuls_in_bf16_only_for_bf16():
    a, b = torch.randn(4, 8), torch.randn(8, 3)
    with P.autocast("bf16", "cpu"):
        assert (a @ b).dtype == torch.bfloat16
    with P.autocast("fp32", torch.device("cpu")):
        assert (a @ b).dtype == torch.float32
