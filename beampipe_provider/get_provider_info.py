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
            },
            {
                "integration-name": "CASDA",
                "external-doc-url": "https://research.csiro.au/casda/",
                "tags": ["service"],
            },
            {
                "integration-name": "Slurm",
                "external-doc-url": "https://slurm.schedmd.com/",
                "tags": ["software"],
            },
            {
                "integration-name": "DALiuGE",
                "external-doc-url": "https://daliuge.readthedocs.io/",
                "tags": ["software"],
            },
        ],
        "hooks": [
            {"integration-name": "Beampipe ledger", "python-modules": ["beampipe_provider.hooks.ledger"]},
            {"integration-name": "CASDA", "python-modules": ["beampipe_provider.hooks.casda"]},
            {"integration-name": "Slurm", "python-modules": ["beampipe_provider.hooks.slurm"]},
        ],
        "operators": [
            {"integration-name": "CASDA", "python-modules": ["beampipe_provider.operators.casda"]},
            {"integration-name": "Slurm", "python-modules": ["beampipe_provider.operators.slurm"]},
            {"integration-name": "DALiuGE", "python-modules": ["beampipe_provider.operators.daliuge"]},
        ],
        "sensors": [{"integration-name": "CASDA", "python-modules": ["beampipe_provider.sensors.casda"]}],
        "triggers": [
            {"integration-name": "CASDA", "python-modules": ["beampipe_provider.triggers.casda"]},
            {"integration-name": "Slurm", "python-modules": ["beampipe_provider.triggers.slurm"]},
        ],
        "plugins": [{"name": "beampipe", "plugin-class": "beampipe_provider.plugins.beampipe.BeampipePlugin"}],
        "extra-links": [
            "beampipe_provider.links.slurm.SlurmJobLink",
            "beampipe_provider.links.slurm.DaliugeSessionLink",
        ],
        "config": {
            "beampipe": {
                "description": "Settings of the beampipe provider.",
                "options": {
                    "slurm_job_url_template": {
                        "description": "URL of a site's job page for the Slurm job link; {job_id} and {cluster} "
                        "are filled in. Empty: no link.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "https://slurm-web.example.org/jobs/{cluster}/{job_id}",
                        "default": "",
                    }
                },
            }
        },
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
            },
            {
                "hook-class-name": "beampipe_provider.hooks.casda.CasdaHook",
                "hook-name": "CASDA",
                "connection-type": "casda",
                "conn-fields": {
                    "tap_url": {
                        "label": "TAP URL",
                        "schema": {"type": ["string", "null"], "default": "https://casda.csiro.au/casda_vo_tools/tap"},
                    },
                    "soda_url": {
                        "label": "DataLink/SODA base URL",
                        "schema": {"type": ["string", "null"], "default": "https://casda.csiro.au/casda_data_access"},
                    },
                    "login_url": {
                        "label": "Login check URL",
                        "schema": {
                            "type": ["string", "null"],
                            "default": "https://data.csiro.au/casda_vo_proxy/vo/tap/availability",
                        },
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["host", "port", "schema", "extra"],
                    "relabeling": {"login": "OPAL username (e-mail)", "password": "OPAL password"},
                    "placeholders": {"login": "someone@example.org"},
                },
            },
        ],
    }
