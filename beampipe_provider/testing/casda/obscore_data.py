"""The ObsCore mount's archive: a plain IVOA ObsCore table (no CASDA tables), DataLink documents, SODA async jobs.

Products are delivered three ways, so clients meet each: `direct` (a DataLink `#this` row with the file's URL),
`soda` (a `#this` row pointing at a SODA async service descriptor) and `plain` (access_url is the file itself).
Files carry an RFC 9530 `Repr-Digest: sha-256=:...:` header unless added with `digest: false`. A product's URLs may
name `localhost` instead of 127.0.0.1 (the same server): a foreign host, as far as a client can tell.
"""

from __future__ import annotations

import base64
import hashlib
import math
import random
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

from beampipe_provider.testing.casda import votable
from beampipe_provider.testing.casda.catalogue import Catalogue, iso
from beampipe_provider.testing.casda.data_access import DataAccess, content

OBSCORE = "/obscore"
AUTHORITY = "ivo://beampipe.test/obscore"
DATALINK_TYPE = "application/x-votable+xml;content=datalink"
SODA_ASYNC_ID = "ivo://ivoa.net/std/SODA#async-1.0"
MJD_EPOCH = datetime(1858, 11, 17, tzinfo=UTC)
# Any name a hostile archive might serve (quotes, `$(...)`, spaces ...), but one path segment of the ID's query.
_NAME = re.compile(r"[^/?#\x00-\x1f\x7f]{1,200}")
_HOSTS = frozenset({"127.0.0.1", "localhost"})
DELIVERIES = frozenset({"direct", "soda", "plain"})

# ObsCore 1.1's mandatory columns (t_min, t_max in MJD; em_* in metres; access_estsize in kB).
OBSCORE_TABLES: dict[str, dict[str, str]] = {
    "ivoa.obscore": {
        "dataproduct_type": "TEXT",
        "calib_level": "INTEGER",
        "obs_collection": "TEXT",
        "obs_id": "TEXT",
        "obs_publisher_did": "TEXT",
        "access_url": "TEXT",
        "access_format": "TEXT",
        "access_estsize": "INTEGER",
        "target_name": "TEXT",
        "s_ra": "REAL",
        "s_dec": "REAL",
        "s_fov": "REAL",
        "s_region": "TEXT",
        "s_resolution": "REAL",
        "t_min": "REAL",
        "t_max": "REAL",
        "t_exptime": "REAL",
        "t_resolution": "REAL",
        "em_min": "REAL",
        "em_max": "REAL",
        "em_res_power": "REAL",
        "o_ucd": "TEXT",
        "pol_states": "TEXT",
        "facility_name": "TEXT",
        "instrument_name": "TEXT",
        "obs_release_date": "TEXT",
    }
}


@dataclass(frozen=True)
class Product:
    did: str
    name: str
    delivery: str
    digest: bool
    host: str


def mjd(when: datetime) -> float:
    return (when.astimezone(UTC) - MJD_EPOCH).total_seconds() / 86400.0


def repr_digest(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


@dataclass
class ObscoreService:
    base_url: str  # http://127.0.0.1:PORT/obscore
    port: int
    catalogue: Catalogue = field(default_factory=lambda: Catalogue(OBSCORE_TABLES))
    products: dict[str, Product] = field(default_factory=dict)
    jobs: DataAccess = field(default_factory=DataAccess)
    auth_log: list[dict[str, Any]] = field(default_factory=list)  # requests that carried credentials, and those not
    tap_jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        seed(self)

    def url(self, host: str, path: str) -> str:
        return f"http://{host}:{self.port}{OBSCORE}{path}"

    def log(self, host: str, path: str, *, credentials: bool) -> None:
        with self._lock:
            self.auth_log.append({"host": host.rsplit(":", 1)[0], "path": path, "credentials": credentials})

    def add(self, spec: dict[str, Any]) -> Product:
        """POST /_emulator/obscore/product {"name", "obs_id", "when", "collection"?, "dataproduct_type"?, "target"?,
        "delivery"?: direct|soda|plain, "digest"?: bool, "host"?: 127.0.0.1|localhost, "observed"?: ISO}."""
        name, host, delivery = (
            str(spec["name"]),
            str(spec.get("host", "127.0.0.1")),
            str(spec.get("delivery", "direct")),
        )
        if not _NAME.fullmatch(name) or host not in _HOSTS or delivery not in DELIVERIES:
            raise ValueError(f"refused product spec {spec!r}")
        when = datetime.fromisoformat(str(spec["when"])).astimezone(UTC)
        observed = datetime.fromisoformat(str(spec["observed"])) if spec.get("observed") else when - timedelta(days=30)
        product = Product(f"{AUTHORITY}?{name}", name, delivery, bool(spec.get("digest", True)), host)
        with self._lock:
            if product.did in self.products:
                raise ValueError(f"product {product.did} exists")
            self.products[product.did] = product
        self.catalogue.insert("ivoa.obscore", [self._row(product, spec, when, observed)])
        return product

    def _row(self, product: Product, spec: dict[str, Any], when: datetime, observed: datetime) -> dict[str, Any]:
        rng = random.Random(product.name)  # noqa: S311 (repeatable sky positions, not security)
        ra, dec = round(rng.uniform(150, 210), 5), round(rng.uniform(-45, 8), 5)
        plain = product.delivery == "plain"
        return {
            "dataproduct_type": spec.get("dataproduct_type", "visibility"),
            "calib_level": 2,
            "obs_collection": spec.get("collection", "MeerKAT-HI"),
            "obs_id": str(spec["obs_id"]),
            "obs_publisher_did": product.did,
            "access_url": self.file_url(product) if plain else self.datalink_url(product),
            "access_format": "application/x-tar" if plain else DATALINK_TYPE,
            "access_estsize": math.ceil(len(content(product.did)) / 1024),
            "target_name": spec.get("target", product.name.split("_")[0]),
            "s_ra": ra,
            "s_dec": dec,
            "s_fov": 1.0,
            "s_region": f"CIRCLE ICRS {ra} {dec} 0.5",
            "t_min": mjd(observed - timedelta(hours=8)),
            "t_max": mjd(observed),
            "t_exptime": 28_800.0,
            "em_min": 0.2,
            "em_max": 0.25,
            "o_ucd": "phot.flux.density;em.radio",
            "pol_states": "/XX/YY/",
            "facility_name": "MeerKAT",
            "instrument_name": "L-band receiver",
            "obs_release_date": iso(when),
        }

    def datalink_url(self, product: Product) -> str:
        return self.url(product.host, f"/datalink?ID={quote(product.did, safe='')}")

    def file_url(self, product: Product) -> str:
        return self.url(product.host, f"/files/{quote(product.name, safe='')}")

    def by_name(self, name: str) -> Product | None:
        return next((p for p in self.products.values() if p.name == name), None)

    def datalink(self, did: str) -> str:
        """The DataLink document of one product: `#this` (direct or via SODA) and a `#preview` that clients skip."""
        product = self.products.get(did)
        if product is None:
            return _links([(did, "", "", f"NotFoundFault: {did}", "#this", "", "")], "")
        size = str(len(content(did)))
        preview = (
            did,
            self.url(product.host, f"/files/{quote(product.name, safe='')}.png"),
            "",
            "",
            "#preview",
            "image/png",
            "",
        )
        if product.delivery == "soda":
            soda = self.url(product.host, "/soda/async")
            return _links([(did, "", "soda-async", "", "#this", "application/x-tar", ""), preview], _descriptor(soda))
        return _links([(did, self.file_url(product), "", "", "#this", "application/x-tar", size), preview], "")

    def file(self, name: str) -> tuple[bytes, dict[str, str]] | None:
        product = self.by_name(name)
        if product is None:
            return None
        data = content(product.did)
        return data, ({"Repr-Digest": repr_digest(data)} if product.digest else {})


def _links(rows: list[tuple[str, ...]], descriptors: str) -> str:
    columns = ("ID", "access_url", "service_def", "error_message", "semantics", "content_type", "content_length")
    # The ID column has a FIELD ID too: the SODA descriptor's input parameter refers to it.
    fields = "".join(
        f'<FIELD name="{c}" datatype="long"/>'
        if c == "content_length"
        else f'<FIELD name="{c}"{_ident(c)} datatype="char" arraysize="*"/>'
        for c in columns
    )
    body = "".join("<TR>" + "".join(f"<TD>{escape(v)}</TD>" if v else "<TD/>" for v in row) + "</TR>" for row in rows)
    return (
        votable.HEAD + f'<INFO name="standardID" value="ivo://ivoa.net/std/DataLink#links-1.1"/><TABLE>{fields}'
        f"<DATA><TABLEDATA>{body}</TABLEDATA></DATA></TABLE></RESOURCE>{descriptors}</VOTABLE>\n"
    )


def _ident(column: str) -> str:
    return ' ID="dl_id"' if column == "ID" else ""


def _descriptor(access_url: str) -> str:
    return (
        '<RESOURCE type="meta" utype="adhoc:service" ID="soda-async">'
        f'<PARAM name="standardID" datatype="char" arraysize="*" value="{SODA_ASYNC_ID}"/>'
        f'<PARAM name="accessURL" datatype="char" arraysize="*" value={quoteattr(access_url)}/>'
        '<GROUP name="inputParams"><PARAM name="ID" datatype="char" arraysize="*" value="" ref="dl_id"/></GROUP>'
        "</RESOURCE>"
    )


SEED_START = datetime(2024, 5, 1, tzinfo=UTC)


def seed(service: ObscoreService) -> None:
    """Three MeerKAT-HI observations a day apart (visibilities by every delivery, a cube), another collection's
    product, and one still proprietary (released in 2099)."""
    specs: list[dict[str, Any]] = []
    for i, (first, second) in enumerate(
        [("HIPASSJ1303+07", "HIPASSJ1318-21"), ("HIPASSJ1324-24", "NGC5260"), ("ESO509-G040", "HIPASSJ1312-15")]
    ):
        obs, when = f"MKT-{1001 + i}", (SEED_START + timedelta(days=i)).isoformat()
        specs += [
            {"name": f"{first}_beam00.ms.tar", "obs_id": obs, "when": when, "delivery": "direct", "digest": i != 1},
            {"name": f"{second}_beam01.ms.tar", "obs_id": obs, "when": when, "delivery": "soda"},
            {"name": f"cube_{obs}.fits", "obs_id": obs, "when": when, "dataproduct_type": "cube", "target": "Hydra"},
        ]
    specs += [
        {"name": "other_9.ms.tar", "obs_id": "OTHER-9", "when": SEED_START.isoformat(), "collection": "Other"},
        {"name": "HIPASSJ1500-01_beam00.ms.tar", "obs_id": "MKT-2001", "when": "2099-01-01T00:00:00+00:00"},
    ]
    for spec in specs:
        service.add(spec)
