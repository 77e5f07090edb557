"""What every bench does last: stamp the load average at the end and save its JSON result atomically."""
from __future__ import annotations

import json
import os
from pathlib import Path


def save(out: dict, path: str | Path) -> int:
    """Add ``loadavg_end`` (1, 5 and 15 min, ``os.getloadavg``) to ``out``, write it as JSON to
    ``path`` (atomically: :func:`core.paths.atomic_write`), say so, and return exit code 0."""
    from core.paths import atomic_write

    out["loadavg_end"] = os.getloadavg()
    atomic_write(path, json.dumps(out, indent=1))
    print(f"saved {path}")
    return 0
