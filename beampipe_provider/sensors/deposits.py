"""DepositSensor: waits for an archive's deposits of a survey in the run's data interval and records them once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout

from beampipe_provider.archive.errors import ArchiveUnavailable
from beampipe_provider.hooks.archive import ArchiveHook
from beampipe_provider.hooks.ledger import LedgerHook
from beampipe_provider.ledger.records import DatasetRecord
from beampipe_provider.triggers.deposits import DepositTrigger
from beampipe_provider.triggers.events import DepositsEvent


def _aware(value: str | None) -> datetime | None:
    if not value:
        return None
    when = datetime.fromisoformat(value)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class DepositSensor(BaseSensorOperator):
    """Find the survey's deposits (`archive`'s adapter, with the survey's `rules`) whose events fall in [since,
    until) and record them in the ledger.

    `since`/`until` default to the run's data interval, so `airflow backfill create` over past dates finds the same
    deposits again, and the ledger keeps them single. Returns (XCom) up to `batch_size` dataset records, each with
    its ledger status (new, changed, unchanged), ready for `.expand()`. It waits until the deposits come from
    `min_sources` sources; with `max_wait`, it stops waiting that long after `until` and returns what it found,
    possibly nothing (an interval without deposits is not a failure). While the archive is unreachable the sensor
    keeps waiting (`fail_when_unavailable=True` fails instead).
    """

    template_fields: Sequence[str] = ("rules", "since", "until")

    def __init__(
        self,
        *,
        rules: dict[str, Any],
        archive: str = "casda",
        archive_conn_id: str | None = "casda_default",
        since: str | None = None,
        until: str | None = None,
        lookback: timedelta = timedelta(days=1),
        batch_size: int = 100,
        min_sources: int = 1,
        max_wait: timedelta | None = None,
        beampipe_ledger_conn_id: str = LedgerHook.default_conn_name,
        fail_when_unavailable: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.rules = rules
        self.archive = archive
        self.archive_conn_id = archive_conn_id
        self.since = since
        self.until = until
        self.lookback = lookback
        self.batch_size = batch_size
        self.min_sources = min_sources
        self.max_wait = max_wait
        self.beampipe_ledger_conn_id = beampipe_ledger_conn_id
        self.fail_when_unavailable = fail_when_unavailable
        self.deferrable = deferrable

    def _window(self, context: Context) -> tuple[datetime, datetime]:
        """[since, until): explicit values, else the run's data interval. A manual run's interval is empty (start ==
        end == logical date), so it looks back `lookback` from its end instead."""
        until = _aware(self.until) or context.get("data_interval_end") or datetime.now(UTC)
        since = _aware(self.since) or context.get("data_interval_start")
        if since is None or since >= until:
            since = until - self.lookback
        return since, until

    def archive_rules(self) -> dict[str, Any]:
        return dict(self.rules)

    def _ready_at(self, until: datetime) -> datetime | None:
        return until + self.max_wait if self.max_wait is not None else None

    def _record(self, datasets: list[DatasetRecord]) -> list[dict[str, Any]]:
        """The task (never the trigger) writes the ledger; the XCom carries at most batch_size records."""
        result = LedgerHook(beampipe_ledger_conn_id=self.beampipe_ledger_conn_id).get_store().record_datasets(datasets)
        status = {**dict.fromkeys(result.new, "new"), **dict.fromkeys(result.changed, "changed")}
        ordered = sorted(datasets, key=lambda d: (status.get(d.dataset_id) is None, d.dataset_id))
        self.log.info(
            "%s: %d datasets (%d new, %d changed, %d already recorded)%s",
            self.archive,
            len(datasets),
            len(result.new),
            len(result.changed),
            len(result.unchanged),
            f"; passing on the first {self.batch_size}" if len(datasets) > self.batch_size else "",
        )
        return [
            d.model_dump(mode="json") | {"ledger_status": status.get(d.dataset_id, "unchanged")}
            for d in ordered[: self.batch_size]
        ]

    def poke(self, context: Context) -> PokeReturnValue:
        since, until = self._window(context)
        archive = ArchiveHook(
            self.archive, archive_conn_id=self.archive_conn_id, rules=self.archive_rules()
        ).get_archive()
        try:
            found = archive.discover(since=since, until=until)
        except ArchiveUnavailable as exc:
            if self.fail_when_unavailable:
                raise
            self.log.warning("Archive %s unavailable, will poke again: %s", self.archive, exc)
            return PokeReturnValue(is_done=False)
        finally:
            archive.close()
        if not found.ready(min_sources=self.min_sources, now=datetime.now(UTC), ready_at=self._ready_at(until)):
            return PokeReturnValue(is_done=False)
        return PokeReturnValue(is_done=True, xcom_value=self._record(found.datasets))

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)  # already there: no need to occupy the triggerer
        if first.is_done:
            return first.xcom_value
        since, until = self._window(context)
        deadline = datetime.now(UTC) + timedelta(seconds=self.timeout)
        self.log.info("No deposits yet in [%s, %s): deferring to the triggerer until %s", since, until, deadline)
        self.defer(
            trigger=DepositTrigger(
                rules=self.archive_rules(),
                archive=self.archive,
                archive_conn_id=self.archive_conn_id,
                since=since.isoformat(),
                until=until.isoformat(),
                poll_interval=float(self.poke_interval),
                deadline=deadline.isoformat(),
                min_sources=self.min_sources,
                ready_at=ready_at.isoformat() if (ready_at := self._ready_at(until)) else None,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> list[dict[str, Any]]:
        found = DepositsEvent.from_payload(event)
        if found.status == "timeout":
            raise AirflowSensorTimeout(found.message)
        if found.status != "success":
            raise AirflowException(f"{self.archive} deposit search failed: {found.message}")
        return self._record([DatasetRecord.model_validate(d) for d in found.datasets])
