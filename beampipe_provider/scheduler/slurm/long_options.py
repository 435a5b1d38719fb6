"""sbatch's long options that `SbatchOptions.extra` may pass, by their full names (sbatch(1), Slurm 22.05-25.x).

sbatch parses with getopt_long, which takes any unique prefix of a long option (`--jo` is `--job-name`, `--wra` is
`--wrap`). So `extra` is an allowlist of full names: a key that is not one of these exact names is refused, never
passed on for sbatch to expand. Options that change who the job runs as, what it runs or how beampipe finds it
again are not here at all (refused), and neither are those the model sets through its own fields."""

from __future__ import annotations

# Options that take a value: `--name=value`.
VALUED = frozenset(
    {
        "acctg-freq",
        "batch",
        "bb",
        "bbf",
        "begin",
        "cluster-constraint",
        "core-spec",
        "cores-per-socket",
        "cpu-freq",
        "cpus-per-gpu",
        "deadline",
        "delay-boot",
        "distribution",
        "exclude",
        "export",
        "extra",
        "extra-node-info",
        "gpu-bind",
        "gpu-freq",
        "gpus",
        "gpus-per-node",
        "gpus-per-socket",
        "gpus-per-task",
        "gres",
        "gres-flags",
        "hint",
        "kill-on-invalid-dep",
        "licenses",
        "mail-type",
        "mail-user",
        "mcs-label",
        "mem-bind",
        "mem-per-cpu",
        "mem-per-gpu",
        "mincpus",
        "network",
        "nice",
        "nodelist",
        "ntasks-per-core",
        "ntasks-per-gpu",
        "ntasks-per-node",
        "ntasks-per-socket",
        "open-mode",
        "power",
        "prefer",
        "priority",
        "profile",
        "propagate",
        "signal",
        "sockets-per-node",
        "switches",
        "thread-spec",
        "threads-per-core",
        "time-min",
        "tmp",
        "tres-bind",
        "tres-per-task",
        "wait-all-nodes",
        "wckey",
    }
)

# Flags: given `true`, rendered `--name` (sbatch refuses `--name=`); `false` leaves them out.
FLAGS = frozenset(
    {
        "contiguous",
        "ignore-pbs",
        "no-kill",
        "no-requeue",
        "overcommit",
        "oversubscribe",
        "quiet",
        "reboot",
        "requeue",
        "spread-job",
        "use-min-nodes",
        "verbose",
    }
)

# Flags whose value is optional: `true` renders `--name`, a value `--name=value` (`--exclusive=user`).
OPTIONAL_VALUE = frozenset({"exclusive"})

# Refused outright, with the reason: identity, what runs, how the job is found again, the submission itself.
REFUSED = {
    "uid": "changes who the job runs as",
    "gid": "changes the group the job runs as",
    "get-user-env": "loads another environment into the job",
    "export-file": "loads environment variables (LD_PRELOAD ...) from a file",
    "wrap": "replaces the job's script",
    "container": "runs the job inside another image",
    "container-id": "runs the job inside another container",
    "input": "connects the job's stdin to a file",
    "job-name": "is the run's identity (adoption by name)",
    "comment": "carries the run's identity",
    "parsable": "is set by beampipe to read the job id",
    "test-only": "submits nothing",
    "hold": "is set by beampipe only",
    "wait": "blocks the submission until the job ends",
    "help": "submits nothing",
    "usage": "submits nothing",
    "version": "submits nothing",
}

# `--export` may not carry variables that make the dynamic loader or the shell run other code.
_SHELL_VARIABLES = frozenset({"ENV", "BASH_ENV", "PROMPT_COMMAND", "SHELLOPTS", "BASHOPTS", "PS4", "IFS"})
_LOADER_PREFIXES = ("LD_", "DYLD_", "BASH_FUNC_")


def unsafe_export(value: str) -> str | None:
    """The first variable of an `--export` value that may not be exported, if any."""
    for item in value.split(","):
        name = item.split("=", 1)[0].strip()
        if name.upper() in _SHELL_VARIABLES or name.upper().startswith(_LOADER_PREFIXES):
            return name
    return None
