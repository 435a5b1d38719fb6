"""CasdaDepositSensor: the CASDA face of DepositSensor, with CASDA's survey rules as keyword arguments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from beampipe_provider.archive.casda.discovery import DEFAULT_SOURCE_PATTERN, SurveyRules
from beampipe_provider.hooks.casda import CasdaHook
from beampipe_provider.sensors.deposits import DepositSensor


class CasdaDepositSensor(DepositSensor):
    """Waits for the survey's CASDA deposits in the run's data interval and records them once (see DepositSensor).
    The rules (project codes, collections, file name patterns, product types, event types, source pattern,
    released only) are checked as `SurveyRules` before any query is built."""

    template_fields: Sequence[str] = ("survey", "project_codes", "since", "until", "filename_patterns")

    def __init__(
        self,
        *,
        survey: str,
        project_codes: list[str],
        collections: list[str] | None = None,
        filename_patterns: list[str] | None = None,
        dataproduct_types: list[str] | None = None,
        event_types: list[str] | None = None,
        source_pattern: str = DEFAULT_SOURCE_PATTERN,
        released_only: bool = False,
        casda_conn_id: str = CasdaHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(rules={}, archive="casda", archive_conn_id=casda_conn_id, **kwargs)
        self.survey = survey
        self.project_codes = project_codes
        self.collections = collections or []
        self.filename_patterns = filename_patterns or []
        self.dataproduct_types = dataproduct_types or []
        self.event_types = event_types
        self.source_pattern = source_pattern
        self.released_only = released_only
        self.casda_conn_id = casda_conn_id

    def archive_rules(self) -> dict[str, Any]:
        """The rules from this sensor's (rendered) fields."""
        extra = {"event_types": self.event_types} if self.event_types else {}
        return SurveyRules(
            survey=self.survey,
            project_codes=self.project_codes,
            collections=self.collections,
            filename_patterns=self.filename_patterns,
            dataproduct_types=self.dataproduct_types,
            source_pattern=self.source_pattern,
            released_only=self.released_only,
            **extra,
        ).model_dump(mode="json")
