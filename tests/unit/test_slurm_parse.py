"""Reading squeue/sacct/sbatch text: output captured from the local cluster (Slurm 22.05.8) and the documented
shape of newer releases (multi-cluster headers, states 22.05 cannot produce here)."""

from __future__ import annotations

import pytest

from beampipe_provider.scheduler.base import Phase
from beampipe_provider.scheduler.slurm.parse import (
    STATE_PHASES,
    UnreadableOutput,
    combine,
    parse_sacct,
    parse_sbatch,
    parse_squeue,
    phase_of,
)

# scripts/local-slurm, Slurm 22.05.8: a cancelled job, an array of three (exit 0, 1, 2), a held job, a running one.
SQUEUE_22_05 = """\
13|13|CANCELLED|None|work|node1|2026-11-29T08:35:49|2026-11-29T08:35:50|2026-11-29T08:35:51|bp-cancel
14_0|15|COMPLETED|None|work|node1|2026-11-29T08:35:49|2026-11-29T08:35:50|2026-11-29T08:35:50|bp-arr
14_1|16|FAILED|NonZeroExitCode|work|node1|2026-11-29T08:35:49|2026-11-29T08:35:50|2026-11-29T08:35:50|bp-arr
14_2|14|FAILED|NonZeroExitCode|work|node1|2026-11-29T08:35:49|2026-11-29T08:35:50|2026-11-29T08:35:50|bp-arr
11|11|PENDING|JobHeldUser|work||2026-11-29T08:35:49|N/A|N/A|bp-held
12|12|RUNNING|None|work|node1|2026-11-29T08:35:49|2026-11-29T08:35:50|NONE|bp-run
"""

SACCT_22_05 = """\
10|FAILED|0:9|None|work|node1|2026-11-29T08:35:21|2026-11-29T08:35:22|2026-11-29T08:35:23|beampipe|wrap|
11|PENDING|0:0|JobHeldUser|work|None assigned|2026-11-29T08:35:49|Unknown|Unknown|beampipe|bp-held|
12|RUNNING|0:0|None|work|node1|2026-11-29T08:35:49|2026-11-29T08:35:50|Unknown|beampipe|bp-run|
13|CANCELLED by 1001|0:0|None|work|node1|2026-11-29T08:35:49|2026-11-29T08:35:50|2026-11-29T08:35:51|beampipe|bp-cancel|
14_0|COMPLETED|0:0|None|work|node1|2026-11-29T08:35:49|2026-11-29T08:35:50|2026-11-29T08:35:50|beampipe|bp-arr|
14_1|FAILED|1:0|None|work|node1|2026-11-29T08:35:49|2026-11-29T08:35:50|2026-11-29T08:35:50|beampipe|bp-arr|
14_2|FAILED|2:0|None|work|node1|2026-11-29T08:35:49|2026-11-29T08:35:50|2026-11-29T08:35:50|beampipe|bp-arr|
"""

# The shape squeue -M prints on a multi-cluster site such as Setonix (one header per cluster, newer releases).
SQUEUE_MULTI_CLUSTER = """\
CLUSTER: setonix
2345678|2345678|PENDING|Priority|work||2026-11-29T01:00:00|N/A|N/A|bp-abc
2345679|2345679|OUT_OF_MEMORY|OutOfMemory|work|nid001234|2026-11-29T01:00:00|2026-11-29T01:01:00|2026-11-29T01:05:00|bp-def
"""

SACCT_NEWER = """\
2345680|NODE_FAIL|0:0|None|work|nid001235|2026-11-29T01:00:00|2026-11-29T01:01:00|2026-11-29T02:00:00|setonix|bp-x|
2345681|PREEMPTED|0:15|None|work|nid001236|2026-11-29T01:00:00|2026-11-29T01:01:00|2026-11-29T02:00:00|setonix|bp-y|
2345682|TIMEOUT|0:0|None|debug|nid001237|2026-11-29T01:00:00|2026-11-29T01:01:00|2026-11-29T01:31:00|setonix|bp-z|a|b
2345683|OUT_OF_MEMORY|0:125|None|work|nid001238|2026-11-29T01:00:00|2026-11-29T01:01:00|2026-11-29T01:02:00|setonix|bp-w|
"""


def test_squeue_rows_from_the_local_cluster() -> None:
    rows = {r.job_id: r for r in parse_squeue(SQUEUE_22_05)}
    assert rows["11"].phase is Phase.QUEUED
    assert rows["11"].reason == "JobHeldUser"
    assert rows["11"].started is None
    assert rows["12"].phase is Phase.RUNNING
    assert rows["12"].nodes == "node1"
    assert rows["12"].ended is None
    assert rows["13"].phase is Phase.CANCELLED
    assert rows["14_1"].phase is Phase.FAILED
    assert rows["12"].started is not None
    assert rows["12"].started.tzinfo is not None


def test_sacct_rows_carry_exit_codes_and_full_cancel_state() -> None:
    rows = {r.job_id: r for r in parse_sacct(SACCT_22_05)}
    assert rows["10"].phase is Phase.FAILED
    assert (rows["10"].exit_code, rows["10"].signal) == (0, 9)
    assert rows["13"].state == "CANCELLED by 1001"
    assert rows["13"].phase is Phase.CANCELLED
    assert rows["14_2"].exit_code == 2
    assert rows["11"].nodes == ""
    assert rows["11"].started is None
    assert rows["12"].cluster == "beampipe"


def test_array_tasks_combine_into_one_job() -> None:
    rows = [r for r in parse_sacct(SACCT_22_05) if r.job_id.startswith("14_")]
    array = combine("14", rows)
    assert array is not None
    assert array.phase is Phase.FAILED
    assert array.exit_code == 2
    assert array.state == "1 COMPLETED, 2 FAILED"


def test_array_with_a_pending_range_is_not_done() -> None:
    rows = parse_squeue(
        "20_[3-9]|20|PENDING|JobArrayTaskLimit|work||2026-11-29T08:00:00|N/A|N/A|bp-a\n"
        "20_0|21|COMPLETED|None|work|node1|2026-11-29T08:00:00|2026-11-29T08:00:01|2026-11-29T08:00:02|bp-a\n"
    )
    combined = combine("20", rows)
    assert combined is not None
    assert combined.phase is Phase.QUEUED
    assert combined.ended is None


def test_multi_cluster_headers_name_the_cluster() -> None:
    rows = parse_squeue(SQUEUE_MULTI_CLUSTER)
    assert [r.cluster for r in rows] == ["setonix", "setonix"]
    assert rows[1].phase is Phase.FAILED
    assert rows[1].state == "OUT_OF_MEMORY"


def test_newer_release_states_and_fields_after_the_name() -> None:
    rows = {r.job_id: r for r in parse_sacct(SACCT_NEWER)}
    assert {k: r.phase for k, r in rows.items()} == {
        "2345680": Phase.FAILED,
        "2345681": Phase.FAILED,
        "2345682": Phase.FAILED,
        "2345683": Phase.FAILED,
    }
    assert rows["2345682"].comment == "a|b"  # a '|' in the last field does not shift the others


@pytest.mark.parametrize(
    ("state", "phase"),
    [
        ("PENDING", Phase.QUEUED),
        ("CONFIGURING", Phase.QUEUED),
        ("REQUEUED", Phase.QUEUED),
        ("RUNNING", Phase.RUNNING),
        ("COMPLETING", Phase.RUNNING),
        ("SUSPENDED", Phase.RUNNING),
        ("RESIZING", Phase.RUNNING),
        ("COMPLETED", Phase.SUCCEEDED),
        ("FAILED", Phase.FAILED),
        ("CANCELLED", Phase.CANCELLED),
        ("CANCELLED by 1000", Phase.CANCELLED),
        ("CANCELLED+", Phase.CANCELLED),
        ("TIMEOUT", Phase.FAILED),
        ("OUT_OF_MEMORY", Phase.FAILED),
        ("NODE_FAIL", Phase.FAILED),
        ("PREEMPTED", Phase.FAILED),
        ("BOOT_FAIL", Phase.FAILED),
        ("DEADLINE", Phase.FAILED),
        ("SOMETHING_NEW", Phase.UNKNOWN),
        ("", Phase.UNKNOWN),
    ],
)
def test_every_slurm_state_has_a_phase(state: str, phase: Phase) -> None:
    assert phase_of(state) is phase


def test_no_state_word_maps_to_success_but_completed() -> None:
    assert [s for s, p in STATE_PHASES.items() if p is Phase.SUCCEEDED] == ["COMPLETED"]


def test_completed_with_a_nonzero_exit_is_a_failure() -> None:
    assert phase_of("COMPLETED", 3) is Phase.FAILED


def test_sbatch_parsable_with_and_without_cluster() -> None:
    assert parse_sbatch("12345\n").job_id == "12345"
    submitted = parse_sbatch("sbatch: warning: something\n2345678;setonix\n")
    assert (submitted.job_id, submitted.cluster) == ("2345678", "setonix")


@pytest.mark.parametrize("text", ["", "Submitted batch job 5\n", "abc;setonix"])
def test_sbatch_without_a_job_id_is_refused(text: str) -> None:
    with pytest.raises(UnreadableOutput, match="no job id"):
        parse_sbatch(text)


def test_a_short_line_is_an_error_that_quotes_it() -> None:
    with pytest.raises(UnreadableOutput, match=r"expected 10: '12\|RUNNING'"):
        parse_squeue("12|RUNNING\n")
