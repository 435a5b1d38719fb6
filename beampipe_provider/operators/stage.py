"""StageOperator: bring one run's datasets online at their archive, fetch and verify each into a directory; the run
becomes STAGED. The archive is found by name (`beampipe.archives`), so any adapter stages the same way."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from beampipe_provider.archive.errors import NotAuthorised
from beampipe_provider.common.names import UnsafeName, path_component
from beampipe_provider.hooks.archive import CASDA_DEFAULT, ArchiveHook
from beampipe_provider.hooks.ledger import LedgerHook
from beampipe_provider.ledger.states import RunState
from beampipe_provider.ledger.store import LedgerStore, Run
from beampipe_provider.operators.task_state import task_actor


class StageOperator(BaseOperator):
    """Claims the run (or resumes its own claim after a retry), asks `archive` (with the survey's `rules`, where it
    needs them) to stage its datasets with the credentials of `archive_conn_id`, fetches and verifies each into
    `directory`/<run key>/, and moves the run CLAIMED -> STAGED. Returns (XCom) the files with sizes, sha256 and how
    each was verified. A retry re-verifies files already fetched instead of fetching them again."""

    template_fields: Sequence[str] = ("run_key", "directory")

    def __init__(
        self,
        *,
        run_key: str,
        directory: str,
        archive: str = "casda",
        archive_conn_id: str | None = CASDA_DEFAULT,
        rules: dict[str, Any] | None = None,
        beampipe_ledger_conn_id: str = LedgerHook.default_conn_name,
        staging_timeout: timedelta = timedelta(hours=6),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.run_key = run_key
        self.directory = directory
        self.archive = archive
        self.archive_conn_id = archive_conn_id
        self.rules = rules  # the survey's rules, where the archive needs them to stage (ObsCore: its endpoints)
        self.beampipe_ledger_conn_id = beampipe_ledger_conn_id
        self.staging_timeout = staging_timeout

    def execute(self, context: Context) -> dict[str, Any]:
        try:  # the run key becomes `directory/<run key>`: checked before anything is read or written
            path_component("run_key", self.run_key, run_key=True)
        except UnsafeName as exc:
            raise AirflowFailException(str(exc)) from None
        actor = task_actor(context)
        store = LedgerHook(beampipe_ledger_conn_id=self.beampipe_ledger_conn_id).get_store()
        run = self._hold(store, str(actor), batch_claimant=actor.dag_run)
        target = Path(self.directory) / run.run_key
        archive = ArchiveHook(self.archive, archive_conn_id=self.archive_conn_id, rules=self.rules).get_archive()
        try:
            plan = archive.plan_staging(store.run_datasets(run.run_key), timeout_s=self.staging_timeout.total_seconds())
            files = [archive.fetch(item, target) for item in plan.items]
        except NotAuthorised as exc:
            raise AirflowException(f"connection {self.archive_conn_id!r}: {exc}") from None
        finally:
            archive.close()
        report = {
            "run_key": run.run_key,
            "directory": str(target),
            "bytes": sum(f.size for f in files),
            "files": [
                {
                    "name": f.path.name,  # the local name: the only one that reaches a path or a command
                    "archive_name": item.archive_name or f.path.name,  # the archive's own name, as data
                    "dataset_id": f.dataset_id,
                    "size": f.size,
                    "sha256": f.sha256,
                    "verification": f.verification.value,
                }
                for item, f in zip(plan.items, files, strict=True)
            ],
        }
        if run.state is RunState.CLAIMED:
            store.transition(
                run.run_key,
                expected=RunState.CLAIMED,
                to=RunState.STAGED,
                actor=str(actor),
                claimant=run.claimed_by,
                detail={"files": len(files), "bytes": report["bytes"]},
            )
        self.log.info("Staged %d files, %d bytes, into %s", len(files), report["bytes"], target)
        return report

    def _hold(self, store: LedgerStore, claimant: str, batch_claimant: str) -> Run:
        """The run, held by this task instance (a fresh claim, or its own after a retry) or by its DAG run (a survey
        DAG's plan task claims its batch for the DAG run, so overlapping DAG runs never take the same run)."""
        ttl = self.staging_timeout + timedelta(hours=1)
        if claimed := store.claim_runs(claimant, ttl=ttl, run_keys=[self.run_key]):
            return claimed[0]
        run = store.get_run(self.run_key)
        if run.state in {RunState.CLAIMED, RunState.STAGED} and run.claimed_by in {claimant, batch_claimant}:
            return run
        owner = f" by {run.claimed_by}" if run.claimed_by else ""
        # Another DAG run (a backfill, an overlapping poll) took it between planning and now: it is theirs.
        raise AirflowSkipException(f"run {run.run_key} is {run.state}{owner}: another task has it")
