"""TAP responses: CASDA's HTTP-200 errors, OVERFLOW, and broken documents become typed errors."""

import pytest

from beampipe_provider.archive.errors import ArchiveQueryError, ArchiveUnavailable
from beampipe_provider.archive.tap import parse_tap_response
from beampipe_provider.testing.casda import votable


def test_rows_come_back_as_plain_python_values():
    doc = votable.results(["sbid", "event_date", "size"], [(33681, "2024-03-01T00:00:00.000", None)], overflow=False)
    result = parse_tap_response(200, doc.encode(), "q")
    assert result.rows == [{"sbid": 33681, "event_date": "2024-03-01T00:00:00.000", "size": None}]
    assert result.overflow is False


def test_overflow_is_reported():
    doc = votable.results(["sbid"], [(1,), (2,)], overflow=True)
    assert parse_tap_response(200, doc.encode(), "q").overflow is True


def test_query_status_error_with_http_200_raises_with_the_server_message():
    with pytest.raises(ArchiveQueryError, match="TAP query failed: Table x does not exist -- query: SELECT 1"):
        parse_tap_response(200, votable.error("Table x does not exist").encode(), "SELECT 1")


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (503, b"busy", ArchiveUnavailable),
        (200, b"<VOTABLE><RESOURCE><INFO name=", ArchiveUnavailable),
        (200, b"", ArchiveUnavailable),
        (400, b"bad request", ArchiveQueryError),
    ],
)
def test_transport_faults_are_typed(status, body, error):
    with pytest.raises(error):
        parse_tap_response(status, body, "q")
