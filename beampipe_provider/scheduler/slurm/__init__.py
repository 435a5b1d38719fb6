"""Slurm: sbatch options, squeue/sacct readers, and schedulers over an SSH transport."""

from beampipe_provider.scheduler.slurm.options import SbatchOptions, sbatch_argv, sbatch_options
from beampipe_provider.scheduler.slurm.scheduler import AsyncSlurmScheduler, SlurmScheduler

__all__ = ["AsyncSlurmScheduler", "SbatchOptions", "SlurmScheduler", "sbatch_argv", "sbatch_options"]
