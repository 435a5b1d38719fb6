"""Archive adapters (core: no Airflow imports). CASDA is the first."""
