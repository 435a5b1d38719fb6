"""Provenance: a canonical, signed, hash-chained record of every run. Core code: no Airflow imports."""
