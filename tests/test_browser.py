"""The Airflow UI as a person sees it: headless Chromium logs in, finds news_pipeline's run with
its real duration, and the Nightdesk page and the run's Nightdesk tab with the same numbers as the
warehouse's runs rows.

Debian's Chromium (/usr/bin/chromium, installed by `make browser`, which `make test` runs) is
driven by Playwright's Python client; Playwright's own browser download is never used (this
machine reaches no host but the package registries). The screenshots are kept as test artifacts
in data/test-artifacts/ (git-ignored; NIGHTDESK_TEST_ARTIFACTS moves them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_production import TASKS, Stack, stack_env

CHROMIUM = Path(os.environ.get("NIGHTDESK_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("NIGHTDESK_TEST_ARTIFACTS", REPO / "data" / "test-artifacts"))
# Quiet and self-contained: no sandbox (root in a container has no user namespaces for it), no
# GPU, no QUIC, no first-run UI, and no background calls home (updates, sync, components).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.mark.slow
def test_the_ui_shows_a_successful_run_with_its_tasks(tmp_path: Path, seed_path: Path,
                                                      stack: Stack) -> None:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Chromium is required at {CHROMIUM}: `make browser` installs Debian's "
                    "chromium package (apt-get), or set NIGHTDESK_CHROMIUM")
    from playwright.sync_api import expect, sync_playwright

    # One successful run of day 2022-01-31's window, against the replica, in the test's SQLite.
    stack.env = stack_env(tmp_path, f"sqlite:///{tmp_path / 'airflow.db'}")
    stack.cli("dags", "test", "news_pipeline", "2022-02-01T02:00:00+00:00", timeout=600)
    # What bin/demo (make run) does after `dags test`: the run's real start, not its 2022 date.
    fixed = subprocess.run([sys.executable, "-m", "etl.airflow_runs", "news_pipeline"], cwd=REPO,
                           env=stack.env, capture_output=True, text=True, timeout=120)
    assert fixed.returncode == 0 and fixed.stdout.split()[-1] == "1", fixed.stderr[-2000:]
    runs = _runs_rows(Path(stack.env["NIGHTDESK_DATA_DIR"]) / "warehouse.db")
    assert len(runs) == 1
    stack.start("api-server")
    stack.wait_for_api(timeout=120)
    passwords = Path(stack.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    password = json.loads(passwords.read_text())["admin"]

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    profile = tmp_path / "chromium-profile"  # a fresh profile: no cookie or cache carried over
    with sync_playwright() as pw:
        # headless=True makes Playwright pass --headless itself; a persistent context is how
        # Playwright takes a --user-data-dir (it refuses the flag among the args).
        browser = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900})
        page = browser.pages[0] if browser.pages else browser.new_page()
        page.set_default_timeout(30_000)
        # The grid renders its rows one by one; on a loaded machine that outlasts expect's 5 s.
        expect.set_options(timeout=30_000)
        try:
            # Nothing without a login: the DAG's page sends the browser to the login form.
            page.goto(f"{stack.api}/dags/news_pipeline")
            page.wait_for_url(re.compile(r"/auth/login"))
            page.get_by_label(re.compile("username", re.I)).fill("admin")
            page.get_by_label(re.compile("password", re.I)).fill(password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(re.compile(r"/dags/news_pipeline$"))

            # The DAG's grid lists its tasks; the latest run's link opens the run.
            for task_id in TASKS:
                expect(page.get_by_text(re.compile(rf"^{task_id}\b")).first).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "news_pipeline-dag.png"))
            page.get_by_role("link", name=re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d")).first.click()
            page.wait_for_url(re.compile(r"/dags/news_pipeline/runs/"))

            # The run: successful, its window's logical date, its task instances, all successful.
            expect(page.get_by_text("Success").first).to_be_visible()
            expect(page.get_by_text("2022-02-01 02:00:00").first).to_be_visible()
            expect(page.get_by_text(f"{len(TASKS)} Task Instances")).to_be_visible()
            rows = page.get_by_role("row").filter(has=page.get_by_role("link"))
            expect(rows).to_have_count(len(TASKS))
            for task_id in TASKS:
                row = rows.filter(has=page.get_by_role("link", name=task_id, exact=True))
                expect(row.get_by_text("Success")).to_be_visible()
            # The mapped crawl is labelled by its source, not [0].
            crawl_row = rows.filter(has=page.get_by_role("link", name="crawl", exact=True))
            expect(crawl_row.get_by_text("moscowtimes")).to_be_visible()
            # Its real wall-clock duration (seconds, under 10 minutes), not 2022 to today.
            expect(page.get_by_text(re.compile(r"^00:0\d:\d\d\.\d+$")).first).to_be_visible()
            expect(page.get_by_text(re.compile(r"^\d+d"))).to_have_count(0)  # no "1770d 15h"
            page.screenshot(path=str(ARTIFACTS / "news_pipeline-run.png"))

            # The run's Nightdesk tab: its window and the warehouse's figures of the run.
            row = runs[0]
            page.get_by_role("link", name="Nightdesk").last.click()
            page.wait_for_url(re.compile(r"/runs/.+/plugin/nightdesk-run"))
            tab = page.frame_locator("iframe[title=Nightdesk]")
            expect(tab.locator('[data-figure="run_id"]')).to_have_text(row["run_id"])
            expect(tab.locator('[data-figure="interval_start"]')).to_have_text("2022-01-31 02:00")
            expect(tab.locator('[data-figure="interval_end"]')).to_have_text("2022-02-01 02:00")
            _expect_row(expect, tab.locator("table").first.locator(
                f'tr[data-source="{row["source"]}"]'), row)
            page.screenshot(path=str(ARTIFACTS / "nightdesk-run-tab.png"))

            # The Nightdesk page in the navigation: the same figures per source and night.
            page.get_by_role("link", name="Nightdesk").first.click()
            page.wait_for_url(re.compile(r"/plugin/nightdesk"))
            view = page.frame_locator("iframe[title=Nightdesk]")
            expect(view.locator("svg").first).to_be_visible()
            _expect_row(expect, view.locator("table").last.locator(
                f'tr[data-source="{row["source"]}"][data-night="2022-01-31"]'), row)
            page.screenshot(path=str(ARTIFACTS / "nightdesk-page.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "news_pipeline-failure.png"))
            raise
        finally:
            browser.close()
            shutil.rmtree(profile, ignore_errors=True)
    assert (ARTIFACTS / "news_pipeline-run.png").stat().st_size > 10_000
    assert (ARTIFACTS / "nightdesk-page.png").stat().st_size > 10_000


def _runs_rows(warehouse_db: Path) -> list[dict]:
    import sqlite3

    with sqlite3.connect(warehouse_db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM runs")]


def _expect_row(expect, row_locator, row: dict) -> None:
    """One source's table row shows the runs row's figures."""
    expect(row_locator).to_have_count(1)
    for key in ("inserted", "updated", "unchanged", "known_skipped", "pages_fetched",
                "duplicates", "near_duplicates", "quarantined"):
        expect(row_locator.locator(f'[data-figure="{key}"]')).to_have_text(str(row[key]))
    expect(row_locator.locator('[data-figure="rejected"]')).to_have_text(str(row["rejected"]))
    expect(row_locator.locator('[data-figure="health"]')).to_have_text(row["health"])
