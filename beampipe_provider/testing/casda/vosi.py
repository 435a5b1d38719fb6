"""VOSI documents (tables, capabilities, availability) for any of the emulator's TAP services."""

from __future__ import annotations

from collections.abc import Mapping

AVAILABLE = (
    '<?xml version="1.0"?><vosi:availability xmlns:vosi="http://www.ivoa.net/xml/VOSIAvailability/v1.0">'
    "<vosi:available>true</vosi:available></vosi:availability>"
)


def tableset(tables: Mapping[str, Mapping[str, str]]) -> str:
    schemas: dict[str, list[str]] = {}
    for name, columns in tables.items():
        schema = name.split(".")[0]
        cols = "".join(f"<column><name>{c}</name></column>" for c in columns)
        schemas.setdefault(schema, []).append(f"<table><name>{name}</name>{cols}</table>")
    body = "".join(f"<schema><name>{s}</name>{''.join(t)}</schema>" for s, t in schemas.items())
    return (
        f'<?xml version="1.0"?><vosi:tableset xmlns:vosi="http://www.ivoa.net/xml/VOSITables/v1.0">'
        f"{body}</vosi:tableset>"
    )


def capabilities(base: str, maxrec: int) -> str:
    return (
        '<?xml version="1.0"?><vosi:capabilities xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1" '
        'xmlns:tr="http://www.ivoa.net/xml/TAPRegExt/v1.0">'
        '<capability standardID="ivo://ivoa.net/std/TAP" xsi:type="tr:TableAccess">'
        f'<interface xsi:type="vs:ParamHTTP" role="std"><accessURL use="base">{base}</accessURL></interface>'
        '<language><name>ADQL</name><version ivo-id="ivo://ivoa.net/std/ADQL#v2.0">2.0</version></language>'
        f'<outputLimit><default unit="row">{maxrec}</default>'
        f'<hard unit="row">{maxrec}</hard></outputLimit>'
        "</capability></vosi:capabilities>"
    )
