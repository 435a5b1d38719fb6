"""sbatch options and job scripts: hostile values are refused, or quoted so that they can never run."""

from __future__ import annotations

import shlex
from datetime import timedelta

import pytest

from beampipe_provider.scheduler.base import InvalidJobOption
from beampipe_provider.scheduler.slurm import sbatch_argv, sbatch_options
from beampipe_provider.scheduler.slurm.script import job_script
from beampipe_provider.scheduler.slurm.steps import expand_log_path, sacct_command, squeue_command

HOSTILE = ["x; rm -rf /", "$(touch /tmp/pwned)", "`id`", "a\nb", "a b", "x|y", "x&&y", "'", '"']


def test_every_option_becomes_one_argument() -> None:
    options = sbatch_options(
        job_name="bp-abc",
        comment="beampipe run abc",
        account="pawsey0411",
        partition="work,debug",
        clusters="setonix",
        qos="normal",
        reservation="survey",
        constraint="gpu&large",
        nodes="2-4",
        ntasks=8,
        cpus_per_task=4,
        mem="16G",
        time=timedelta(hours=1, minutes=30),
        array="0-99%10",
        dependency="afterok:123:456",
        output="/scratch/out-%j.log",
        error="/scratch/err-%j.log",
        chdir="/scratch/run",
        extra={"gres": "gpu:1", "exclusive": "user"},
        within="/scratch",
    )
    argv = sbatch_argv(options)
    assert argv[:2] == ["sbatch", "--parsable"]
    assert "--time=0-01:30:00" in argv
    assert "--cpus-per-task=4" in argv
    assert "--gres=gpu:1" in argv
    assert "--clusters=setonix" in argv
    assert shlex.split(shlex.join(argv)) == argv


@pytest.mark.parametrize("field", ["job_name", "account", "partition", "clusters", "qos", "reservation"])
@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_names_are_refused_naming_the_option(field: str, value: str) -> None:
    values = {"job_name": "bp-x", field: value}
    with pytest.raises(InvalidJobOption) as error:
        sbatch_options(**values)
    assert error.value.option == field


@pytest.mark.parametrize("value", ["x; rm -rf /", "$(touch /tmp/pwned)", "`id`", "a\nb", "a b", "'"])
def test_hostile_constraints_are_refused(value: str) -> None:
    with pytest.raises(InvalidJobOption, match="constraint"):
        sbatch_options(job_name="bp-x", constraint=value)


def test_constraint_operators_pass_quoted() -> None:
    argv = sbatch_argv(sbatch_options(job_name="bp-x", constraint="[rack1|rack2]&gpu"))
    assert "'--constraint=[rack1|rack2]&gpu'" in shlex.join(argv)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("mem", "16G; reboot"),
        ("time", "1:00:00 && id"),
        ("nodes", "$(id)"),
        ("array", "0-9;id"),
        ("dependency", "afterok:1`id`"),
        ("ntasks", 0),
        ("comment", "line\nbreak"),
        ("output", "out\n#SBATCH --uid=0"),
    ],
)
def test_malformed_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(InvalidJobOption, match=field):
        sbatch_options(job_name="bp-x", **{field: value})


def test_free_text_with_shell_syntax_is_quoted_not_run() -> None:
    options = sbatch_options(job_name="bp-x", comment="$(touch /tmp/pwned); `id`", output="o; rm -rf ~.log")
    argv = sbatch_argv(options)
    line = shlex.join(argv)
    assert shlex.split(line) == argv  # the remote shell sees exactly these arguments
    assert "'--comment=$(touch /tmp/pwned); `id`'" in line


@pytest.mark.parametrize("key", ["wrap", "job-name", "comment", "--uid", "Output", "a b", "x;y"])
def test_extra_cannot_smuggle_or_override_options(key: str) -> None:
    with pytest.raises(InvalidJobOption, match="extra"):
        sbatch_options(job_name="bp-x", extra={key: "1"})


@pytest.mark.parametrize(
    "key", ["jo", "j", "commen", "wra", "hol", "parsabl", "test-onl", "outpu", "o", "chdi", "exclu", "gre", "expor"]
)
def test_extra_refuses_abbreviations_sbatch_would_expand(key: str) -> None:
    """getopt_long takes any unique prefix: `--jo` would rename the job, `--wra` replace its script."""
    with pytest.raises(InvalidJobOption, match="extra"):
        sbatch_options(job_name="bp-x", extra={key: "x"})


@pytest.mark.parametrize(
    "key", ["uid", "gid", "wrap", "job-name", "comment", "parsable", "test-only", "hold", "export-file", "no-such"]
)
def test_extra_refuses_identity_and_security_options(key: str) -> None:
    with pytest.raises(InvalidJobOption, match="extra"):
        sbatch_options(job_name="bp-x", extra={key: "0"})


@pytest.mark.parametrize(
    "value", ["LD_PRELOAD=/tmp/x.so", "ALL,LD_LIBRARY_PATH=/tmp", "NONE,BASH_ENV=/tmp/rc", "BASH_FUNC_ls%%=() { id; }"]
)
def test_export_of_loader_and_shell_variables_is_refused(value: str) -> None:
    with pytest.raises(InvalidJobOption, match="export"):
        sbatch_options(job_name="bp-x", extra={"export": value})


def test_export_of_plain_variables_passes() -> None:
    argv = sbatch_argv(sbatch_options(job_name="bp-x", extra={"export": "ALL,OMP_NUM_THREADS=4"}))
    assert "--export=ALL,OMP_NUM_THREADS=4" in argv


def test_flags_render_without_a_value() -> None:
    options = sbatch_options(
        job_name="bp-x", extra={"exclusive": True, "no-requeue": True, "overcommit": False, "gres": "gpu:1"}
    )
    argv = sbatch_argv(options)
    assert "--exclusive" in argv
    assert "--no-requeue" in argv
    assert not [a for a in argv if a.startswith(("--exclusive=", "--no-requeue=", "--overcommit"))]
    assert "--exclusive=user" in sbatch_argv(sbatch_options(job_name="bp-x", extra={"exclusive": "user"}))


@pytest.mark.parametrize(("key", "value"), [("requeue", "yes"), ("contiguous", ""), ("gres", True)])
def test_flags_take_booleans_and_values_take_text(key: str, value: object) -> None:
    with pytest.raises(InvalidJobOption, match="extra"):
        sbatch_options(job_name="bp-x", extra={key: value})


@pytest.mark.parametrize("field", ["output", "error", "chdir"])
@pytest.mark.parametrize("value", ["/etc/cron.d/x", "../../.ssh/out", "logs/../../x", "/home/u/runs/k/../../x"])
def test_job_paths_stay_relative_or_inside_the_run_directory(field: str, value: str) -> None:
    with pytest.raises(InvalidJobOption, match=field):
        sbatch_options(job_name="bp-x", **{field: value})
    with pytest.raises(InvalidJobOption, match=field):
        sbatch_options(job_name="bp-x", within="/home/u/runs/k", **{field: value})


def test_job_paths_relative_or_under_the_allowed_directory_pass() -> None:
    inside = sbatch_options(
        job_name="bp-x", output="/home/u/runs/k/slurm-%j.out", chdir="/home/u/runs/k", within="/home/u/runs/k"
    )
    assert inside.chdir == "/home/u/runs/k"
    assert sbatch_options(job_name="bp-x", output="logs/%j.out", error="/dev/null").output == "logs/%j.out"
    with pytest.raises(InvalidJobOption, match="output"):
        sbatch_options(job_name="bp-x", output="/home/u/runs/k2/x", within="/home/u/runs/k")


def test_unknown_option_is_refused() -> None:
    with pytest.raises(InvalidJobOption, match="partiton"):
        sbatch_options(job_name="bp-x", partiton="work")


def test_status_commands_refuse_non_job_ids() -> None:
    with pytest.raises(ValueError, match="not a Slurm job id"):
        squeue_command(["1;id"])
    assert "--jobs=1,2_3" in sacct_command(["1", "2_3"]).argv


def test_parameters_are_exported_after_the_sbatch_header() -> None:
    script = job_script(
        script="#!/bin/bash\n#SBATCH --time=5\n\necho $GREETING\n", env={"GREETING": "hi $(id)", "N": 3}
    )
    lines = script.splitlines()
    assert lines[:3] == ["#!/bin/bash", "#SBATCH --time=5", ""]
    assert lines[3:5] == ["export GREETING='hi $(id)'", "export N=3"]
    assert lines[5] == "echo $GREETING"


def test_command_becomes_a_bash_script() -> None:
    assert job_script(command="hostname") == "#!/bin/bash\nhostname\n"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"script": "#!/bin/bash\n", "command": "x"}, "script"),
        ({}, "script"),
        ({"script": "echo no shebang"}, "script"),
        ({"command": "x", "env": {"BAD-NAME": "1"}}, "parameters.BAD-NAME"),
        ({"command": "x", "env": {"X; id": "1"}}, "parameters.X; id"),
    ],
)
def test_bad_scripts_and_parameter_names_are_refused(kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidJobOption) as error:
        job_script(**kwargs)
    assert error.value.option == field


def test_log_path_placeholders() -> None:
    assert expand_log_path("/s/%u/%x-%j.out", "42", "bp-abc", "alice") == "/s/alice/bp-abc-42.out"
    assert expand_log_path("o-%A_%a.log", "42_7", "n", "u") == "o-42_7.log"
    assert expand_log_path("100%%-%j", "5", "n", "u") == "100%-5"
