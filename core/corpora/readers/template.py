"""Rows -> text: ``field`` / ``template`` rendering and column checks (imported by the row readers).

:func:`template_fields` lives in :mod:`core.corpora.spec` (the spec validates templates) and is
re-exported here; this module imports the spec, the spec never imports it (no import circle).

A local file's field must hold text: a number, a list, a dict or bytes is refused (naming the
field and the record) instead of being turned into ``"0"`` or ``'["a", "b"]'``; a missing value
(None/null, NaN) is an empty text. A template may also format numbers (``"{n}. {statement}"``),
never lists, objects, booleans or bytes. Hugging Face datasets keep the lenient :func:`as_text`.
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterable

from core.corpora.spec import CorpusSpec, template_fields
from core.errors import CorpusError, opt

__all__ = ["as_text", "check_columns", "render", "template_fields", "text_value"]


def as_text(value: Any) -> str:
    """Turn a row value into text leniently: None/NaN -> "", str unchanged, lists/dicts -> JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, (list, dict, tuple)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def text_value(value: Any, *, field: str, where: str, numbers: bool = False) -> Any:
    """A row's value of ``field`` as text, strictly: a string, or "" for a missing value (None, NaN).

    Args:
        numbers: also accept an int or a finite float, returned as is (a template formats it
            faithfully, e.g. ``"{n}. {statement}"``); a document's whole text (``field``) is never one.

    Raises:
        CorpusError: any other type (a number unless ``numbers``, a bool, list, dict, bytes), naming
            the field, the record (``where``: file and line/row) and the type.
    """
    if _missing(value):
        return ""
    if isinstance(value, str):
        return value
    if numbers and isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return value
    kind = {bool: "a boolean", int: "a number", float: "a number", list: "a list", tuple: "a list", dict: "an object",
            bytes: "bytes", bytearray: "bytes"}.get(type(value), f"a {type(value).__name__}")
    shown = repr(value)
    raise CorpusError(f"Field {field!r} of {where} is {kind} ({shown[:60]}{'...' if len(shown) > 60 else ''}), not text.",
                      fix=f"store the text as a string in {field!r}, or pick another {opt('field')} / "
                          f"{opt('template')} column that holds text.")


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


def render(spec: CorpusSpec, row: dict[str, Any], where: str, *, strict: bool = False) -> str:
    """Build one document's text from a row with ``spec.field`` or ``spec.template``.

    Args:
        strict: the used fields must hold text (:func:`text_value`); local files are read strictly,
            Hugging Face datasets leniently (:func:`as_text`).

    Raises:
        CorpusError: the template fails on this row (bad format spec, missing key), or, with
            ``strict``, a used field does not hold text.
    """
    if spec.field is not None:
        value = row.get(spec.field)
        return text_value(value, field=spec.field, where=where) if strict else as_text(value)
    used = template_fields(spec.template, where=f"corpus {spec.name!r}")
    if strict:
        values = {k: text_value(row.get(k), field=k, where=where, numbers=True) for k in used if k in row}
    else:
        values = {k: ("" if _missing(v) else v) for k, v in row.items()}
    try:
        return spec.template.format_map(values)
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
        raise CorpusError(f"Template of corpus {spec.name!r} fails on {where}: {exc!r}.",
                          fix=f"check the template {spec.template!r} against the row's fields: "
                              f"{', '.join(row)}.") from exc
