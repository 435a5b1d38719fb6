"""SlurmDaliugeOperator: run a DALiuGE logical graph over a run's datasets as one Slurm job.

It prepares the run's graph and manifest, uploads them with the in-job runner to `{dlg_root}/runs/{run key}/`,
then is a SlurmJobOperator (adopt or submit, defer, finish): nothing of submission or tracking is repeated here.
On success it returns the job's output inventory; on failure the error names the failing drops and carries the
tail of the node manager's log."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

from airflow.sdk import BaseOperatorLink, Context
from airflow.sdk.exceptions import AirflowException

from beampipe_provider.hooks.signing import get_signing_key
from beampipe_provider.hooks.slurm import SlurmHook
from beampipe_provider.links.slurm import XCOM_DLG_SESSION_URL, DaliugeSessionLink, SlurmJobLink
from beampipe_provider.operators.slurm import SlurmJobOperator
from beampipe_provider.provenance.chain import ProvenanceLedger
from beampipe_provider.provenance.run_record import run_record
from beampipe_provider.scheduler.admission import QueueShare
from beampipe_provider.scheduler.base import SchedulerError
from beampipe_provider.scheduler.slurm import SbatchOptions, sbatch_options
from beampipe_provider.workflow.daliuge.bundle import WorkflowError, datasets_from, make_bundle, render_script, upload
from beampipe_provider.workflow.daliuge.graph import load_graph
from beampipe_provider.workflow.facility import Facility, load_facility


class SlurmDaliugeOperator(SlurmJobOperator):
    """`graph`: a logical graph file on the worker. `facility`: a profile name (`setonix`, `local`) or YAML path.
    `datasets`: the staged inputs on the facility, as dataset dicts with `path`, or a CasdaStageOperator report.
    `parameters`: `"node.field"` entries override graph fields (`{outputs}` is the run's outputs directory);
    all of them reach the apps in manifest.json. `inputs_node` is the graph node that receives the input paths."""

    template_fields: Sequence[str] = (
        *SlurmJobOperator.template_fields,
        "graph",
        "datasets",
        "facility",
        "provenance_key_conn_id",
    )
    operator_extra_links: tuple[BaseOperatorLink, ...] = (SlurmJobLink(), DaliugeSessionLink())

    def __init__(
        self,
        *,
        graph: str,
        facility: str,
        datasets: Any,
        parameters: dict[str, Any] | None = None,
        inputs_node: str = "inputs",
        job_timeout_s: float = 6 * 3600,
        provenance_key_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(command="true", parameters=parameters, **kwargs)  # the script is rendered per run
        self.graph = graph
        self.facility = facility
        self.datasets = datasets
        self.inputs_node = inputs_node
        self.job_timeout_s = job_timeout_s
        self.provenance_key_conn_id = provenance_key_conn_id
        self._run_dir: str | None = None
        self._profile: Facility | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        run_dir = self._run_directory(context)
        hook = SlurmHook(ssh_conn_id=self.ssh_conn_id)
        bundle = make_bundle(
            load_graph(self.graph),
            run_key=self.run_key or self.job_name(context),
            datasets=datasets_from(self.datasets),
            parameters=self.parameters,
            inputs_node=self.inputs_node,
            outputs_dir=posixpath.join(run_dir, "outputs"),
        )
        sftp = hook.get_sftp()
        try:
            placed = upload(sftp, run_dir, bundle)
        except WorkflowError as exc:
            raise AirflowException(str(exc)) from None
        finally:
            sftp.close()
        self.log.info(
            "Run files %s in %s (logical graph %s, patched %s)",
            placed,
            run_dir,
            bundle.hashes["logical"][:12],
            bundle.hashes["patched"][:12],
        )
        return super().execute(context)

    def _run_directory(self, context: Context) -> str:
        """{dlg_root}/runs/{run key}, with the login node's $HOME/$USER expanded; the same on every attempt."""
        if self._run_dir is None:
            scheduler = SlurmHook(ssh_conn_id=self.ssh_conn_id).get_scheduler()
            try:
                root = scheduler.expand_path(self._facility().dlg_root)
            finally:
                scheduler.close()
            self._run_dir = posixpath.join(root, "runs", self.run_key or self.job_name(context))
        return self._run_dir

    def options(self, context: Context) -> SbatchOptions:
        own = super().options(context).model_dump(exclude_none=True)
        run_dir = self._run_directory(context)
        merged = {**self._facility().sbatch, **own, "chdir": run_dir}
        if "output" not in self.sbatch_options:
            merged["output"] = posixpath.join(run_dir, "slurm-%j.out")
        return sbatch_options(**merged)

    def render_script(self) -> str:
        return render_script(self._facility(), self._run_dir or ".", timeout_s=self.job_timeout_s)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        self._run_directory(context)  # resumed from the trigger in a new process: the same directory as before
        try:
            result = super().execute_complete(context, event)
        except AirflowException as exc:
            self._push_session_url(context, self._read_json("outcome.json"))
            raise AirflowException(f"{exc}\n{self._failure_detail()}") from None
        outcome = self._read_json("outcome.json")
        self._push_session_url(context, outcome)
        inventory = self._read_json("inventory.json") or []
        staged = datasets_from(self.datasets)
        self._lineage["inputs"] = [
            (str(d.get("archive", "casda")), str(d.get("dataset_id") or d["path"])) for d in staged
        ]
        host = self._facility().login_host
        self._lineage["outputs"] = [(f"file://{host}", str(o["path"])) for o in inventory]
        done = {
            **result,
            "run_dir": self._run_dir,
            "session_id": outcome.get("session_id"),
            "graph_sha256": outcome.get("graph_sha256"),
            "timings": outcome.get("timings"),
            "outputs": inventory,
        }
        if self.provenance_key_conn_id and self.run_key:
            envelope = self._record_provenance(event, outcome, inventory)
            done["provenance"] = {"record_sha256": envelope["record_sha256"], "key_id": envelope["key_id"]}
        elif self.provenance_key_conn_id:
            self.log.warning(
                "No provenance record: it is chained per survey in the ledger, and this task has no run_key"
            )
        return done

    def _record_provenance(self, event: dict[str, Any], outcome: dict[str, Any], inventory: list[Any]) -> Any:
        """Re-verify the outputs on the facility, sign the record, chain it in the ledger, write it beside the
        outputs (provenance.json in the run directory)."""
        run_dir = self._run_dir or "."
        scheduler = SlurmHook(ssh_conn_id=self.ssh_conn_id).get_scheduler()
        try:
            measured = scheduler.checksums([str(o["path"]) for o in inventory])
            image_files = {n: ref for n, ref in self._facility().images.items() if ref.startswith("/")}
            image_digests = scheduler.checksums(list(image_files.values()))
        finally:
            scheduler.close()
        changed = [o["path"] for o in inventory if measured.get(str(o["path"])) != o["sha256"]]
        if changed:
            raise AirflowException(f"outputs changed after the job wrote its inventory: {', '.join(changed)}")
        key = get_signing_key(self.provenance_key_conn_id or "")
        # images: a file on the facility is pinned by its sha256; a registry reference is kept as written (it
        # should carry its own @sha256 digest)
        images = {
            name: {"ref": ref, "sha256": image_digests.get(ref)} if name in image_files else {"ref": ref}
            for name, ref in self._facility().images.items()
        }
        store = self._ledger()
        run = store.get_run(self.run_key or "")
        bundle = self._read_json("bundle.json")

        def make(previous: str | None) -> dict[str, Any]:
            return run_record(
                run={
                    "run_key": run.run_key,
                    "survey": run.survey,
                    "source_id": run.source_id,
                    "workflow": run.workflow,
                    "workflow_version": run.workflow_version,
                },
                ledger_datasets=store.run_datasets(run.run_key),
                staged=datasets_from(self.datasets),
                bundle_hashes=bundle.get("graph_sha256", {}),
                outcome=outcome,
                job=event["jobs"][0] if event.get("jobs") else {},
                facility={**self._facility().model_dump(mode="json"), "images": images},
                parameters=self.parameters,
                outputs=inventory,
                airflow_version=version("apache-airflow"),
                previous=previous,
            )

        envelope = ProvenanceLedger(store.engine).append(run.survey, run.run_key, make, key)
        sftp = SlurmHook(ssh_conn_id=self.ssh_conn_id).get_sftp()
        try:
            with sftp.open(posixpath.join(run_dir, "provenance.json"), "w") as f:
                f.write(json.dumps(envelope, indent=1, sort_keys=True))
        finally:
            sftp.close()
        self.log.info("Provenance record %s signed by key %s", envelope["record_sha256"][:12], envelope["key_id"])
        return envelope

    def _push_session_url(self, context: Context, outcome: dict[str, Any]) -> None:
        template, session = self._facility().session_url, outcome.get("session_id")
        if template and session:
            url = template.format(host=self._facility().login_host, session_id=session)
            context["ti"].xcom_push(key=XCOM_DLG_SESSION_URL, value=url)

    def _queue_share(self, context: Context) -> QueueShare:
        """The operator's own cap, else the facility profile's."""
        want = super()._queue_share(context)
        if want.cap is None and self._facility().max_queued is not None:
            return QueueShare(self._facility().max_queued, want.group, want.share)
        return want

    def _facility(self) -> Facility:
        if self._profile is None:
            self._profile = load_facility(self.facility)
        return self._profile

    def _read_json(self, name: str) -> Any:
        scheduler = SlurmHook(ssh_conn_id=self.ssh_conn_id).get_scheduler()
        try:
            return json.loads(scheduler.read_text(posixpath.join(self._run_dir or ".", name)))
        except (SchedulerError, ValueError) as exc:
            self.log.warning("Could not read %s of the run: %s", name, exc)
            return {}
        finally:
            scheduler.close()

    def _failure_detail(self) -> str:
        outcome = self._read_json("outcome.json")
        lines = [f"DALiuGE: {outcome.get('message', 'no outcome written (the job ended before the graph ran)')}"]
        for drop in outcome.get("failing_drops", []):
            lines.append(f"  drop {drop['name']} ({drop['oid']}): {drop['state']} {drop.get('app_state', '')}".rstrip())
            if drop.get("error"):
                lines.append("    " + drop["error"].strip().replace("\n", "\n    ")[-1000:])
        scheduler = SlurmHook(ssh_conn_id=self.ssh_conn_id).get_scheduler()
        try:
            nm_log = scheduler.log_tail(outcome["nm_log"], 20) if outcome.get("nm_log") else ""
        finally:
            scheduler.close()
        if nm_log:
            lines.append("--- node manager log (last lines) ---\n" + nm_log)
        return "\n".join(lines)
