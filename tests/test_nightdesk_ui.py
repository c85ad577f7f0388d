"""The Nightdesk view (plugins/nightdesk_view.py, etl/nightdesk_app.py, etl/runreport.py): Airflow
lists the plugin, its pages answer nobody without a login, and show the warehouse's runs rows."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from etl import runreport, warehouse
from tests.conftest import REPO
from tests.test_production import AIRFLOW, Stack, stack_env


def _record_nights(url: str, nights: int = 3) -> list[dict]:
    """Runs rows as load_warehouse writes them, into a real SQLite warehouse."""
    eng = warehouse.engine(url)
    warehouse.create_schema(eng)
    rows = []
    first = datetime(2022, 1, 29, 2, tzinfo=UTC)
    with eng.begin() as conn:
        for n in range(nights):
            start = first + timedelta(days=n)
            ran = datetime(2026, 12, 1, 2, tzinfo=UTC) + timedelta(days=n)
            row = {"run_id": f"scheduled__{start:%Y-%m-%dT%H:%M:%S}+00:00", "source": "site",
                   "interval_start": start, "interval_end": start + timedelta(days=1),
                   "mode": "live", **dict.fromkeys(warehouse.RUN_FIGURES, 0),
                   "inserted": 10 + n, "updated": n, "unchanged": 2 * n, "pages_fetched": 17 + n,
                   "items": 12 + n, "rejected": 3, "duplicates": 1, "near_duplicates": n,
                   "crawl_rejects": 2, "quarantined": 1, "not_article": 2,
                   "rejects_by_reason": json.dumps({"not_article": 2, "missing_title": 1}),
                   "with_authors": 9, "with_page_date": 10, "body_words_median": 321.0 + n,
                   "crawl_seconds": 61.5 + n, "load_seconds": 4.25, "health": "ok",
                   "started_at": ran, "finished_at": ran + timedelta(seconds=70 + n)}
            warehouse.record_run(conn, row)
            rows.append(row)
    eng.dispose()
    return rows


def test_the_report_shows_every_runs_figure_and_loads_nothing(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'wh.db'}"
    rows = _record_nights(url)
    figs = runreport.figures(url)
    assert figs["run"]["run_id"] == rows[-1]["run_id"]  # the latest run by default
    assert figs["run"]["wall_seconds"] == 72.0
    assert [n["night"] for n in figs["nights"]] == ["2022-01-31", "2022-01-30", "2022-01-29"]
    html = runreport.render_html(figs)
    assert "<script" not in html and "src=" not in html and "url(" not in html
    assert html.count("<svg") == 8  # four plots over 30 nights, four over 365
    assert "crawl and load took <b data-figure=\"wall\">1 min 12 s</b>" in html
    row = rows[-1]
    cells = {k: f'data-figure="{k}">{row[k]}</td>' for k in
             ("inserted", "updated", "unchanged", "pages_fetched", "duplicates", "quarantined")}
    for key, cell in cells.items():
        assert cell in html, key
    assert 'data-figure="crawl_seconds">1 min 04 s</td>' in html
    assert 'data-figure="rejects_by_reason">missing_title 1, not_article 2</td>' in html
    assert 'data-figure="authors_share">50%</td>' in html  # 9 of 18 loaded (12+2+4)


@pytest.mark.slow
def test_airflow_lists_the_plugin(tmp_path: Path):
    env = stack_env(tmp_path, f"sqlite:///{tmp_path / 'airflow.db'}")
    proc = subprocess.run([str(AIRFLOW), "plugins", "--output", "json"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    plugins = {p["name"]: p for p in json.loads(proc.stdout[proc.stdout.index("["):])}
    nightdesk = plugins["nightdesk"]
    assert [a["url_prefix"] for a in nightdesk["fastapi_apps"]] == ["/nightdesk"]
    views = {v["destination"]: v["href"] for v in nightdesk["external_views"]}
    assert views == {"nav": "nightdesk/", "dag_run": "nightdesk/runs/{RUN_ID}"}


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Cookie", "_token=" + token)  # what the UI's session carries
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.mark.slow
def test_the_pages_need_a_login_and_show_the_warehouse(tmp_path: Path, stack: Stack):
    stack.env = stack_env(tmp_path, f"sqlite:///{tmp_path / 'airflow.db'}")
    (tmp_path / "data").mkdir()
    rows = _record_nights(f"sqlite:///{tmp_path / 'data' / 'warehouse.db'}")
    stack.start("api-server")
    stack.wait_for_api(timeout=120)
    run_id = rows[0]["run_id"]
    pages = ["/nightdesk/", f"/nightdesk/runs/{run_id}", "/nightdesk/figures.json"]
    for page in pages:
        assert _get(stack.api + page)[0] == 401, page
        assert _get(stack.api + page, token="forged.jwt.value")[0] in (401, 403), page

    password = json.loads(Path(stack.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
                          .read_text())["admin"]
    login = urllib.request.Request(
        f"{stack.api}/auth/token", method="POST", headers={"Content-Type": "application/json"},
        data=json.dumps({"username": "admin", "password": password}).encode())
    with urllib.request.urlopen(login, timeout=30) as response:
        token = json.load(response)["access_token"]
    status, body = _get(stack.api + f"/nightdesk/runs/{run_id}", token)
    assert status == 200 and f'data-figure="run_id">{run_id}</span>' in body
    assert 'data-figure="inserted">10</td>' in body
    status, body = _get(stack.api + "/nightdesk/figures.json", token)
    figs = json.loads(body)
    assert status == 200 and figs["run"]["run_id"] == rows[-1]["run_id"]
    assert [(n["night"], n["inserted"], n["pages_fetched"]) for n in figs["nights"]] == [
        (r["interval_start"].strftime("%Y-%m-%d"), r["inserted"], r["pages_fetched"])
        for r in reversed(rows)]
