"""beampipe-provider: CASDA deposits -> tracked, reproducible DALiuGE runs on Slurm, from Airflow."""

__version__ = "0.1.0"
