"""Job targets used by tests/core/test_jobs.py (run inside worker processes)."""
import time


def count(params, ctx):
    for i in range(params["n"]):
        if ctx.should_stop():
            raise InterruptedError(f"stopped at {i}")
        time.sleep(params.get("sleep", 0.05))
        ctx.progress(i + 1, params["n"], f"step {i + 1}")
    return {"counted": params["n"]}


def boom(params, ctx):
    raise RuntimeError("exploded on purpose")
