"""SlurmJobOperator: run one batch job on a Slurm cluster over SSH, exactly once per run, tracked to its end.

The decisions (adopt, reconcile, requeue, submit) are the core's (`runs.adopt_or_submit`); this operator builds the
options, opens one SSH session per step, defers while the job runs (or runs the trigger's code in the worker) and
reports the end. A retry adopts the job it finds instead of submitting a second one."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any, ClassVar

from airflow.sdk import BaseOperatorLink, Context, conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from beampipe_provider.hooks.ledger import LedgerHook
from beampipe_provider.hooks.slurm import SlurmHook
from beampipe_provider.links.slurm import XCOM_CLUSTER, XCOM_JOB_ID, SlurmJobLink
from beampipe_provider.operators.slurm_wait import CLAIM_WHILE_WAITING, SlurmWaits
from beampipe_provider.operators.task_state import TaskStateJobs, task_actor, task_deadline
from beampipe_provider.runs.adopt_or_submit import JobPlace, JobRef, RunRefused, adopt_or_submit
from beampipe_provider.runs.kill import stop_job
from beampipe_provider.runs.lifecycle import RunLifecycle
from beampipe_provider.scheduler.admission import QueueFull, QueueShare, safe_group
from beampipe_provider.scheduler.base import JobStatus, Phase, RequestRefused, Scheduler, SchedulerError, SubmittedJob
from beampipe_provider.scheduler.slurm import SbatchOptions, sbatch_options
from beampipe_provider.scheduler.slurm.script import job_script
from beampipe_provider.scheduler.slurm.steps import DEFAULT_OUTPUT, job_log_path
from beampipe_provider.scheduler.submission import final_state
from beampipe_provider.triggers.events import JobEvent
from beampipe_provider.triggers.slurm import SlurmJobTrigger

LIMITS_TTL_S = 60.0


class SlurmJobOperator(SlurmWaits):
    """Submit `script` (or `command`) with `sbatch_options` (account, partition, clusters, qos, nodes, ntasks,
    cpus_per_task, mem, time, constraint, reservation, array, dependency, output, error, chdir, extra) and wait.

    Before sbatch the request is checked against the site's limits (read over SSH, kept `limits_ttl` s); when the
    account's queue is full (MaxSubmitJobs, twice MaxJobs, `max_queued`, or `queue_group`'s `queue_share` of
    them) the task waits for room on SlurmAdmissionTrigger instead of submitting. `queue_group` defaults to the
    run's survey. `parameters` are exported to the job as environment variables. With `run_key`, the ledger run moves
    STAGED -> SUBMITTED -> SUCCEEDED | FAILED | CANCELLED and the job is named after the run key; without one the
    job is named after this task instance. Returns (XCom) job id, cluster, state, exit code and log path; on
    failure the error carries the Slurm state, exit code and the tail of the job's output.
    """

    template_fields: Sequence[str] = ("script", "command", "sbatch_options", "parameters", "run_key")
    template_fields_renderers: ClassVar[dict[str, str]] = {
        "script": "bash",
        "command": "bash",
        "sbatch_options": "json",
        "parameters": "json",
    }
    operator_extra_links: tuple[BaseOperatorLink, ...] = (SlurmJobLink(),)

    def __init__(
        self,
        *,
        ssh_conn_id: str = SlurmHook.default_conn_name,
        script: str | None = None,
        command: str | None = None,
        sbatch_options: dict[str, Any] | None = None,
        parameters: dict[str, Any] | None = None,
        run_key: str | None = None,
        beampipe_ledger_conn_id: str = LedgerHook.default_conn_name,
        poll_interval: float = 30.0,
        unknown_grace: float = 600.0,
        log_tail_lines: int = 50,
        max_queued: int | None = None,
        queue_group: str | None = None,
        queue_share: float = 1.0,
        limits_ttl: float = LIMITS_TTL_S,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (script is None) == (command is None):
            raise ValueError("SlurmJobOperator needs exactly one of script or command")
        self.ssh_conn_id = ssh_conn_id
        self.script = script
        self.command = command
        self.sbatch_options = dict(sbatch_options or {})
        self.parameters = dict(parameters or {})
        self.run_key = run_key
        self.beampipe_ledger_conn_id = beampipe_ledger_conn_id
        self.poll_interval = poll_interval
        self.unknown_grace = unknown_grace
        self.log_tail_lines = log_tail_lines
        self.max_queued = max_queued
        self.queue_group = queue_group
        self.queue_share = queue_share
        self.limits_ttl = limits_ttl
        QueueShare(max_queued, safe_group(queue_group), queue_share)  # a bad cap or share fails at parse time
        self.deferrable = deferrable
        self._job: JobRef | None = None
        self._lifecycle: RunLifecycle | None = None
        self._waiting: tuple[asyncio.AbstractEventLoop, asyncio.Task[Any] | None] | None = None  # see on_kill
        self._lineage: dict[str, Any] = {}  # filled as the job ends, read by OpenLineage

    # -- what is submitted (subclasses add their own) ------------------------------------------------------------

    def job_name(self, context: Context) -> str:
        """`bp-<run key>`, or for a task without a run, a hash of the task instance: the same on every retry."""
        if self.run_key:
            return f"bp-{self.run_key}"
        return "bp-" + hashlib.sha256(str(task_actor(context)).encode()).hexdigest()[:32]

    def options(self, context: Context) -> SbatchOptions:
        identity = f"beampipe run {self.run_key}" if self.run_key else f"airflow {task_actor(context)}"
        merged = {"output": DEFAULT_OUTPUT, **self.sbatch_options}
        return sbatch_options(**merged, job_name=self.job_name(context), comment=identity)

    def render_script(self) -> str:
        return job_script(script=self.script, command=self.command, env=self.parameters)

    def clusters(self) -> str | None:
        return self.sbatch_options.get("clusters")

    def on_session(self, context: Context, scheduler: Scheduler) -> None:
        """Called once a step has its SSH session, before anything else (subclasses: find the run directory)."""

    def before_submit(self, context: Context, scheduler: Scheduler) -> None:
        """Called before the job is adopted or submitted (subclasses: place the run's files)."""

    def on_success(self, context: Context, scheduler: Scheduler, event: JobEvent, result: dict[str, Any]) -> Any:
        return result

    def failure_detail(self, scheduler: Scheduler) -> str:
        return ""

    # -- steps ---------------------------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        return self._start(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        with self._scheduler() as scheduler:
            self.on_session(context, scheduler)
            return self._complete(context, scheduler, JobEvent.from_payload(event))

    def _start(self, context: Context) -> Any:
        self._lifecycle = self._run_lifecycle(context)
        with self._scheduler() as scheduler:
            self.on_session(context, scheduler)
            self.before_submit(context, scheduler)
            options = self.options(context)
            job = self._adopt_or_submit(context, scheduler, options)
            self._job = job
            context["ti"].xcom_push(key=XCOM_JOB_ID, value=job.job_id)
            context["ti"].xcom_push(key=XCOM_CLUSTER, value=job.cluster or "")
            self.log.info("Slurm job %s %s (name %s)", job.job_id, job.how, options.job_name)
            if job.already_succeeded:  # the ledger is the record; sacct may have forgotten an old job
                done = JobEvent("success", [job.job_id], "the ledger records this run as SUCCEEDED")
                return self._complete(context, scheduler, done)
            now = scheduler.status([job.job_id])[job.job_id]
            # Finished already (adopted after a crash, or very short) and accounted: no need to wait. Without an
            # exit code yet (sacct lags squeue) the trigger waits for it.
            if now.phase.terminal and now.exit_code is not None:
                return self._complete(context, scheduler, JobEvent.ended([now]))
        trigger = SlurmJobTrigger(
            job_ids=[job.job_id],
            ssh_conn_id=self.ssh_conn_id,
            clusters=options.clusters,
            poll_interval=self.poll_interval,
            deadline=task_deadline(context, self.execution_timeout),
            unknown_grace=self.unknown_grace,
        )
        if self.deferrable:
            self.defer(trigger=trigger, method_name="execute_complete")
        # The trigger's own code, so both modes behave alike. If execution_timeout strikes here, Airflow calls
        # on_kill(), which cancels the job.
        return self.execute_complete(context, self._wait_in_worker(trigger))

    def _adopt_or_submit(self, context: Context, scheduler: Scheduler, options: SbatchOptions) -> JobRef:
        share = self._queue_share()
        script = self.render_script()
        place = JobPlace(
            options.job_name, scheduler.find_by_name, lambda: self._submit(scheduler, options, script, share)
        )
        while True:
            try:
                return adopt_or_submit(
                    place,
                    lifecycle=self._lifecycle,
                    saved_jobs=TaskStateJobs(context),
                    claim_ttl=self.execution_timeout or CLAIM_WHILE_WAITING,
                )
            except QueueFull as full:
                self._wait_for_room(context, options, share, str(full))  # deferrable: defers (raises)
            except (RunRefused, RequestRefused) as exc:
                raise AirflowFailException(str(exc)) from None

    def _submit(self, scheduler: Scheduler, options: SbatchOptions, script: str, share: QueueShare) -> SubmittedJob:
        submitted = scheduler.submit_request(options, script, share)
        if submitted.partition:
            self.log.info(
                "Partition %s: the first of %s that can take this request", submitted.partition, options.partition
            )
        if submitted.estimated_start is not None:
            self.log.info(
                "Slurm expects the job to start at %s (sbatch --test-only)", submitted.estimated_start.isoformat()
            )
        else:
            self.log.info("No start estimate from sbatch --test-only: %s", submitted.estimate_note or "no answer")
        return submitted

    def _complete(self, context: Context, scheduler: Scheduler, event: JobEvent) -> Any:
        options = self.options(context)
        job_id = event.job_ids[0]
        status = event.job() or JobStatus(job_id=job_id, phase=Phase.UNKNOWN, state="")
        if event.status == "timeout":
            self._cancel(scheduler, job_id, "the task's execution_timeout was reached")
        user = SlurmHook(ssh_conn_id=self.ssh_conn_id).get_connection(self.ssh_conn_id).login or ""
        log_path = job_log_path(options, job_id, user)
        tail = self._log_tail(scheduler, log_path)
        if tail:
            self.log.info("Last lines of %s:\n%s", log_path, tail)
        TaskStateJobs(context).mark_done(job_id, status.cluster)
        result = {"job_id": job_id, "cluster": status.cluster, "state": status.state, "exit_code": status.exit_code}
        result["log_path"] = log_path
        self._lineage = {"job": result, "inputs": [], "outputs": []}
        lifecycle = self._lifecycle or self._run_lifecycle(context)
        if lifecycle is not None:
            error = None if event.ok else f"{event.status}: {event.message}"
            lifecycle.ended(lifecycle.current(), status, final_state(event.status, status.phase), error)
        if not event.ok:
            where = f" (exit code {status.exit_code})" if status.exit_code is not None else ""
            detail = f"\n--- last lines of {log_path} ---\n{tail}" if tail else ""
            message = f"Slurm job {job_id} {event.status}: {event.message}{where}{detail}"
            extra = self.failure_detail(scheduler)
            raise AirflowException(f"{message}\n{extra}" if extra else message)
        return self.on_success(context, scheduler, event, result)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Called by the OpenLineage provider, when installed: the job as a run facet, and what a subclass recorded
        as inputs and outputs."""
        from beampipe_provider.operators.lineage import operator_lineage

        job, inputs, outputs = (self._lineage.get(k, d) for k, d in (("job", {}), ("inputs", []), ("outputs", [])))
        return operator_lineage(job, inputs, outputs)

    def on_kill(self) -> None:
        """Killed while waiting in the worker (deferred tasks: the trigger's on_kill): the in-worker wait stops as
        soon as this handler returns, and `runs.kill.stop_job` settles the job, asking Slurm first."""
        self._stop_waiting()
        if self._job is None:
            return
        try:
            with self._scheduler(self._job.cluster) as scheduler:
                stop_job(scheduler, self._job.job_id, self._lifecycle)
        except Exception:  # a kill must not raise: log, and leave the run for the retry to adopt
            self.log.exception("Could not settle Slurm job %s on kill", self._job.job_id)

    # -- helpers ------------------------------------------------------------------------------------------------

    def _scheduler(self, clusters: str | None = None) -> Any:
        hook = SlurmHook(ssh_conn_id=self.ssh_conn_id, clusters=clusters or self.clusters())
        return hook.get_scheduler(limits_ttl=self.limits_ttl)

    def _run_lifecycle(self, context: Context) -> RunLifecycle | None:
        if not self.run_key:
            return None
        store = LedgerHook(beampipe_ledger_conn_id=self.beampipe_ledger_conn_id).get_store()
        return RunLifecycle(store, self.run_key, str(task_actor(context)))

    def _queue_share(self) -> QueueShare:
        """The cap, and the group whose share is counted: `queue_group`, else the run's survey."""
        group = self.queue_group
        if group is None and self._lifecycle is not None:
            group = self._lifecycle.current().survey
        return QueueShare(self.max_queued, safe_group(group), self.queue_share)

    def _log_tail(self, scheduler: Scheduler, path: str) -> str:
        try:
            return scheduler.log_tail(path, self.log_tail_lines)
        except SchedulerError as exc:
            self.log.warning("Could not read the job's output %s: %s", path, exc)
            return ""

    def _cancel(self, scheduler: Scheduler, job_id: str, why: str) -> None:
        try:
            scheduler.cancel([job_id])
            self.log.info("Cancelled Slurm job %s: %s", job_id, why)
        except SchedulerError as exc:
            self.log.error("Could not cancel Slurm job %s: %s", job_id, exc)
