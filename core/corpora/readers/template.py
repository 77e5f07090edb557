"""Rows -> text: ``field`` / ``template`` rendering and column checks (imported by :mod:`core.corpora.spec`
and the row readers; it imports neither, which ends their import cycle)."""
from __future__ import annotations

import json
import math
import re
import string
from typing import Any, Iterable

from typing import TYPE_CHECKING

from core.errors import CorpusError, opt

if TYPE_CHECKING:                    # spec.py imports this module to validate templates
    from core.corpora.spec import CorpusSpec


def as_text(value: Any) -> str:
    """Turn a row value into text: None/NaN -> "", str unchanged, lists/dicts -> JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def template_fields(template: str, *, where: str = "template") -> list[str]:
    """Return the column names a ``str.format`` template uses (in order, deduplicated).

    Raises:
        CorpusError: the template does not parse, uses positional fields (``{}``/``{0}``) or
            uses no field at all.
    """
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise CorpusError(f"Template of {where} does not parse: {exc} ({template!r}).",
                          fix="write fields as {column}; double literal braces as {{ and }}.") from exc
    for _, name, _, _ in parsed:
        if name is None:
            continue
        root = re.split(r"[.\[]", name, maxsplit=1)[0]
        if root == "" or root.isdigit():
            raise CorpusError(f"Template of {where} uses a positional field {{{name}}} ({template!r}).",
                              fix="name the column, e.g. {nl_statement}.")
        if root not in names:
            names.append(root)
    if not names:
        raise CorpusError(f"Template of {where} uses no column ({template!r}).",
                          fix="include at least one {column}, or use field instead.")
    return names


def check_columns(spec: CorpusSpec, columns: Iterable[str], where: str) -> None:
    """Check that ``field``/``template`` of ``spec`` exist among ``columns``.

    Raises:
        CorpusError: neither field nor template set, or a missing column; the message names the
            field, ``where`` (the file or dataset) and the available fields.
    """
    columns = list(columns)
    available = ", ".join(columns) or "(none)"
    if spec.field is None and spec.template is None:
        raise CorpusError(
            f"{where} has one document per row but corpus {spec.name!r} sets neither {opt('field')} nor "
            f"{opt('template')}. Available fields: {available}.",
            fix=f"name the text column with {opt('field', 'text')}, or combine columns with "
                f"{opt('template', '{title} {body}')}.")
    wanted = [spec.field] if spec.field is not None else template_fields(spec.template, where=f"corpus {spec.name!r}")
    missing = [w for w in wanted if w not in columns]
    if missing:
        what = "Field" if spec.field is not None else "Template field"
        raise CorpusError(
            f"{what} {', '.join(repr(m) for m in missing)} not found in {where}. "
            f"Available fields: {available}.",
            fix="use one of the available fields (names are case-sensitive).")


def render(spec: CorpusSpec, row: dict[str, Any], where: str) -> str:
    """Build one document's text from a row with ``spec.field`` or ``spec.template``.

    Raises:
        CorpusError: the template fails on this row (bad format spec, missing key).
    """
    if spec.field is not None:
        return as_text(row.get(spec.field))
    values = {k: ("" if v is None or (isinstance(v, float) and math.isnan(v)) else v) for k, v in row.items()}
    try:
        return spec.template.format_map(values)
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        raise CorpusError(f"Template of corpus {spec.name!r} fails on {where}: {exc!r}.",
                          fix=f"check the template {spec.template!r} against the row's fields: "
                              f"{', '.join(row)}.") from exc
