"""``python -m core.corpora.demo``: see :mod:`core.corpora.demo.cli`."""
from core.corpora.demo.cli import main

raise SystemExit(main())
