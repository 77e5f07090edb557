"""``python -m core.metrics``: an alias of ``python -m core metrics score`` (and ``--list`` of ``metrics list``).

    .venv/bin/python -m core.metrics --sources coq-stdlib,wikipedia --target proofnet [--metrics gzip,sbert] [--json]
    .venv/bin/python -m core.metrics --list
"""
import sys

from core.metrics.cli import main

if __name__ == "__main__":
    sys.exit(main())
