"""SlurmWorkflowOperator: run one workflow (any engine registered under `beampipe.workflows`) over a run's datasets
as one Slurm job.

It asks the engine for the run's files, places them in `{dlg_root}/runs/{run key}/` on the facility, then is a
SlurmJobOperator (adopt or submit, defer, finish): nothing of submission or tracking is repeated here. On success it
returns the job's output inventory and records signed provenance; on failure the error names what failed."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from airflow.sdk import BaseOperatorLink, Context
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from beampipe_provider.common.names import UnsafeName, path_component
from beampipe_provider.hooks.signing import get_signing_key
from beampipe_provider.links.slurm import XCOM_DLG_SESSION_URL, SlurmJobLink, WorkflowSessionLink
from beampipe_provider.operators.slurm import SlurmJobOperator
from beampipe_provider.provenance.assemble import changed_products, image_pins, record_run_provenance
from beampipe_provider.scheduler.admission import QueueShare
from beampipe_provider.scheduler.base import Scheduler, SchedulerError
from beampipe_provider.scheduler.slurm import SbatchOptions, sbatch_options
from beampipe_provider.triggers.events import JobEvent
from beampipe_provider.workflow.base import INVENTORY, OUTCOME, Outcome, Workflow, WorkflowError, load_workflow
from beampipe_provider.workflow.bundle import BUNDLE, datasets_from, upload
from beampipe_provider.workflow.facility import Facility, load_facility


class SlurmWorkflowOperator(SlurmJobOperator):
    """`engine`: a workflow engine's name (daliuge, cwl); `workflow`: its document on the worker (a logical graph, a
    CWL file), with `workflow_options` for the engine. `facility`: a profile name (`setonix`, `local`) or YAML path.
    `datasets`: the staged inputs on the facility, as dataset dicts with `path`, or a stage task's report.
    `parameters` reach the workflow (DALiuGE: `"node.field"` overrides; CWL: inputs) and its manifest."""

    template_fields: Sequence[str] = (
        *SlurmJobOperator.template_fields,
        "workflow",
        "datasets",
        "facility",
        "provenance_key_conn_id",
    )
    operator_extra_links: tuple[BaseOperatorLink, ...] = (SlurmJobLink(), WorkflowSessionLink())

    def __init__(
        self,
        *,
        engine: str,
        workflow: str,
        facility: str,
        datasets: Any,
        parameters: dict[str, Any] | None = None,
        workflow_options: dict[str, Any] | None = None,
        job_timeout_s: float = 6 * 3600,
        provenance_key_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(command="true", parameters=parameters, **kwargs)  # the script is rendered per run
        self.engine = engine
        self.workflow = workflow
        self.workflow_options = dict(workflow_options or {})
        self.facility = facility
        self.datasets = datasets
        self.job_timeout_s = job_timeout_s
        self.provenance_key_conn_id = provenance_key_conn_id
        self._run_dir: str | None = None
        self._profile: Facility | None = None

    # -- entry: every value that becomes a path is checked before any I/O ---------------------------------------

    def execute(self, context: Context) -> Any:
        self._check_names(context)
        return super().execute(context)

    def execute_admitted(self, context: Context, event: dict[str, Any]) -> Any:
        self._check_names(context)
        return super().execute_admitted(context, event)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        self._check_names(context)
        return super().execute_complete(context, event)

    def _check_names(self, context: Context) -> None:
        """The run key and job name become `{dlg_root}/runs/<...>`; the datasets' paths, surveys and sources reach
        the workflow's commands. A hostile value fails the task (no retry) naming the field, before any I/O."""
        try:
            if self.run_key:
                path_component("run_key", self.run_key, run_key=True)
            path_component("job_name", self.job_name(context))
            datasets_from(self.datasets)
        except (UnsafeName, WorkflowError) as exc:
            raise AirflowFailException(str(exc)) from None

    # -- the run's files ------------------------------------------------------------------------------------

    def on_session(self, context: Context, scheduler: Scheduler) -> None:
        """{dlg_root}/runs/{run key}, with the login node's $HOME/$USER expanded: the same on every attempt, also
        when the task resumes from its trigger in a new process."""
        if self._run_dir is None:
            root = scheduler.files().expand_path(self._facility().dlg_root)
            self._run_dir = posixpath.join(root, "runs", self.run_key or self.job_name(context))

    def before_submit(self, context: Context, scheduler: Scheduler) -> None:
        try:
            bundle = self._engine().prepare(
                run_key=self.run_key or self.job_name(context),
                datasets=datasets_from(self.datasets),
                parameters=self.parameters,
                run_dir=self._dir(),
            )
            sftp = scheduler.files().sftp()
            try:
                placed = upload(sftp, self._dir(), bundle)
            finally:
                sftp.close()
        except WorkflowError as exc:
            raise AirflowException(str(exc)) from None
        hashes = ", ".join(f"{name} {digest[:12]}" for name, digest in sorted(bundle.hashes.items()))
        self.log.info("Run files %s in %s (%s %s)", placed, self._dir(), self.engine, hashes)

    def options(self, context: Context) -> SbatchOptions:
        own = super().options(context).model_dump(exclude_none=True)
        merged = {**self._facility().sbatch, **own, "chdir": self._dir()}
        if "output" not in self.sbatch_options:
            merged["output"] = posixpath.join(self._dir(), "slurm-%j.out")
        return sbatch_options(**merged, within=self._dir())

    def clusters(self) -> str | None:
        return super().clusters() or self._facility().sbatch.get("clusters")

    def render_script(self) -> str:
        return self._engine().job_script(self._facility(), self._dir(), timeout_s=self.job_timeout_s)

    # -- the end ------------------------------------------------------------------------------------------------

    def failure_detail(self, scheduler: Scheduler) -> str:
        outcome = self._outcome(scheduler)
        lines = [f"{self.engine}: {outcome.message}", *outcome.failures]
        log = scheduler.log_tail(outcome.log_path, 20) if outcome.log_path else ""
        if log:
            lines.append(f"--- {self.engine} log (last lines) ---\n{log}")
        return "\n".join(lines)

    def on_success(self, context: Context, scheduler: Scheduler, event: JobEvent, result: dict[str, Any]) -> Any:
        outcome = self._outcome(scheduler)
        self._push_session_url(context, outcome)
        staged = datasets_from(self.datasets)
        self._lineage["inputs"] = [
            (str(d.get("archive", "casda")), str(d.get("dataset_id") or d["path"])) for d in staged
        ]
        self._lineage["outputs"] = [(f"file://{self._facility().login_host}", p.path) for p in outcome.products]
        done = {
            **result,
            "run_dir": self._run_dir,
            "session_id": outcome.session_id,
            "graph_sha256": outcome.hashes,
            "timings": outcome.timings,
            "outputs": [p.__dict__ for p in outcome.products],
        }
        if self.provenance_key_conn_id and self.run_key:
            envelope = self._record_provenance(scheduler, event, outcome)
            done["provenance"] = {"record_sha256": envelope["record_sha256"], "key_id": envelope["key_id"]}
        elif self.provenance_key_conn_id:
            self.log.warning(
                "No provenance record: it is chained per survey in the ledger, and this task has no run_key"
            )
        return done

    def _record_provenance(self, scheduler: Scheduler, event: JobEvent, outcome: Outcome) -> Any:
        """Re-verify the outputs on the facility, sign the record, chain it in the ledger, write it beside the
        outputs (provenance.json in the run directory)."""
        files = scheduler.files()
        facility = self._facility()
        measured = files.checksums([p.path for p in outcome.products])
        if changed := changed_products(outcome.products, measured):
            raise AirflowException(f"outputs changed after the job wrote its inventory: {', '.join(changed)}")
        image_files = [ref for ref in facility.images.values() if ref.startswith("/")]
        images = image_pins(facility.images, files.checksums(image_files))
        job = event.job()
        envelope = record_run_provenance(
            self._store(),
            self.run_key or "",
            outcome=outcome,
            bundle_hashes=self._read_json(scheduler, BUNDLE).get("graph_sha256", {}),
            staged=datasets_from(self.datasets),
            job=job.to_json() if job else {},
            facility={**facility.model_dump(mode="json"), "images": images},
            parameters=self.parameters,
            airflow_version=version("apache-airflow"),
            key=get_signing_key(self.provenance_key_conn_id or ""),
        )
        files.write_text(posixpath.join(self._dir(), "provenance.json"), json.dumps(envelope, indent=1, sort_keys=True))
        self.log.info("Provenance record %s signed by key %s", envelope["record_sha256"][:12], envelope["key_id"])
        return envelope

    def _outcome(self, scheduler: Scheduler) -> Outcome:
        inventory = self._read_json(scheduler, INVENTORY)
        return self._engine().read_outcome(
            self._read_json(scheduler, OUTCOME), inventory if isinstance(inventory, list) else []
        )

    def _push_session_url(self, context: Context, outcome: Outcome) -> None:
        template, session = self._facility().session_url, outcome.session_id
        if template and session:
            url = template.format(host=self._facility().login_host, session_id=session)
            context["ti"].xcom_push(key=XCOM_DLG_SESSION_URL, value=url)

    def _queue_share(self) -> QueueShare:
        """The operator's own cap, else the facility profile's."""
        want = super()._queue_share()
        if want.cap is None and self._facility().max_queued is not None:
            return QueueShare(self._facility().max_queued, want.group, want.share)
        return want

    # -- helpers ------------------------------------------------------------------------------------------------

    def _engine(self) -> Workflow:
        return load_workflow(self.engine, self.workflow, **self.workflow_options)

    def _facility(self) -> Facility:
        if self._profile is None:
            self._profile = load_facility(self.facility)
        return self._profile

    def _dir(self) -> str:
        if self._run_dir is None:
            raise AirflowException("the run directory is known only once the task has its SSH session")
        return self._run_dir

    def _store(self) -> Any:
        from beampipe_provider.hooks.ledger import LedgerHook

        return LedgerHook(beampipe_ledger_conn_id=self.beampipe_ledger_conn_id).get_store()

    def _read_json(self, scheduler: Scheduler, name: str) -> Any:
        try:
            return json.loads(scheduler.files().read_text(posixpath.join(self._dir(), name)))
        except (SchedulerError, ValueError) as exc:
            self.log.warning("Could not read %s of the run: %s", name, exc)
            return {}
