"""DALiuGE: logical graph preparation, the job that runs a graph on a Slurm allocation, its outcome."""
