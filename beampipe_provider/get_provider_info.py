"""Provider metadata read by Airflow's ProvidersManager (entry point `apache_airflow_provider`)."""

from __future__ import annotations

from typing import Any

from beampipe_provider import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-beampipe",
        "name": "Beampipe",
        "description": "Turns CASDA deposits into tracked, reproducible DALiuGE workflow runs on Slurm.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Beampipe ledger",
                "external-doc-url": "https://github.com/beampipe/beampipe-provider",
                "tags": ["software"],
            }
        ],
        "hooks": [
            {"integration-name": "Beampipe ledger", "python-modules": ["beampipe_provider.hooks.ledger"]},
        ],
        "connection-types": [
            {
                "hook-class-name": "beampipe_provider.hooks.ledger.LedgerHook",
                "hook-name": "Beampipe ledger",
                "connection-type": "beampipe_ledger",
                "conn-fields": {
                    "dialect": {
                        "label": "Dialect",
                        "schema": {
                            "type": ["string", "null"],
                            "enum": ["postgresql", "sqlite"],
                            "default": "postgresql",
                        },
                        "description": "postgresql (production) or sqlite (schema holds the file path)",
                    },
                    "sslmode": {
                        "label": "SSL mode (PostgreSQL)",
                        "schema": {"type": ["string", "null"]},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["extra"],
                    "relabeling": {"schema": "Database (or SQLite file path)"},
                    "placeholders": {"host": "127.0.0.1", "port": "5432", "schema": "beampipe"},
                },
            }
        ],
    }
