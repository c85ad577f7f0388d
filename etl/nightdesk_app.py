"""The Nightdesk view's web app (FastAPI), mounted in Airflow's API server by
plugins/nightdesk_view.py.

    GET /nightdesk/                the latest run's report, every source's last 30 / 365 nights
    GET /nightdesk/runs/{run_id}   one run's report (the "Nightdesk" tab of each DAG run)
    GET /nightdesk/figures.json    the same figures as JSON (?run_id=...)

Everything comes from the warehouse's `runs` table (NIGHTDESK_WAREHOUSE_URL, else the SQLite
file under NIGHTDESK_DATA_DIR), never from Airflow's metadata. Behind Airflow's own login: every
route needs the UI's session (its JWT cookie, or a bearer token) and the right to read the
news_pipeline DAG's runs; without it the answer is 401. Pages are rendered by etl/runreport.py.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse

DAG_ID = "news_pipeline"


def _figures(run_id: str | None) -> dict[str, Any]:
    from contracts.settings import Settings
    from etl import runreport  # pandas & co. only when a page is asked for

    return runreport.figures(Settings.from_env().warehouse, run_id=run_id)


def create_app() -> FastAPI:
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from airflow.api_fastapi.core_api.security import requires_access_dag

    # Authenticated (401 otherwise) and allowed to read the DAG's runs (403 otherwise).
    allowed = [Depends(requires_access_dag("GET", DagAccessEntity.RUN, DAG_ID))]
    app = FastAPI(title="Nightdesk", dependencies=allowed, docs_url=None, redoc_url=None,
                  openapi_url=None)

    # Plain `def` routes: FastAPI runs them in its thread pool, so the warehouse's blocking
    # queries never stall the API server's event loop.
    @app.get("/", response_class=HTMLResponse)
    def overview() -> HTMLResponse:
        from etl.runreport import render_html

        return HTMLResponse(render_html(_figures(None), title="Nightdesk: the latest night"))

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run(run_id: str) -> HTMLResponse:
        from etl.runreport import render_html

        figs = _figures(run_id)
        if figs["run"] is None:
            note = (f"<p>No warehouse rows for run {run_id} (yet): a run records its figures "
                    "when its load_warehouse task commits.</p>")
            html = render_html({**figs, "run": None}, title=f"Nightdesk: run {run_id}")
            return HTMLResponse(html.replace("<p>No run in the warehouse yet: run the pipeline "
                                             "first (make run).</p>", note))
        return HTMLResponse(render_html(figs))  # the run id heads the report itself

    @app.get("/figures.json")
    def figures_json(run_id: str | None = None) -> JSONResponse:
        return JSONResponse(_figures(run_id))

    return app
