"""Batch schedulers (Slurm first): job submission, tracking and cancellation. Core code: no Airflow imports."""
