"""BeampipePlugin: registered through get_provider_info ("plugins"), loaded by the api-server and by tasks."""

from __future__ import annotations

from urllib.parse import urlsplit

from airflow.sdk import conf
from airflow.sdk.plugins_manager import AirflowPlugin

from beampipe_provider.plugins import MOUNT
from beampipe_provider.plugins.app import create_app


def _href(path: str) -> str:
    """A path under the api-server's base URL (`[api] base_url` may put Airflow under a prefix)."""
    base = urlsplit(conf.get("api", "base_url", fallback="") or "/").path.rstrip("/")
    return f"{base}{MOUNT}{path}"


app = create_app()


class BeampipePlugin(AirflowPlugin):
    # Airflow reads these class attributes of the plugin class (it is never instantiated for providers).
    name = "beampipe"
    fastapi_apps = [{"app": app, "url_prefix": MOUNT, "name": "Beampipe"}]  # noqa: RUF012
    # Shown in the Airflow UI's Browse menu; url_route makes the UI embed the page (same origin) in its layout.
    external_views = [  # noqa: RUF012
        {
            "name": "Beampipe sources",
            "href": _href("/sources"),
            "destination": "nav",
            "category": "browse",
            "url_route": "beampipe-sources",
        },
        {
            "name": "Beampipe runs",
            "href": _href("/runs"),
            "destination": "nav",
            "category": "browse",
            "url_route": "beampipe-runs",
        },
    ]
