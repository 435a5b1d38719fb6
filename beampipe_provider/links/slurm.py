"""Extra links. SlurmJobLink: a button on the task page that opens the site's job page (e.g. a Slurm dashboard).

The URL comes from Airflow config `[beampipe] slurm_job_url_template`, with `{job_id}` and `{cluster}` filled
from the task's XCom; without a template the link stays empty, so the button is not shown."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink, conf
from airflow.sdk.execution_time.xcom import XCom

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey

XCOM_JOB_ID = "slurm_job_id"
XCOM_CLUSTER = "slurm_cluster"
XCOM_DLG_SESSION_URL = "dlg_session_url"


class SlurmJobLink(BaseOperatorLink):
    name = "Slurm job"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        template = conf.get("beampipe", "slurm_job_url_template", fallback="")
        job_id = XCom.get_value(ti_key=ti_key, key=XCOM_JOB_ID)
        if not template or not job_id:
            return ""
        cluster = XCom.get_value(ti_key=ti_key, key=XCOM_CLUSTER) or ""
        return template.format(job_id=quote(str(job_id)), cluster=quote(str(cluster)))


class WorkflowSessionLink(BaseOperatorLink):
    """The workflow engine's web monitor of the run, where the facility profile has one (`session_url`)."""

    name = "Workflow session"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return str(XCom.get_value(ti_key=ti_key, key=XCOM_DLG_SESSION_URL) or "")


class DaliugeSessionLink(WorkflowSessionLink):
    name = "DALiuGE session"
