"""Demo only (bin/demo, `make run`): give runs made by `airflow dags test` their real start time.

`airflow dags test news_pipeline 2022-02-01T02:00` records the run's start_date as its logical
date (Airflow's dag.test passes `start_date=logical_date`), so the UI shows a ~10 s run as
lasting from 2022 to today ("1770d 15h"). This sets start_date of such runs to when their first
task started, which is when the run really began; runs started by the scheduler (nightly,
backfills) already have it and are left alone. Run with AIRFLOW_HOME set (bin/demo does).
"""

from __future__ import annotations

import sys


def fix_test_run_starts(dag_id: str) -> int:
    """Runs of `dag_id` triggered by `dags test` whose start_date is their logical date get the
    earliest start of their task instances; returns how many were fixed."""
    import sqlalchemy as sa
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.types import DagRunTriggeredByType

    fixed = 0
    with create_session() as session:
        runs = session.scalars(sa.select(DagRun).where(
            DagRun.dag_id == dag_id, DagRun.triggered_by == DagRunTriggeredByType.TEST,
            DagRun.start_date == DagRun.logical_date)).all()
        for run in runs:
            first = session.scalar(sa.select(sa.func.min(TaskInstance.start_date)).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id))
            if first is not None:
                run.start_date = first
                fixed += 1
    return fixed


if __name__ == "__main__":
    print(fix_test_run_starts(sys.argv[1] if len(sys.argv) > 1 else "news_pipeline"))
