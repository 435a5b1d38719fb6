"""Archive errors, typed so callers decide retries by class: transient (wait and try again) or permanent."""

from __future__ import annotations


class ArchiveError(Exception):
    """Base of archive errors."""


class ArchiveUnavailable(ArchiveError):
    """Transient: the archive did not answer, answered 5xx, or sent a broken document. Retry later."""


class ArchiveQueryError(ArchiveError):
    """Permanent for this query: the archive refused it (QUERY_STATUS=ERROR or HTTP 4xx)."""


class NotAuthorised(ArchiveError):
    """The archive refused the credentials (HTTP 401/403)."""


class StagingFailed(ArchiveError):
    """The archive ended the staging job in ERROR or ABORTED, or refused the request; carries its message."""


class StagingTimeout(ArchiveError):
    """The staging job did not finish before the deadline; it may still finish later."""


class UnsafeFileName(ArchiveError):
    """A name from the archive that cannot be used as a local file name."""


class ChecksumMismatch(ArchiveError):
    """A fetched file that does not match what the archive says it is."""
