"""Fixtures of the dashboard page tests (streamlit.testing AppTest): small file corpora registered in
the test's isolated cache, and query parameters selecting them with the tiny probe network."""
from __future__ import annotations

import json
import os
import time

import pytest

from core.paths import REPO_ROOT

#: Small batch settings so the tiny model embeds a corpus in well under a second.
SMALL = {"batch_size": "4", "seq_len": "32", "num_batches": "3"}


def write_corpus(folder, name: str, texts: list[str]):
    """A .jsonl file corpus (field ``text``) at ``folder/name.jsonl``; returns its path."""
    path = folder / f"{name}.jsonl"
    path.write_text("\n".join(json.dumps({"text": t}) for t in texts) + "\n")
    return path


@pytest.fixture
def small_corpora(tmp_path, maths_texts, prose_texts):
    """Three registered corpora: tgt (maths), cand-maths (maths), cand-prose (prose)."""
    from core.corpora import CorpusSpec, register_corpus

    code = [f"def f{i}(x):\n    return x * {i} + {i % 7}\n" * 3 for i in range(40)]
    specs = {"tgt": maths_texts[:40], "cand-maths": maths_texts[40:80], "cand-prose": prose_texts[:40],
             "cand-code": code}
    for name, texts in specs.items():
        register_corpus(CorpusSpec(name=name, kind="files", path=str(write_corpus(tmp_path, name, texts)),
                                   field="text", domain="custom"))
    return list(specs)


@pytest.fixture
def view_params(tiny_model_dir, small_corpora):
    """Query parameters opening the test corpora with the tiny model (what a shared link holds)."""
    return {"target": "tgt", "candidates": "cand-maths,cand-prose", "model": tiny_model_dir, **SMALL}


@pytest.fixture
def settings(tiny_model_dir):
    from core.batches import BatchConfig
    from core.pipeline import EmbedSettings

    return EmbedSettings(model=tiny_model_dir, batch=BatchConfig(batch_size=4, seq_len=32, num_batches=3))


@pytest.fixture
def app():
    """A fresh AppTest of the whole multipage app (entry point app.py)."""
    from streamlit.testing.v1 import AppTest

    def make(page: str | None = None, params: dict | None = None):
        at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=90)
        if params:
            at.query_params.update(params)
        if page:
            at.switch_page(page)
        return at

    return make


def wait_job(job_id: str, timeout: float = 120.0) -> dict:
    """Poll a background job until it reaches a final state; returns its status."""
    from core.jobs import FINAL_STATES, get_job

    deadline = time.time() + timeout
    while time.time() < deadline:
        st = get_job(job_id).status()
        if st["state"] in FINAL_STATES:
            return st
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {get_job(job_id).status()}")


def texts_of(elements) -> list[str]:
    """Element texts with Markdown backslash escapes removed (messages are escaped for display)."""
    import re

    return [re.sub(r"\\(.)", r"\1", str(e.value)) for e in elements]


os.environ.setdefault("HF_HUB_OFFLINE", "1")
