"""The Airflow UI plugin: the source registry and the run ledger as pages and a JSON API under /beampipe."""
