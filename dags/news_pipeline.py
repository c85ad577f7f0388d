"""news_pipeline: every night at 02:00 UTC, the articles of [previous 02:00, 02:00) for each source.

Wiring only. Each task calls one step of the entry-point layer (nightdesk/pipeline.py) with
explicit arguments, the steps `nightdesk run` calls, and imports it inside the task: parsing this
file imports no pandas, pyarrow or Scrapy and touches no file or network. `migrate` runs first and
is the only task that changes the warehouse schema; the others check its version and fail at once
when it is not this code's (etl/migrate.py).

Settings (contracts/settings.py) come from the environment, read once per task at run time and
passed to the step: NIGHTDESK_SOURCES (sources TOML, default sources/demo.toml),
NIGHTDESK_DATA_DIR (default ./data), NIGHTDESK_WAREHOUSE_URL (default SQLite in the data dir),
NIGHTDESK_WORKERS, NIGHTDESK_NEARDUP, NIGHTDESK_MAX_QUARANTINE_SHARE, ...; NIGHTDESK_TASK_RETRIES
(default 2) is read when the file is parsed, as Airflow needs it then.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from airflow.sdk import Asset, CronDataIntervalTimetable, chain, dag, get_current_context, task

from contracts.settings import Settings

LAKE = Asset(name="nightdesk_lake_articles", uri="nightdesk://lake/articles")
WAREHOUSE = Asset(name="nightdesk_warehouse_articles", uri="nightdesk://warehouse/articles")


def _window() -> dict[str, str]:
    ctx = get_current_context()
    return {
        "start": ctx["data_interval_start"].isoformat(),
        "end": ctx["data_interval_end"].isoformat(),
    }


@contextmanager
def _no_retry_when_schema_is_not_current() -> Iterator[None]:
    """A warehouse behind the code stays behind whatever is retried: fail the task at once."""
    from airflow.sdk.exceptions import AirflowFailException

    from nightdesk.pipeline import SchemaNotCurrent

    try:
        yield
    except SchemaNotCurrent as exc:
        raise AirflowFailException(str(exc)) from exc


@dag(
    dag_id="news_pipeline",
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone="UTC"),
    start_date=datetime(2022, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": Settings.from_env().task_retries,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
        "execution_timeout": timedelta(hours=2),
    },
    tags=["nightdesk"],
    doc_md=__doc__,
)
def news_pipeline():
    @task
    def migrate() -> dict:
        from nightdesk.pipeline import migrate as migrate_warehouse

        return migrate_warehouse(Settings.from_env())

    @task
    def list_sources() -> list[str]:
        from nightdesk.pipeline import source_names

        return source_names(Settings.from_env())

    # Mapped crawls are labelled by source in the UI, not crawl [0], crawl [1], ...
    @task(max_active_tis_per_dagrun=4, map_index_template="{{ nightdesk_source }}")
    def crawl(source: str) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from nightdesk.pipeline import NothingToCrawl
        from nightdesk.pipeline import crawl as crawl_source

        get_current_context()["nightdesk_source"] = source  # type: ignore[typeddict-unknown-key]
        settings = Settings.from_env()
        w = _window()
        try:
            with _no_retry_when_schema_is_not_current():
                return crawl_source(source, w["start"], w["end"],
                                    sources_file=settings.sources_file,
                                    data_dir=settings.data_dir,
                                    warehouse_url=settings.warehouse, settings=settings)
        except NothingToCrawl as exc:  # fail at once: no retry can change the window
            raise AirflowFailException(str(exc)) from exc

    @task
    def transform(sources: list[str]) -> dict:
        from nightdesk.pipeline import transform as transform_window

        w = _window()
        with _no_retry_when_schema_is_not_current():
            return transform_window(w["start"], w["end"], list(sources), Settings.from_env())

    @task(outlets=[LAKE])
    def load_lake() -> dict:
        from nightdesk.pipeline import load_lake as load

        w = _window()
        ctx = get_current_context()
        counts = load(w["start"], w["end"], ctx["run_id"], Settings.from_env())
        ctx["outlet_events"][LAKE].extra = {"window": w, **counts}  # the night's figures
        return counts

    @task(outlets=[WAREHOUSE])
    def load_warehouse() -> dict:
        from nightdesk.pipeline import load_warehouse as load

        w = _window()
        ctx = get_current_context()
        with _no_retry_when_schema_is_not_current():
            figures = load(w["start"], w["end"], ctx["run_id"], Settings.from_env())
        ctx["outlet_events"][WAREHOUSE].extra = {"window": w, "sources": figures}
        return figures

    @task
    def check() -> dict:
        from nightdesk.pipeline import check as check_window

        w = _window()
        return check_window(w["start"], w["end"], get_current_context()["run_id"],
                            Settings.from_env())

    # Order by dependencies, not by passing results a task does not read.
    sources = list_sources()
    crawled = crawl.expand(source=sources)
    chain(migrate(), sources, crawled, transform(sources), load_lake(), load_warehouse(), check())


news_pipeline()
