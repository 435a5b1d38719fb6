"""Pure parts of staging and downloading: names, checksum files, UWS documents, result pairing."""

import hashlib
import zlib

import pytest

from beampipe_provider.archive.casda.staging import pair_checksums, parse_datalink, parse_job
from beampipe_provider.archive.errors import StagingFailed
from beampipe_provider.archive.fetch import (
    Checksum,
    ChecksumMismatch,
    UnsafeFileName,
    file_name_of,
    parse_checksum,
    safe_file_name,
    staged_names,
)


@pytest.mark.parametrize("name", ["", ".", "..", "../etc/passwd", "/etc/passwd", "a\\b", "a\x00b", "a\nb", "x" * 256])
def test_unsafe_names_are_refused(name):
    with pytest.raises(UnsafeFileName):
        safe_file_name(name)


def test_name_comes_from_the_last_segment_and_traversal_in_it_never_becomes_a_path():
    assert (
        file_name_of("https://d/download/j1/HIPASSJ1303%2B07_A_beam00.ms.tar?sig=a%2Fb")
        == "HIPASSJ1303+07_A_beam00.ms.tar"
    )
    archive, local = staged_names("https://d/download/j1/..%2F..%2Fetc%2Fpasswd")
    assert archive == "../../etc/passwd"  # kept as data only
    assert "/" not in local
    assert not local.startswith(".")
    with pytest.raises(UnsafeFileName):
        file_name_of("https://d/download/j1/")


def test_both_checksum_formats():
    data = b"WALLABY"
    triple = f"{zlib.crc32(data):x} {hashlib.sha1(data).hexdigest()} {len(data):x}\n"
    assert parse_checksum(triple) == Checksum(crc32=zlib.crc32(data), sha1=hashlib.sha1(data).hexdigest(), size=7)
    md5 = hashlib.md5(data).hexdigest()
    assert parse_checksum(md5.upper() + "  file.fits\n") == Checksum(md5=md5)
    with pytest.raises(ChecksumMismatch, match="unreadable"):
        parse_checksum("not a checksum")


def test_presigned_hrefs_are_paired_and_kept_intact():
    file = "https://s3.example/casda/f.fits?X-Amz-Signature=ab%2Fcd&X-Amz-Expires=3600"
    checksum = "https://s3.example/casda/f.fits.checksum?X-Amz-Signature=ef%2Bgh"
    (result,) = pair_checksums([file, checksum])
    assert (result.href, result.checksum_href) == (file, checksum)


def test_uws_error_carries_the_archive_message():
    doc = (
        b'<uws:job xmlns:uws="http://www.ivoa.net/xml/UWS/v1.0"><uws:phase>ERROR</uws:phase>'
        b"<uws:errorSummary><uws:message>Tape offline</uws:message></uws:errorSummary></uws:job>"
    )
    assert parse_job(doc) == ("ERROR", [], "Tape offline")


def test_datalink_without_async_service_means_no_access():
    doc = (
        b'<VOTABLE xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE type="results"><TABLE>'
        b'<FIELD name="service_def" datatype="char" arraysize="*"/>'
        b'<FIELD name="authenticated_id_token" datatype="char" arraysize="*"/>'
        b"<DATA><TABLEDATA><TR><TD>cutout_service</TD><TD>t</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"
    )
    with pytest.raises(StagingFailed, match="no async_service"):
        parse_datalink(doc)
