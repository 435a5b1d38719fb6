"""Workflow engines (DALiuGE first) and the facilities they run on. Core code: no Airflow imports."""
