"""CWL: a workflow document run by cwltool (the CWL reference runner) inside the Slurm job, and its outcome."""
