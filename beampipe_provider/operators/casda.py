"""CasdaStageOperator: stage, download and verify one run's CASDA datasets into a directory; the run becomes STAGED."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowException, AirflowSkipException

from beampipe_provider.archive.casda.staging import CasdaStager
from beampipe_provider.archive.fetch import stage_and_download
from beampipe_provider.hooks.casda import CasdaHook
from beampipe_provider.hooks.ledger import LedgerHook
from beampipe_provider.ledger.states import RunState
from beampipe_provider.ledger.store import LedgerStore, Run


class CasdaStageOperator(BaseOperator):
    """Claims the run (or resumes its own claim after a retry), stages its datasets through DataLink/SODA with the
    OPAL account of the `casda` connection, downloads and verifies each file into `directory`/<run key>/, and moves
    the run CLAIMED -> STAGED. Returns (XCom) the files with sizes and sha256. A retry re-verifies files already
    downloaded instead of fetching them again."""

    template_fields: Sequence[str] = ("run_key", "directory")

    def __init__(
        self,
        *,
        run_key: str,
        directory: str,
        casda_conn_id: str = CasdaHook.default_conn_name,
        beampipe_ledger_conn_id: str = LedgerHook.default_conn_name,
        staging_timeout: timedelta = timedelta(hours=6),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.run_key = run_key
        self.directory = directory
        self.casda_conn_id = casda_conn_id
        self.beampipe_ledger_conn_id = beampipe_ledger_conn_id
        self.staging_timeout = staging_timeout

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        claimant = f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{ti.map_index}"
        store = LedgerHook(beampipe_ledger_conn_id=self.beampipe_ledger_conn_id).get_store()
        run = self._hold(store, claimant, batch_claimant=f"{ti.dag_id}/{ti.run_id}")
        endpoints = CasdaHook(casda_conn_id=self.casda_conn_id).get_endpoints()
        if not endpoints.username or not endpoints.password:
            raise AirflowException(
                f"connection {self.casda_conn_id!r} has no OPAL username and password: staging needs them"
            )
        urls = [d.access_url for d in store.run_datasets(run.run_key) if d.access_url]
        target = Path(self.directory) / run.run_key
        with httpx.Client(timeout=120.0) as client:
            stager = CasdaStager(username=endpoints.username, password=endpoints.password, client=client)
            files = stage_and_download(stager, client, urls, target, timeout_s=self.staging_timeout.total_seconds())
        report = {
            "run_key": run.run_key,
            "directory": str(target),
            "bytes": sum(f.size for f in files),
            "files": [{"name": f.path.name, "size": f.size, "sha256": f.sha256} for f in files],
        }
        if run.state is RunState.CLAIMED:
            store.transition(
                run.run_key,
                expected=RunState.CLAIMED,
                to=RunState.STAGED,
                actor=claimant,
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
