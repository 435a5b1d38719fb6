"""Reading a site's limits from Slurm's text output, and refusing a request a partition cannot grant."""

from __future__ import annotations

from datetime import timedelta

import pytest

from beampipe_provider.scheduler.slurm.limits import (
    SiteLimits,
    UserLimits,
    choose_partition,
    parse_duration,
    parse_memory_mb,
    parse_partitions,
    parse_user_limits,
    parse_user_queue,
    request_problems,
)
from beampipe_provider.scheduler.slurm.options import sbatch_options

# `scontrol show partition -o` on the local 22.05 cluster (scripts/local-slurm), verbatim but for long tails.
LOCAL_22_05 = (
    "PartitionName=work AllowGroups=ALL AllowAccounts=ALL AllowQos=ALL AllocNodes=ALL Default=YES QoS=N/A "
    "DefaultTime=NONE DisableRootJobs=NO ExclusiveUser=NO GraceTime=0 Hidden=NO MaxNodes=UNLIMITED "
    "MaxTime=UNLIMITED MinNodes=0 LLN=NO MaxCPUsPerNode=UNLIMITED Nodes=node1 State=UP TotalCPUs=8 TotalNodes=1 "
    "DefMemPerNode=UNLIMITED MaxMemPerNode=UNLIMITED TRES=cpu=8,mem=8G,node=1,billing=8\n"
    "PartitionName=debug AllowGroups=ALL Default=NO QoS=N/A DefaultTime=NONE MaxNodes=UNLIMITED MaxTime=00:30:00 "
    "MinNodes=0 Nodes=node1 State=UP TotalCPUs=8 TotalNodes=1 DefMemPerNode=UNLIMITED MaxMemPerNode=UNLIMITED\n"
)
# The shape documented for newer releases (24.05 `scontrol show partition -o`, Setonix-like values), behind a
# multi-cluster header line.
SETONIX_LIKE = (
    "CLUSTER: setonix\n"
    "PartitionName=work AllowGroups=ALL AllowAccounts=ALL AllowQos=ALL AllocNodes=ALL Default=YES QoS=N/A "
    "DefaultTime=01:00:00 DisableRootJobs=NO ExclusiveUser=NO ExclusiveTopo=NO GraceTime=0 Hidden=NO "
    "MaxNodes=UNLIMITED "
    "MaxTime=1-00:00:00 MinNodes=0 LLN=NO MaxCPUsPerNode=UNLIMITED MaxCPUsPerSocket=UNLIMITED NodeSets=ALL "
    "Nodes=nid[001000-001503] PriorityJobFactor=0 PriorityTier=0 RootOnly=NO ReqResv=NO OverSubscribe=FORCE:1 "
    "OverTimeLimit=NONE PreemptMode=OFF State=UP TotalCPUs=258048 TotalNodes=1008 SelectTypeParameters=NONE "
    "JobDefaults=(null) DefMemPerCPU=1840 MaxMemPerNode=235520 TRES=cpu=258048,mem=231840G,node=1008\n"
    "PartitionName=debug Default=NO MaxNodes=4 MaxTime=01:00:00 State=UP TotalNodes=8 MaxMemPerNode=235520\n"
    "PartitionName=long Default=NO MaxNodes=1 MaxTime=4-00:00:00 State=DRAIN TotalNodes=8 MaxMemPerNode=UNLIMITED\n"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30", timedelta(minutes=30)),
        ("30:15", timedelta(minutes=30, seconds=15)),
        ("02:00:00", timedelta(hours=2)),
        ("1-00:00:00", timedelta(days=1)),
        ("2-12", timedelta(days=2, hours=12)),
        ("UNLIMITED", None),
        ("NONE", None),
    ],
)
def test_slurm_times_read_as_durations(text: str, expected: timedelta | None) -> None:
    assert parse_duration(text) == expected


def test_memory_sizes_read_in_megabytes() -> None:
    assert [parse_memory_mb(v) for v in ("2G", "1500M", "4096", "1T", "UNLIMITED")] == [2048, 1500, 4096, 1 << 20, None]
    with pytest.raises(ValueError, match="not a Slurm memory size"):
        parse_memory_mb("lots")


def test_partitions_of_22_05_and_of_a_newer_multi_cluster_site() -> None:
    local = parse_partitions(LOCAL_22_05)
    assert local["debug"].max_time == timedelta(minutes=30)
    assert local["work"].default
    assert local["work"].max_time is None
    site = parse_partitions(SETONIX_LIKE)
    assert sorted(site) == ["debug", "long", "work"]
    assert site["work"].max_time == timedelta(days=1)
    assert site["debug"].max_nodes == 4
    assert site["work"].max_mem_per_node_mb == 235520
    assert site["long"].state == "DRAIN"


def test_user_limits_take_the_tightest_of_association_and_qos() -> None:
    limits = parse_user_limits("20||1-00:00:00|normal,high\n", "normal|3|2|\nhigh|50||02:00:00\nother|1|1|\n")
    assert limits == UserLimits(max_submit=3, max_jobs=2, max_wall=timedelta(hours=2))
    assert parse_user_limits("|||normal\n", "normal||||\n") == UserLimits()


def test_tres_limits_take_the_tightest_and_a_request_over_them_is_refused_naming_the_limit() -> None:
    # assoc GrpTRES cpu=64,node=4 with MaxTRES node=2 per job; its QOS caps memory per job at 500G
    limits = parse_user_limits("|||normal|cpu=64,node=4|node=2\n", "normal||||gres/gpu=8|mem=500G\n")
    assert limits.max_tres == {"cpu": 64, "node": 2, "gres/gpu": 8, "mem": 512_000}
    site = parse_partitions(SETONIX_LIKE)
    problems = request_problems(sbatch_options(job_name="bp-x", partition="work", nodes=3), site, limits)
    assert problems == ["node 3 exceeds the association's TRES limit node=2"]
    too_wide = sbatch_options(job_name="bp-x", partition="work", ntasks=16, cpus_per_task=8)
    assert request_problems(too_wide, site, limits) == ["cpu 128 exceeds the association's TRES limit cpu=64"]


def test_the_users_queue_lists_array_tasks_and_reads_the_group_from_the_comment() -> None:
    # `squeue --me -h -r -o %i|%j|%T|%k` on a multi-cluster site: a header per cluster, a comment with a `|`
    text = (
        "CLUSTER: setonix\n"
        "101|bp-a|RUNNING|beampipe run a group=wallaby_hires\n"
        "102_1|arr|PENDING|(null)\n"
        "102_2|arr|PENDING|(null)\n"
        "103|bp-b|PENDING|note | with a bar group=dingo\n"
    )
    jobs = parse_user_queue(text)
    assert [(j.job_id, j.state, j.group) for j in jobs] == [
        ("101", "RUNNING", "wallaby_hires"),
        ("102_1", "PENDING", None),
        ("102_2", "PENDING", None),
        ("103", "PENDING", "dingo"),
    ]


def check(partitions, **options) -> list[str]:
    return request_problems(sbatch_options(job_name="bp-x", **options), partitions, UserLimits())


def test_a_request_over_a_partition_limit_names_the_limit_and_the_partition() -> None:
    site = parse_partitions(SETONIX_LIKE)
    assert check(site, partition="debug", time="02:00:00") == [
        "time 02:00:00 exceeds partition debug's MaxTime 01:00:00"
    ]
    assert check(site, partition="debug", nodes="8") == ["nodes 8 exceeds partition debug's MaxNodes 4"]
    assert check(site, time="2-00:00:00") == ["time 2-00:00:00 exceeds partition work's MaxTime 1-00:00:00"]
    assert check(site, partition="work", mem="300G") == ["mem 300G exceeds partition work's MaxMemPerNode 235520M"]
    assert check(site, partition="long") == ["partition long is DRAIN"]
    assert check(site, partition="gpu") == ["partition 'gpu' does not exist (the cluster has debug, long, work)"]
    assert check(site, partition="work", time="12:00:00", nodes="2", mem="200G") == []


def test_the_association_wall_limit_applies_to_every_partition() -> None:
    site = parse_partitions(LOCAL_22_05)
    options = sbatch_options(job_name="bp-x", time="03:00:00")
    problems = request_problems(options, site, UserLimits(max_wall=timedelta(hours=2)))
    assert problems == ["time 03:00:00 exceeds the association's MaxWall 02:00:00"]


def test_the_first_candidate_partition_that_can_take_the_request_is_chosen() -> None:
    site = SiteLimits(parse_partitions(SETONIX_LIKE), UserLimits())
    short = sbatch_options(job_name="bp-x", partition="debug,work", time="00:30:00", nodes="2")
    assert choose_partition(short, site) == ("debug", [])
    long = sbatch_options(job_name="bp-x", partition="debug,work", time="12:00:00")
    assert choose_partition(long, site) == ("work", [])
    wide = sbatch_options(job_name="bp-x", partition="debug,long", nodes="6")
    assert choose_partition(wide, site) == (
        None,
        [
            "nodes 6 exceeds partition debug's MaxNodes 4",
            "partition long is DRAIN",
            "nodes 6 exceeds partition long's MaxNodes 1",
        ],
    )
