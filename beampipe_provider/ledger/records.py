"""Validated records that enter the ledger: sources and archive datasets (pydantic v2)."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from beampipe_provider.common.canonical import sha256_hex
from beampipe_provider.ledger.schema import DATASET_ID_LEN, SOURCE_ID_LEN, SURVEY_LEN

# Common IDs reach file names, ADQL and remote shells later: letters, digits and + - _ . only.
_SOURCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9+\-_.]*")
_SURVEY = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


def _no_control_chars(value: str) -> str:
    if any(unicodedata.category(ch).startswith("C") for ch in value):
        raise ValueError("contains control or invisible characters")
    return value


def _matches(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise ValueError(f"not a valid {what}: {value!r} (allowed: {pattern.pattern})")
        return value

    return AfterValidator(check)


SourceId = Annotated[
    str,
    Field(min_length=1, max_length=SOURCE_ID_LEN),
    AfterValidator(_no_control_chars),
    _matches(_SOURCE_ID, "source ID"),
]
Survey = Annotated[
    str,
    Field(min_length=1, max_length=SURVEY_LEN),
    AfterValidator(_no_control_chars),
    _matches(_SURVEY, "survey"),
]
_SURVEY_ADAPTER: TypeAdapter[str] = TypeAdapter(Survey)


def check_survey(value: str) -> str:
    """Survey names reach SQL filters, file names and job names: the same rule everywhere (raises ValueError)."""
    try:
        return _SURVEY_ADAPTER.validate_python(value)
    except ValidationError as exc:
        raise ValueError(f"survey {value!r}: {exc.errors()[0]['msg']}") from None


DatasetId = Annotated[
    str,
    Field(min_length=1, max_length=DATASET_ID_LEN),
    AfterValidator(_no_control_chars),
]


class SourceRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    source_id: SourceId
    enabled: bool = True
    metadata: dict[str, Any] = Field(default_factory=dict)


class DatasetRecord(BaseModel):
    """One archive product as discovered (e.g. a CASDA ivoa.obscore row)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    archive: str = Field(default="casda", min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")
    dataset_id: DatasetId
    survey: Survey
    source_id: SourceId | None = None
    sbid: int | None = Field(default=None, ge=0)
    filename: str | None = Field(default=None, max_length=1024)
    access_url: str | None = None
    size: int | None = Field(default=None, ge=0)
    release_date: datetime | None = None
    quality: str | None = Field(default=None, max_length=32)
    checksum: str | None = Field(default=None, max_length=128)

    @field_validator("access_url")
    @classmethod
    def _access_url(cls, value: str | None) -> str | None:
        """An http(s) URL with a host and no credentials of its own: it is fetched, maybe with the archive's."""
        if value is None:
            return value
        parts = urlsplit(value)
        if len(value) > 4096 or _URL_UNSAFE.search(value):
            raise ValueError("access_url: longer than 4096 characters, or whitespace or control characters in it")
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"access_url: not an http(s) URL with a host: {value[:200]!r}")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise ValueError("access_url: carries credentials in the URL")
        return value

    @field_validator("release_date")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a timezone (e.g. 2024-01-31T00:00:00Z)")
        return value

    def signature(self) -> str:
        """sha256 over the fields that describe the content. The access URL, release date and quality label
        change without the bytes changing, so a re-poll of the same product never looks like a new deposit."""
        return sha256_hex(
            {
                "archive": self.archive,
                "dataset_id": self.dataset_id,
                "survey": self.survey,
                "source_id": self.source_id,
                "sbid": self.sbid,
                "filename": self.filename,
                "size": self.size,
                "checksum": self.checksum,
            }
        )
