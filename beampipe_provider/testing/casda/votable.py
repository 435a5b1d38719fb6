"""VOTable documents as CASDA's TAP service writes them (TABLEDATA, QUERY_STATUS INFOs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from beampipe_provider.testing.casda.catalogue import TIMESTAMP_COLUMNS

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">\n'
    '<RESOURCE type="results">\n'
)


def _field(name: str, sample: Any) -> str:
    if isinstance(sample, bool):
        kind = 'datatype="boolean"'
    elif isinstance(sample, int):
        kind = 'datatype="long"'
    elif isinstance(sample, float):
        kind = 'datatype="double"'
    else:
        kind = 'datatype="char" arraysize="*"'
        if name in TIMESTAMP_COLUMNS:
            kind += ' xtype="timestamp"'
    return f"<FIELD name={quoteattr(name)} {kind}/>\n"


def _cell(value: Any) -> str:
    return "<TD/>" if value is None else f"<TD>{escape(str(value))}</TD>"


def results(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, overflow: bool) -> str:
    samples = [next((row[i] for row in rows if row[i] is not None), None) for i in range(len(columns))]
    parts = [HEAD, '<INFO name="QUERY_STATUS" value="OK"/>\n<TABLE>\n']
    parts += [_field(name, sample) for name, sample in zip(columns, samples, strict=True)]
    parts.append("<DATA><TABLEDATA>\n")
    parts += ["<TR>" + "".join(_cell(v) for v in row) + "</TR>\n" for row in rows]
    parts.append("</TABLEDATA></DATA>\n</TABLE>\n")
    if overflow:  # TAP 1.1: a trailing INFO says the result was truncated at MAXREC
        parts.append('<INFO name="QUERY_STATUS" value="OVERFLOW"/>\n')
    parts.append("</RESOURCE>\n</VOTABLE>\n")
    return "".join(parts)


def error(message: str) -> str:
    return HEAD + f'<INFO name="QUERY_STATUS" value="ERROR">{escape(message)}</INFO>\n</RESOURCE>\n</VOTABLE>\n'
