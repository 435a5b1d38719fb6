"""SlurmJobOperator: run one batch job on a Slurm cluster over SSH, exactly once per run, tracked to its end.

Before any sbatch it looks for the job this task may already have: the job id saved in `task_state_store`, the
ledger's job id for the run, or a job with this task's job name in squeue/sacct. Only when none exists does it
submit, and it saves the job id at once. A lost sbatch answer marks the run UNCERTAIN and is resolved by name,
never by a blind resubmission. While the job runs the task defers to SlurmJobTrigger (or, not deferrable, runs
the same trigger code in the worker)."""

from __future__ import annotations

import asyncio
import hashlib
import posixpath
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from airflow.sdk import BaseOperator, BaseOperatorLink, Context, conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from airflow.triggers.base import BaseTrigger

from beampipe_provider.hooks.ledger import LedgerHook
from beampipe_provider.hooks.slurm import SlurmHook
from beampipe_provider.ledger.errors import StaleState
from beampipe_provider.ledger.states import RECLAIMABLE, TERMINAL, RunState
from beampipe_provider.ledger.store import LedgerStore, Run
from beampipe_provider.links.slurm import XCOM_CLUSTER, XCOM_JOB_ID, SlurmJobLink
from beampipe_provider.scheduler.admission import QueueFull, QueueShare, bounds, safe_group, tag_comment
from beampipe_provider.scheduler.base import JobStatus, Phase, SchedulerError, SubmissionUncertain, TransportError
from beampipe_provider.scheduler.slurm import SbatchOptions, SlurmScheduler, sbatch_options
from beampipe_provider.scheduler.slurm.limits import SiteLimits, choose_partition, request_problems
from beampipe_provider.scheduler.slurm.script import job_script
from beampipe_provider.scheduler.slurm.steps import expand_log_path
from beampipe_provider.triggers.slurm import SlurmAdmissionTrigger, SlurmJobTrigger

STATE_KEY = "slurm_job"  # task_state_store entry: {"job_id", "cluster", "done": [ids of jobs already handled]}
DEFAULT_OUTPUT = "beampipe-%j.out"
RECONCILE_WAITS_S = (5, 10, 20, 40, 60)
LIMITS_TTL_S = 60.0  # partitions and associations change rarely; a changed limit is seen within a minute
CLAIM_WHILE_WAITING = timedelta(days=1)  # without an execution_timeout, how long a run waiting for room stays ours
ALREADY_SUCCEEDED = "already succeeded (ledger)"  # lets a straggling sbatch land before deciding it never ran


@dataclass(frozen=True)
class _Job:
    job_id: str
    cluster: str | None
    how: str  # submitted | adopted
    estimated_start: str | None = None  # sbatch --test-only's answer, ISO 8601 UTC


class SlurmJobOperator(BaseOperator):
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
        self._job: _Job | None = None
        self._actor: str | None = None
        self._lineage: dict[str, Any] = {}  # filled as the job ends, read by OpenLineage

    # -- naming -------------------------------------------------------------------------------------------------

    @staticmethod
    def task_identity(context: Context) -> str:
        ti = context["ti"]
        return f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{ti.map_index}"

    def job_name(self, context: Context) -> str:
        """`bp-<run key>`, or for a task without a run, a hash of the task instance: the same on every retry."""
        if self.run_key:
            return f"bp-{self.run_key}"
        return "bp-" + hashlib.sha256(self.task_identity(context).encode()).hexdigest()[:32]

    def options(self, context: Context) -> SbatchOptions:
        identity = f"beampipe run {self.run_key}" if self.run_key else f"airflow {self.task_identity(context)}"
        return sbatch_options(
            **{"output": DEFAULT_OUTPUT, **self.sbatch_options},
            job_name=self.job_name(context),
            comment=identity,
        )

    def render_script(self) -> str:
        return job_script(script=self.script, command=self.command, env=self.parameters)

    # -- execution ----------------------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        return self._submit_and_wait(context)

    def execute_admitted(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Back from SlurmAdmissionTrigger: the queue has room, so try to submit again."""
        self._admitted(event)
        return self._submit_and_wait(context)

    def _submit_and_wait(self, context: Context) -> dict[str, Any]:
        self._actor = self.task_identity(context)
        options = self.options(context)
        script = self.render_script()
        scheduler = self._hook(options).get_scheduler()
        try:
            while True:
                try:
                    job = self._adopt_or_submit(context, scheduler, options, script)
                    break
                except QueueFull as full:
                    self._wait_for_room(context, options, str(full))  # deferrable: defers (raises)
            self._job = job
            context["ti"].xcom_push(key=XCOM_JOB_ID, value=job.job_id)
            context["ti"].xcom_push(key=XCOM_CLUSTER, value=job.cluster or "")
            self.log.info("Slurm job %s %s (name %s)", job.job_id, job.how, options.job_name)
            if job.how == ALREADY_SUCCEEDED:  # the ledger is the record; sacct may have forgotten an old job
                message = "the ledger records this run as SUCCEEDED"
                return self.execute_complete(
                    context, {"status": "success", "job_ids": [job.job_id], "jobs": [], "message": message}
                )
            now = scheduler.status([job.job_id])[job.job_id]
        finally:
            scheduler.close()
        # Finished already (adopted after a crash, or very short) and accounted: no need to wait. Without an exit code
        # yet (sacct lags squeue) the trigger waits for it.
        if now.phase.terminal and now.exit_code is not None:
            return self.execute_complete(context, _event("success" if now.phase is Phase.SUCCEEDED else "failed", now))
        trigger = SlurmJobTrigger(
            job_ids=[job.job_id],
            ssh_conn_id=self.ssh_conn_id,
            clusters=options.clusters,
            poll_interval=self.poll_interval,
            deadline=self._deadline(context),
            unknown_grace=self.unknown_grace,
        )
        if self.deferrable:
            self.defer(trigger=trigger, method_name="execute_complete")
        # The trigger's own code, so both modes behave alike. If execution_timeout strikes here, Airflow calls
        # on_kill(), which cancels the job.
        event = asyncio.run(_first_event(trigger))
        return self.execute_complete(context, event)

    def _wait_for_room(self, context: Context, options: SbatchOptions, why: str) -> None:
        """The account's queue is full: wait, without holding a submission slot, until SlurmAdmissionTrigger sees
        room. Not a failure: a survey of 500 runs trickles in at the pace the facility allows."""
        self.log.info("Not submitting yet: %s. Waiting for room in the queue.", why)
        self._keep_claim()
        want = self._queue_share(context)
        trigger = SlurmAdmissionTrigger(
            job_name=options.job_name,
            ssh_conn_id=self.ssh_conn_id,
            clusters=options.clusters,
            max_queued=want.cap,
            group=want.group,
            share=want.share,
            poll_interval=self.poll_interval,
            limits_ttl=self.limits_ttl,
            deadline=self._deadline(context),
        )
        if self.deferrable:
            self.defer(trigger=trigger, method_name="execute_admitted")
        self._admitted(asyncio.run(_first_event(trigger)))

    def _keep_claim(self) -> None:
        """A run waiting for room keeps its claim for as long as the task may wait: otherwise, once the claim
        expires, a later DAG run could claim and stage the same run while this task still means to submit it."""
        if not self.run_key:
            return
        store = self._ledger()
        run = store.get_run(self.run_key)
        if run.claimed_by is None or run.state not in RECLAIMABLE:
            return
        try:
            store.renew_claim(self.run_key, run.claimed_by, ttl=self.execution_timeout or CLAIM_WHILE_WAITING)
        except StaleState:
            self.log.warning("The claim on run %s expired before it could be renewed", self.run_key)

    def _admitted(self, event: dict[str, Any]) -> None:
        if event["status"] != "admitted":
            raise AirflowException(f"Slurm job not submitted: {event['message']}")
        self.log.info("Submitting: %s", event["message"])

    def _queue_share(self, context: Context) -> QueueShare:
        """The cap, and the group whose share is counted: `queue_group`, else the run's survey."""
        group = self.queue_group
        if group is None and self.run_key:
            group = self._ledger().get_run(self.run_key).survey
        return QueueShare(self.max_queued, safe_group(group), self.queue_share)

    def _deadline(self, context: Context) -> float | None:
        """execution_timeout as an absolute time, a little before Airflow's own trigger timeout (start date +
        execution_timeout), so this task, not Airflow, ends the wait and can cancel the job."""
        if not self.execution_timeout:
            return None
        start = context["ti"].start_date
        budget = self.execution_timeout.total_seconds()
        begun = start.timestamp() if start else time.time()
        return begun + budget - min(30.0, budget * 0.1)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        options = self.options(context)
        job_id = event["job_ids"][0]
        status = JobStatus(job_id=job_id, phase=Phase.UNKNOWN, state="")
        if event["jobs"]:
            status = JobStatus.from_json(event["jobs"][0])
        if event["status"] == "timeout":
            self._cancel(options, job_id, "the task's execution_timeout was reached")
        log_path = self._log_path(options, job_id)
        tail = self._log_tail(options, log_path)
        if tail:
            self.log.info("Last lines of %s:\n%s", log_path, tail)
        self._mark_done(context, job_id, status.cluster)
        result = {
            "job_id": job_id,
            "cluster": status.cluster,
            "state": status.state,
            "exit_code": status.exit_code,
            "log_path": log_path,
        }
        ok = event["status"] == "success"
        self._lineage = {"job": result, "inputs": [], "outputs": []}
        self._record_outcome(context, status, ok, event)
        if not ok:
            where = f" (exit code {status.exit_code})" if status.exit_code is not None else ""
            detail = f"\n--- last lines of {log_path} ---\n{tail}" if tail else ""
            raise AirflowException(f"Slurm job {job_id} {event['status']}: {event['message']}{where}{detail}")
        return result

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Called by the OpenLineage provider, when installed: the job as a run facet, and what a subclass recorded
        as inputs and outputs."""
        from beampipe_provider.operators.lineage import operator_lineage

        return operator_lineage(
            self._lineage.get("job", {}), self._lineage.get("inputs", []), self._lineage.get("outputs", [])
        )

    def on_kill(self) -> None:
        """The task was killed while polling in the worker: cancel its job (deferred tasks: the trigger's on_kill)."""
        if self._job is None:
            return
        self._cancel(SbatchOptions(job_name="x", clusters=self._job.cluster), self._job.job_id, "task killed")
        if self.run_key and self._actor:
            run = self._ledger().get_run(self.run_key)
            if run.state in (RunState.SUBMITTED, RunState.RUNNING):
                self._transition(self._actor, RunState.CANCELLED, error="task killed; Slurm job cancelled")

    # -- adopt or submit ----------------------------------------------------------------------------------------

    def _adopt_or_submit(
        self, context: Context, scheduler: SlurmScheduler, options: SbatchOptions, script: str
    ) -> _Job:
        saved = _load_saved(context)
        done = set(saved.done) if saved else set()
        if saved and saved.job_id and saved.job_id not in done:
            return self._record(context, _Job(saved.job_id, saved.cluster, "adopted (task state)"), done)
        run = self._ledger().get_run(self.run_key) if self.run_key else None
        if run is not None:
            if run.scheduler_job_id and run.state is RunState.SUCCEEDED:
                return _Job(run.scheduler_job_id, run.facility, ALREADY_SUCCEEDED)
            if run.scheduler_job_id and run.state in (RunState.SUBMITTED, RunState.RUNNING):
                return self._record(context, _Job(run.scheduler_job_id, run.facility, "adopted (ledger)"), done)
            if run.state is RunState.UNCERTAIN:
                return self._reconcile(context, scheduler, options, script, done)
            if run.state in (RunState.FAILED, RunState.CANCELLED) and run.scheduler_job_id:
                done.add(run.scheduler_job_id)  # that job ended; this retry makes a new one
                self._requeue(context, run)
            elif run.state not in (RunState.CLAIMED, RunState.STAGED):
                raise AirflowException(f"run {run.run_key} is {run.state}: it cannot be submitted")
        found = self._find(scheduler, options.job_name, done, trust_failed=saved is not None)
        if found is not None:
            return self._record(context, _Job(found.job_id, found.cluster, "adopted (found by name)"), done)
        return self._submit(context, scheduler, options, script, done)

    @staticmethod
    def _find(scheduler: SlurmScheduler, name: str, done: set[str], *, trust_failed: bool) -> JobStatus | None:
        """This task's job, if Slurm has one: live first, then the latest ended one. An ended failure is adopted only
        when the task state store would have listed it as handled (so it is the job a crash left behind)."""
        jobs = [j for j in scheduler.find_by_name(name) if j.job_id not in done]
        live = [j for j in jobs if not j.phase.terminal]
        if live:
            return live[-1]
        if jobs and (jobs[-1].phase is Phase.SUCCEEDED or trust_failed):
            return jobs[-1]
        return None

    def _submit(
        self, context: Context, scheduler: SlurmScheduler, options: SbatchOptions, script: str, done: set[str]
    ) -> _Job:
        options, limits = self._admit(context, scheduler, options)
        want = self._queue_share(context)
        options = options.model_copy(update={"comment": tag_comment(options.comment or "", want.group)})
        try:
            submitted = scheduler.submit(options, script, guard=bounds(limits.user.caps, want), estimate=True)
        except SubmissionUncertain as exc:
            self.log.warning("%s; resolving by job name", exc)
            self._transition(self.task_identity(context), RunState.UNCERTAIN, error=str(exc))
            return self._reconcile(context, scheduler, options, script, done)
        start = submitted.estimated_start
        if start is not None:
            self.log.info("Slurm expects the job to start at %s (sbatch --test-only)", start.isoformat())
        else:
            self.log.info("No start estimate from sbatch --test-only: %s", submitted.estimate_note or "no answer")
        estimate = start.isoformat() if start else None
        return self._record(context, _Job(submitted.job_id, submitted.cluster, "submitted", estimate), done)

    def _admit(
        self, context: Context, scheduler: SlurmScheduler, options: SbatchOptions
    ) -> tuple[SbatchOptions, SiteLimits]:
        """Refuse, before sbatch, what the partition or the user's association cannot grant: a job that would pend
        for ever (or be rejected) fails now, naming the limit and the partition. The run becomes FAILED, so a fixed
        configuration can requeue it. Several partitions (`debug,work`) are candidates in order of preference: the
        job goes to the first that can take it."""
        limits = _site_limits(self.ssh_conn_id, scheduler, self.limits_ttl)
        if options.partition and "," in options.partition:
            chosen, problems = choose_partition(options, limits)
            if chosen:
                self.log.info("Partition %s: the first of %s that can take this request", chosen, options.partition)
                return options.model_copy(update={"partition": chosen}), limits
        else:
            problems = request_problems(options, limits.partitions, limits.user)
        if not problems:
            return options, limits
        message = "Slurm would not run this request: " + "; ".join(problems)
        if self.run_key:
            self._transition(self.task_identity(context), RunState.FAILED, error=message)
        raise AirflowFailException(message)

    def _reconcile(
        self, context: Context, scheduler: SlurmScheduler, options: SbatchOptions, script: str, done: set[str]
    ) -> _Job:
        """UNCERTAIN: look for the job by name until Slurm answers. Found -> adopt; provably absent -> submit."""
        for wait in RECONCILE_WAITS_S:
            time.sleep(wait)
            try:
                jobs = [j for j in scheduler.find_by_name(options.job_name) if j.job_id not in done]
            except TransportError as exc:
                self.log.warning("Slurm unreachable while resolving an uncertain submission: %s", exc)
                continue
            if jobs:
                return self._record(context, _Job(jobs[-1].job_id, jobs[-1].cluster, "adopted (was uncertain)"), done)
            actor = self.task_identity(context)
            self._transition(actor, RunState.STAGED, detail={"reconciled": "no job with this name"})
            return self._submit(context, scheduler, options, script, done)
        raise AirflowException(
            f"could not reach Slurm to find job {options.job_name}; the run stays UNCERTAIN and a retry resolves it"
        )

    def _record(self, context: Context, job: _Job, done: set[str]) -> _Job:
        """Save the job id before anything else can fail: task state first, then the ledger."""
        _save(context, _Saved(job.job_id, job.cluster, sorted(done)))
        if self.run_key:
            run = self._ledger().get_run(self.run_key)
            if run.state in (RunState.CLAIMED, RunState.STAGED, RunState.UNCERTAIN):
                self._transition(
                    self.task_identity(context),
                    RunState.SUBMITTED,
                    scheduler_job_id=job.job_id,
                    detail={"how": job.how, "cluster": job.cluster, "estimated_start": job.estimated_start},
                )
        return job

    # -- ledger -------------------------------------------------------------------------------------------------

    def _ledger(self) -> LedgerStore:
        return LedgerHook(beampipe_ledger_conn_id=self.beampipe_ledger_conn_id).get_store()

    def _transition(
        self,
        actor: str,
        to: RunState,
        *,
        scheduler_job_id: str | None = None,
        error: str | None = None,
        detail: dict[str, Any] | None = None,
        entered_at: datetime | None = None,
    ) -> Run | None:
        if not self.run_key:
            return None
        store = self._ledger()
        run = store.get_run(self.run_key)
        return store.transition(
            self.run_key,
            expected=run.state,
            to=to,
            actor=actor,
            scheduler="slurm",
            facility=self.sbatch_options.get("clusters") or self.ssh_conn_id,
            scheduler_job_id=scheduler_job_id,
            error=error,
            detail=detail,
            entered_at=entered_at,
        )

    def _requeue(self, context: Context, run: Run) -> None:
        """A retry after the run's job ended badly: the run goes back to the queue and is claimed by this task."""
        store = self._ledger()
        actor = self.task_identity(context)
        store.transition(run.run_key, expected=run.state, to=RunState.DISCOVERED, actor=actor, detail={"retry": True})
        store.claim_runs(actor, ttl=self.execution_timeout or timedelta(days=1), run_keys=[run.run_key])

    def _record_outcome(self, context: Context, status: JobStatus, ok: bool, event: dict[str, Any]) -> None:
        if not self.run_key:
            return
        run = self._ledger().get_run(self.run_key)
        if run.state in TERMINAL or run.state not in (RunState.SUBMITTED, RunState.RUNNING):
            return  # recorded by an earlier attempt
        if run.state is RunState.SUBMITTED and status.started is not None:
            started = status.started.isoformat()
            self._transition(
                self.task_identity(context), RunState.RUNNING, detail={"started": started}, entered_at=status.started
            )
        if ok:
            to = RunState.SUCCEEDED
        elif status.phase is Phase.CANCELLED or event["status"] == "timeout":
            to = RunState.CANCELLED
        else:
            to = RunState.FAILED
        self._transition(
            self.task_identity(context),
            to,
            error=None if ok else f"{event['status']}: {event['message']}",
            detail={"state": status.state, "exit_code": status.exit_code, "ended": _iso(status)},
        )

    # -- helpers ------------------------------------------------------------------------------------------------

    def _hook(self, options: SbatchOptions) -> SlurmHook:
        return SlurmHook(ssh_conn_id=self.ssh_conn_id, clusters=options.clusters)

    def _mark_done(self, context: Context, job_id: str, cluster: str | None) -> None:
        saved = _load_saved(context)
        if saved is not None:
            _save(context, _Saved(job_id, cluster, sorted({*saved.done, job_id})))

    def _log_path(self, options: SbatchOptions, job_id: str) -> str:
        user = self._hook(options).get_connection(self.ssh_conn_id).login or ""
        path = expand_log_path(options.output or DEFAULT_OUTPUT, job_id, options.job_name, user)
        return posixpath.join(options.chdir, path) if options.chdir and not posixpath.isabs(path) else path

    def _log_tail(self, options: SbatchOptions, path: str) -> str:
        scheduler = self._hook(options).get_scheduler()
        try:
            return scheduler.log_tail(path, self.log_tail_lines)
        except SchedulerError as exc:
            self.log.warning("Could not read the job's output %s: %s", path, exc)
            return ""
        finally:
            scheduler.close()

    def _cancel(self, options: SbatchOptions, job_id: str, why: str) -> None:
        scheduler = self._hook(options).get_scheduler()
        try:
            scheduler.cancel([job_id])
            self.log.info("Cancelled Slurm job %s: %s", job_id, why)
        except SchedulerError as exc:
            self.log.error("Could not cancel Slurm job %s: %s", job_id, exc)
        finally:
            scheduler.close()


@dataclass(frozen=True)
class _Saved:
    """What task_state_store keeps across retries."""

    job_id: str | None = None
    cluster: str | None = None
    done: list[str] = field(default_factory=list)  # jobs whose end this task already handled


_LIMITS: dict[tuple[str, str | None], tuple[float, SiteLimits]] = {}


def _site_limits(ssh_conn_id: str, scheduler: SlurmScheduler, ttl: float) -> SiteLimits:
    """The site's limits, read over the task's own connection and kept `ttl` s per login node and cluster."""
    key = (ssh_conn_id, scheduler.clusters)
    cached = _LIMITS.get(key)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    limits = scheduler.limits()
    _LIMITS[key] = (time.monotonic() + ttl, limits)
    return limits


def _load_saved(context: Context) -> _Saved | None:
    """None when the task has no state store (then nothing proves a failed job was already handled)."""
    state_store = context.get("task_state_store")
    if state_store is None:
        return None
    raw = state_store.get(STATE_KEY)
    if not isinstance(raw, dict):
        return _Saved()
    job_id, cluster, done = raw.get("job_id"), raw.get("cluster"), raw.get("done")
    return _Saved(
        job_id=str(job_id) if job_id else None,
        cluster=str(cluster) if cluster else None,
        done=[str(d) for d in done] if isinstance(done, list) else [],
    )


def _save(context: Context, saved: _Saved) -> None:
    state_store = context.get("task_state_store")
    if state_store is not None:
        state_store.set(STATE_KEY, {"job_id": saved.job_id, "cluster": saved.cluster, "done": list(saved.done)})


def _iso(status: JobStatus) -> str | None:
    return status.ended.isoformat() if status.ended else None


def _event(status: str, job: JobStatus) -> dict[str, Any]:
    # The trigger's event for the same job, word for word: the ledger's last_error reads the same either way.
    return {"status": status, "job_ids": [job.job_id], "jobs": [job.to_json()], "message": job.describe()}


async def _first_event(trigger: BaseTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise AirflowException("the Slurm trigger ended without an event")
