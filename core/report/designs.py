"""The lab's other designs, read from their committed results files, for the report, the lab page and
the deck slides: one :class:`DesignSection` per design (its summary lines and its figure).

The designs (Chawla et al., "Quantifying the Importance of Data Alignment in Downstream Model
Performance", and the research plan behind this tool):

- ``kinds``: paired, unpaired (AF-split), formal-only and informal-only data from one paired corpus
  (:mod:`core.designs.kinds`; summary :func:`core.designs.report.kinds_summary`);
- ``budget``: size vs alignment, budget curves per source (:mod:`core.designs.budget_curves`);
- ``pretrain``: the pre-training grid, alignment vs held-out cross-entropy
  (:mod:`core.pretrain.grid`, r^2 by :func:`core.pretrain.stats.grid_report`).

Only reads: nothing here trains or embeds. A file that is absent, or has no finished run yet, gives
no section; a file that cannot be read gives a section with its ``error`` (the page shows it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import AlignScopeError

if TYPE_CHECKING:
    import plotly.graph_objects as go

#: ``(name, title, file under docs/results/)`` of each committed design, in the order shown.
DESIGN_FILES: tuple[tuple[str, str, str], ...] = (
    ("kinds", "Data kinds: paired, unpaired, formal only, informal only", "design_kinds_cpu.json"),
    ("budget", "Size vs alignment: budget curves", "design_budget_cpu.json"),
    ("pretrain", "Pre-training grid: alignment vs cross-entropy", "pretrain_grid_cpu.json"),
)
#: The command that rebuilds each design's results file (its summary says so where it is missing).
DESIGN_COMMANDS = {"kinds": "python -m core design run kinds --source proofnet-valid --out docs/results/design_kinds_cpu.json",
                   "budget": "python -m core design run budget --out docs/results/design_budget_cpu.json",
                   "pretrain": "python -m core pretrain grid run --out docs/results/pretrain_grid_cpu.json"}


@dataclass
class DesignSection:
    """One design's results, ready to lay out.

    Attributes:
        name: ``kinds``, ``budget`` or ``pretrain`` (:data:`DESIGN_FILES`).  title: its heading.
        path: the results file.  runs: finished runs in it.
        lines: the summary as plain-text lines (CIs included; the paper's number beside ours).
        figure: the design's plotly figure, or None where it has none yet (``note`` says why).
        error: why the file could not be read (then ``lines`` and ``figure`` are empty).
    """

    name: str
    title: str
    path: Path
    runs: int = 0
    lines: list[str] = field(default_factory=list)
    figure: Any = None
    note: str = ""
    error: str = ""


def results_dir() -> Path:
    """``docs/results/`` of this checkout, where the committed results files are."""
    from core.paths import REPO_ROOT

    return REPO_ROOT / "docs" / "results"


def results_version(folder: str | Path | None = None) -> tuple:
    """``(folder, (mtime_ns, size) or None per file of DESIGN_FILES)``: a key that changes whenever a
    committed design file changes (for callers that memoise :func:`design_sections`)."""
    base = Path(folder) if folder is not None else results_dir()
    paths = [base / f for _, _, f in DESIGN_FILES]
    return (str(base), *((p.stat().st_mtime_ns, p.stat().st_size) if p.is_file() else None for p in paths))


def design_sections(folder: str | Path | None = None, *, n_boot: int = 2000) -> list[DesignSection]:
    """A :class:`DesignSection` for each design of :data:`DESIGN_FILES` whose results file in ``folder``
    (default :func:`results_dir`) holds at least one finished run, in that order.

    ``n_boot``: bootstrap resamples of the intervals (budget curves and the grid's r^2). Reads files
    only; about 1-3 s for the three committed ones (the bootstraps). Never raises on a bad file: its
    section carries ``error`` instead.
    """
    base = Path(folder) if folder is not None else results_dir()
    out = []
    for name, title, filename in DESIGN_FILES:
        path = base / filename
        if not path.is_file():
            continue
        section = DesignSection(name=name, title=title, path=path)
        try:
            _compute_section(section, n_boot=n_boot)
        except AlignScopeError as exc:
            section.error = str(exc)
        except (KeyError, TypeError, ValueError) as exc:      # a file of the right kind but the wrong layout
            section.error = f"{path.name} does not have the layout of a {name} results file ({type(exc).__name__}: {exc})."
        if section.runs or section.error:
            out.append(section)
    return out


def _compute_section(section: DesignSection, *, n_boot: int) -> None:
    if section.name == "pretrain":
        from core.pretrain import figure as pfigure, grid, stats

        res = grid.load_results(section.path)
        rep = stats.grid_report(res, n_boot=n_boot)
        section.runs = rep["n_runs"]
        if not section.runs:
            return
        section.lines = stats.report_text(rep).splitlines()
        if rep["metrics"]:
            section.figure = pfigure.grid_figure(res, rep)
        else:
            section.note = "No metric values yet (python -m core pretrain grid run --metrics-only)."
        return
    from core.designs import report

    res = report.load_results(section.path)
    if res["design"] != section.name:
        raise AlignScopeError(f"{section.path.name} holds the {res['design']!r} design, not {section.name!r}.",
                              fix=f"write it with: {DESIGN_COMMANDS[section.name]}")
    section.runs = sum(1 for r in res["runs"] if r.get("status") == "done")
    if not section.runs:
        return
    s = report.summary(res, n_boot=n_boot) if section.name == "budget" else report.summary(res)
    section.lines = report.summary_lines(s)
    section.figure = report.figure(s)


def section_figure(section: DesignSection) -> "go.Figure | None":
    """The section's figure (None where it has none): a copy, so a caller may restyle it."""
    import plotly.graph_objects as go

    return None if section.figure is None else go.Figure(section.figure)
