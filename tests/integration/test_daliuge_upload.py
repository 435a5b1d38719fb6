"""Uploading a run's bundle over real SFTP: atomic, reused when identical, refused when different."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from beampipe_provider.workflow.base import RunBundle as Bundle
from beampipe_provider.workflow.base import WorkflowError
from beampipe_provider.workflow.bundle import upload
from beampipe_provider.workflow.daliuge.bundle import make_bundle
from beampipe_provider.workflow.daliuge.graph import load_graph
from tests.slurm_cluster import LocalSlurm

DEMO = Path(__file__).resolve().parents[2] / "dags" / "graphs" / "wallaby_hires_demo.graph"


def bundle(path: str) -> Bundle:
    return make_bundle(
        load_graph(DEMO),
        run_key="k",
        datasets=[{"path": path}],
        parameters={},
        inputs_node="inputs",
        outputs_dir="/o",
    )


def test_upload_is_atomic_reused_and_never_mixed(slurm: LocalSlurm) -> None:
    client = slurm.connect()
    sftp = client.open_sftp()
    run_dir = f"/home/{slurm.user}/dlg/test-runs/{uuid.uuid4().hex}"
    try:
        first = bundle("/a.tar")
        assert upload(sftp, run_dir, first) == "uploaded"
        assert sorted(sftp.listdir(run_dir)) == [
            "bundle.json",
            "canonical.py",
            "dlg_job.py",
            "logical.graph",
            "manifest.json",
        ]
        assert not [n for n in sftp.listdir(run_dir.rsplit("/", 1)[0]) if n.endswith(".partial")]
        assert upload(sftp, run_dir, bundle("/a.tar")) == "reused"
        with pytest.raises(WorkflowError, match="refusing to mix two versions of one run"):
            upload(sftp, run_dir, bundle("/b.tar"))
        with sftp.open(f"{run_dir}/manifest.json") as f:
            assert b"/a.tar" in f.read()  # the first bundle, untouched
    finally:
        sftp.close()
        client.close()
