"""Fetching one product: streamed, resumed with Range, verified (CASDA's .checksum formats; else a digest the server
sends with the file, RFC 9530 `Repr-Digest` or RFC 3230 `Digest`, sha-256 or md5; else the size where the archive
gives one), then renamed into place. Any archive's FetchItem goes through `fetch`.

Both digest headers describe the whole representation, not the bytes of one (206) response, so a resumed download
is checked against them too. A digest in an algorithm not listed here is ignored, and the file is then recorded as
verified by size only, never as checksum-verified.

A file name from the archive is never trusted as a path, nor as a word of a command: it must be one plain name
(no separators), and the file gets a local name from a strict alphabet (`common.names.local_file_name`); the
archive's own name is kept only as data (`FetchItem.archive_name`). `fetch` refuses any other local name.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import os
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import httpx

from beampipe_provider.archive.base import FetchItem, LocalFile, Verification
from beampipe_provider.archive.errors import ArchiveUnavailable, ChecksumMismatch, UnsafeFileName
from beampipe_provider.common.names import local_file_name

CHUNK = 1 << 20
MAX_NAME = 255
MAX_ARCHIVE_NAME = 1024


@dataclass(frozen=True)
class Checksum:
    """Either CASDA's `crc32 sha1 size` hex triple, or a single md5."""

    crc32: int | None = None
    sha1: str | None = None
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None


# Header algorithm names (lower-cased) -> Checksum fields.
DIGEST_ALGORITHMS = {"sha-256": "sha256", "md5": "md5"}


def parse_digest_header(value: str | None) -> Checksum | None:
    """`sha-256=:BASE64:` (RFC 9530, a structured dictionary) or `SHA-256=BASE64` (RFC 3230), comma separated."""
    found: dict[str, str] = {}
    for member in (value or "").split(","):
        algorithm, _, encoded = member.strip().partition("=")
        field = DIGEST_ALGORITHMS.get(algorithm.strip().lower())
        if field is None:
            continue
        try:
            found[field] = base64.b64decode(encoded.strip().strip(":"), validate=True).hex()
        except (binascii.Error, ValueError) as exc:
            raise ChecksumMismatch(f"unreadable {algorithm} digest from the server: {encoded[:100]!r}") from exc
    return Checksum(md5=found.get("md5"), sha256=found.get("sha256")) if found else None


def safe_file_name(name: str) -> str:
    if not name or name in {".", ".."} or len(name.encode()) > MAX_NAME:
        raise UnsafeFileName(f"refusing file name {name!r}: empty, dot or longer than {MAX_NAME} bytes")
    if "/" in name or "\\" in name or any(unicodedata.category(ch).startswith("C") for ch in name):
        raise UnsafeFileName(f"refusing file name {name!r}: path separators or control characters")
    return name


def file_name_of(href: str) -> str:
    """The archive's name for a result href: the last raw path segment, unquoted once (the href itself stays
    intact). Data only: an encoded `..%2F`, a quote or a `$(...)` in it stays in the name, which never becomes a
    path or a command (`staged_names` gives the local name)."""
    raw_path = httpx.URL(href).raw_path.decode("ascii").split("?", 1)[0]
    name = unquote(raw_path.rsplit("/", 1)[-1])
    if not name or len(name) > MAX_ARCHIVE_NAME:
        raise UnsafeFileName(f"refusing archive file name {name[:100]!r}: empty or longer than {MAX_ARCHIVE_NAME}")
    return name


def staged_names(href: str) -> tuple[str, str]:
    """(the archive's name, the local name) of a result href: every adapter's plan names its files here."""
    archive_name = file_name_of(href)
    return archive_name, local_file_name(archive_name)


def checked_local_name(name: str) -> str:
    """`name` if it is a local name (`local_file_name` leaves it as it is), else UnsafeFileName."""
    if local_file_name(safe_file_name(name)) != name:
        raise UnsafeFileName(f"refusing local file name {name!r}: not from [A-Za-z0-9._+-] (see local_file_name)")
    return name


def parse_checksum(text: str) -> Checksum:
    fields = text.split()
    try:
        if len(fields) == 3:
            return Checksum(crc32=int(fields[0], 16), sha1=fields[1].lower(), size=int(fields[2], 16))
        if len(fields) >= 1 and len(fields[0]) == 32:
            int(fields[0], 16)
            return Checksum(md5=fields[0].lower())
    except ValueError:
        pass
    raise ChecksumMismatch(f"unreadable .checksum file: {text[:100]!r}")


def _digests(path: Path) -> dict[str, str | int]:
    crc, sha1, md5, sha256, size = 0, hashlib.sha1(), hashlib.md5(), hashlib.sha256(), 0  # noqa: S324 (CASDA's formats)
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            crc = zlib.crc32(chunk, crc)
            sha1.update(chunk)
            md5.update(chunk)
            sha256.update(chunk)
            size += len(chunk)
    return {"crc32": crc, "sha1": sha1.hexdigest(), "md5": md5.hexdigest(), "sha256": sha256.hexdigest(), "size": size}


def verify(path: Path, expected: Checksum) -> dict[str, str | int]:
    actual = _digests(path)
    for name in ("size", "crc32", "sha1", "md5", "sha256"):
        want = getattr(expected, name)
        if want is not None and want != actual[name]:
            raise ChecksumMismatch(f"{path.name}: {name} is {actual[name]}, the archive says {want}")
    return actual


def fetch(client: httpx.Client, item: FetchItem, directory: Path) -> LocalFile:
    """Fetch `item` into `directory` under its local name. A `.part` left by an interrupted attempt is resumed with a
    Range request; a mismatch deletes it. Only a verified file gets its final name."""
    expected = None
    if item.checksum:
        expected = parse_checksum(item.checksum)
    elif item.checksum_url:
        expected = parse_checksum(_fetch_text(client, item.checksum_url))
    if item.size is not None:
        known = expected.size if expected is not None else None  # the checksum's own size wins
        expected = dataclasses.replace(expected or Checksum(), size=item.size if known is None else known)
    local, served = _download(client, item.url, directory, checked_local_name(item.local_name), expected)
    if item.checksum or item.checksum_url or served:
        verification = Verification.CHECKSUM
    else:
        verification = Verification.SIZE if expected is not None else Verification.NONE
    return LocalFile(local.path, local.size, local.sha256, item.dataset_id, verification)


def download(client: httpx.Client, href: str, directory: Path, *, checksum_href: str | None = None) -> LocalFile:
    """Fetch `href` into `directory` under the local name of the href's file name, verified against `checksum_href`."""
    expected = parse_checksum(_fetch_text(client, checksum_href)) if checksum_href else None
    return _download(client, href, directory, staged_names(href)[1], expected)[0]


def _download(
    client: httpx.Client, href: str, directory: Path, name: str, expected: Checksum | None
) -> tuple[LocalFile, bool]:
    """The file, and whether it was checked against a digest the server sent with it."""
    directory.mkdir(parents=True, exist_ok=True)
    final, part = directory / name, directory / f".{name}.part"
    if final.exists() and expected:  # a retry: a verified file is not fetched again
        try:
            digests = verify(final, expected)
            return LocalFile(final, int(digests["size"]), str(digests["sha256"])), False
        except ChecksumMismatch:
            final.unlink()
    resumed = part.exists() and part.stat().st_size > 0
    while True:
        served = _stream(client, href, part)
        wanted = expected
        if served is not None:
            base = expected or Checksum()
            wanted = dataclasses.replace(base, sha256=served.sha256 or base.sha256, md5=served.md5 or base.md5)
        try:
            digests = verify(part, wanted) if wanted else _digests(part)
            break
        except ChecksumMismatch:
            part.unlink(missing_ok=True)
            if not resumed:
                raise
            # A corrupted prefix survives a Range resume: start once from byte zero within this try.
            resumed = False
    os.replace(part, final)
    return LocalFile(final, int(digests["size"]), str(digests["sha256"])), served is not None


def _fetch_text(client: httpx.Client, href: str) -> str:
    try:
        response = client.get(href)
    except httpx.HTTPError as exc:
        raise ArchiveUnavailable(f"checksum download failed: {exc!r}") from exc
    if response.status_code != 200:
        raise ArchiveUnavailable(f"checksum download answered HTTP {response.status_code}")
    return response.text


def _stream(client: httpx.Client, href: str, part: Path) -> Checksum | None:
    """Stream into `part`; the digest the server sent with the file, if any."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        with client.stream("GET", href, headers=headers) as response:
            if response.status_code not in (200, 206):
                raise ArchiveUnavailable(f"download of {part.name[1:-5]} answered HTTP {response.status_code}")
            served = parse_digest_header(response.headers.get("Repr-Digest") or response.headers.get("Digest"))
            mode = "ab" if response.status_code == 206 else "wb"  # 200: the server ignored Range, start over
            with part.open(mode) as handle:
                for chunk in response.iter_bytes():  # as it arrives: a dropped connection keeps what came
                    handle.write(chunk)
            return served
    except httpx.HTTPError as exc:
        # The partial file stays: the next attempt resumes where this one stopped.
        raise ArchiveUnavailable(f"download of {part.name[1:-5]} interrupted: {exc!r}") from exc
