"""Airflow plugin `nightdesk`: the Nightdesk view in the Airflow UI (wiring only). The file is not
called nightdesk.py: Airflow puts plugins/ on sys.path, where it would hide the nightdesk package.

A FastAPI app mounted at /nightdesk (etl/nightdesk_app.py), one page in the navigation and a
"Nightdesk" tab on each DAG run, both external views of that app (Airflow 3.1+ plugin interface).
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.plugins_manager import AirflowPlugin

from etl.nightdesk_app import create_app


class NightdeskPlugin(AirflowPlugin):
    name = "nightdesk"
    fastapi_apps: ClassVar[list[dict[str, Any]]] = [
        {"app": create_app(), "url_prefix": "/nightdesk", "name": "Nightdesk"}]
    # href without a leading slash: the UI resolves it against its own base URL.
    external_views: ClassVar[list[dict[str, Any]]] = [
        {"name": "Nightdesk", "href": "nightdesk/", "destination": "nav",
         "url_route": "nightdesk"},
        {"name": "Nightdesk", "href": "nightdesk/runs/{RUN_ID}", "destination": "dag_run",
         "url_route": "nightdesk-run"},
    ]
