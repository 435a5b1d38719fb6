"""The Airflow UI plugin: the source registry and the run ledger as pages and a JSON API under /beampipe."""

# Where the api-server mounts the plugin app. Here, not in app.py: deps (imported by the routes that app.py
# attaches) needs it too, and app -> routes -> deps -> app was an import circle.
MOUNT = "/beampipe"
