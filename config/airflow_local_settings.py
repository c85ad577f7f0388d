"""Airflow's local settings hook: every Airflow process imports this at start-up (from
$AIRFLOW_HOME/config, which bin/airflow makes the repo root).

Task log servers listen on 127.0.0.1. The scheduler, triggerer and Celery worker each start a
log server (`[logging] worker_log_server_port` 8793, `trigger_log_server_port` 8794) so that the
API server can show running tasks' logs; Airflow 3.3 binds it to every interface and has no
setting for the address. On one host (LocalExecutor, `make ui`) the API server reaches it on
loopback. A deployment whose API server fetches logs from workers on other hosts sets
NIGHTDESK_LOG_SERVER_HOST to the worker's address on the private network (never 0.0.0.0 on a
public one).
"""

from __future__ import annotations

import os
import sys

__all__: list[str] = []  # nothing here overrides airflow.settings' own names

LOG_SERVER_HOST = os.environ.get("NIGHTDESK_LOG_SERVER_HOST", "127.0.0.1")
# The components that start a log server (`airflow celery worker` has "worker" second).
_SERVES_LOGS = {"scheduler", "triggerer", "worker"}


def serve_logs_on_host(port: int | None = None) -> None:
    """airflow.utils.serve_logs.serve_logs, bound to LOG_SERVER_HOST. Runs in the log server's
    own process, so replacing uvicorn.run there touches nothing else."""
    import uvicorn

    run = uvicorn.run

    def bound(app: object, **options: object) -> None:
        options["host"] = LOG_SERVER_HOST
        print(f"nightdesk: task log server on {LOG_SERVER_HOST}:{options.get('port')}",
              file=sys.stderr)
        run(app, **options)

    uvicorn.run = bound
    _original(port)


def _install() -> None:
    global _original
    import airflow.utils.serve_logs as package
    from airflow.utils.serve_logs import core

    if core.serve_logs is not serve_logs_on_host:
        _original = core.serve_logs
        package.serve_logs = core.serve_logs = serve_logs_on_host


_original = None
# Only where a log server starts: importing it costs the others (task processes) time.
if _SERVES_LOGS & set(sys.argv[1:3]):
    _install()
