"""Airflow in its production shapes, and security by default.

- news_pipeline through real Celery workers (`airflow celery worker`, Redis broker, PostgreSQL
  result backend) and through the LocalExecutor, both with the metadata on PostgreSQL: a fresh
  database per test, created and dropped here, next to a real scheduler and api-server.
- No secret in the git-tracked files, airflow.cfg safe by default, the API closed to anyone
  without a login, the deploy/ files complete.

The stack helpers (free ports, the environment, starting and stopping components) are shared with
tests/test_browser.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pytest

from tests.conftest import PG_BASE, REPO, write_sources

AIRFLOW = REPO / "bin" / "airflow"
REDIS_URL = os.environ.get("NIGHTDESK_TEST_REDIS", "redis://127.0.0.1:6379")
WINDOW_START = datetime(2022, 1, 31, 2, tzinfo=UTC)
TASKS = {"migrate", "list_sources", "crawl", "transform", "load_lake", "load_warehouse", "check"}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stack_env(tmp: Path, metadata_url: str, **extra: str) -> dict[str, str]:
    """The environment every Airflow process of one test shares: the project's airflow.cfg with
    the metadata, logs, data, ports and the passwords file moved into the test's own places."""
    api_port = free_port()
    env = dict(
        os.environ,
        AIRFLOW_HOME=str(REPO), PYTHONPATH=str(REPO),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=metadata_url,
        AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(tmp / "logs"),
        AIRFLOW__API__PORT=str(api_port),
        AIRFLOW__API__WORKERS="1",  # one uvicorn worker: this machine has two cores
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api_port}/execution/",
        # The log server a LocalExecutor scheduler or a Celery worker opens (8793 by default)
        # must not collide with a developer's running `make ui` or another test.
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(tmp / "airflow-passwords.json"),
        NIGHTDESK_DATA_DIR=str(tmp / "data"),
        NIGHTDESK_SOURCES=str(write_sources(tmp / "sources.toml")),
        NIGHTDESK_TASK_RETRIES="0",
        # Only the run a test triggers: unpausing would otherwise also start the schedule's own
        # latest window (catchup is off, but the last complete window is still due).
        AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",  # airflow.cfg's too, but relied on
    )
    env.update(extra)
    return env


@dataclass
class Stack:
    """Airflow components of one test, each `bin/airflow <component>` in its own process group."""

    env: dict[str, str] = field(repr=False)  # os.environ: never into a failure message
    logs: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    files: list[IO[bytes]] = field(default_factory=list)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.env['AIRFLOW__API__PORT']}"

    def cli(self, *args: str, timeout: float = 300) -> str:
        proc = subprocess.run([str(AIRFLOW), *args], cwd=REPO, env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        assert proc.returncode == 0, f"airflow {' '.join(args)}:\n{proc.stderr[-4000:]}"
        return proc.stdout + proc.stderr

    def start(self, *args: str) -> Path:
        """Start a long-running component; its output goes to a log file the test may read."""
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{args[0]}{'-' + args[1] if len(args) > 1 else ''}.log"
        out = log.open("wb")
        self.files.append(out)
        # A new session per component: stopping it must also stop the processes it forked
        # (uvicorn workers, the dag parser, Celery's pool, task supervisors).
        self.procs.append(subprocess.Popen([str(AIRFLOW), *args], cwd=REPO, env=self.env,
                                           start_new_session=True, stdout=out,
                                           stderr=subprocess.STDOUT))
        return log

    def wait_for_api(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.procs:
                assert proc.poll() is None, f"{proc.args} exited early: see {self.logs}"
            try:
                with urllib.request.urlopen(f"{self.api}/api/v2/monitor/health", timeout=5):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        pytest.fail(f"the api-server did not answer within {timeout}s: see {self.logs}")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        for out in self.files:
            out.close()


def server_url(url: str) -> str:
    """The URL of the PostgreSQL server of a database URL (without the database)."""
    return url.split("?")[0].rsplit("/", 1)[0]


@pytest.fixture
def airflow_pg() -> Iterator[str]:
    """A fresh PostgreSQL database for the Airflow metadata (nd_air_<random>), dropped afterwards.

    A database, not a schema: Airflow's migrations and the Celery result backend expect the
    default search_path of a database of their own, as in production."""
    import sqlalchemy as sa

    name = f"nd_air_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_BASE, isolation_level="AUTOCOMMIT")  # CREATE DATABASE: no txn
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is required (make services): {exc}")
    try:
        yield f"{server_url(PG_BASE)}/{name}"
    finally:
        with admin.connect() as conn:
            # FORCE: a component killed mid-query may still hold a connection for a moment.
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _query(url: str, sql: str) -> list[Any]:
    import sqlalchemy as sa

    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            return list(conn.execute(sa.text(sql)))
    finally:
        eng.dispose()


def wait_for_run(metadata_url: str, stack: Stack, timeout: float) -> tuple[str, datetime]:
    """Poll the metadata database until the one run of news_pipeline ends."""
    deadline = time.monotonic() + timeout
    state = "none"
    while time.monotonic() < deadline:
        for proc in stack.procs:
            assert proc.poll() is None, f"{proc.args} exited early: see {stack.logs}"
        rows = _query(metadata_url, "SELECT state, data_interval_start FROM dag_run "
                                    "WHERE dag_id = 'news_pipeline'")
        assert len(rows) <= 1, rows  # the schedule is off (stack_env): only the test's run
        if rows:
            state = rows[0][0]
            if state in ("success", "failed"):
                return state, rows[0][1]
        time.sleep(2)
    pytest.fail(f"news_pipeline still {state} after {timeout}s: see {stack.logs}")


def task_instances(metadata_url: str) -> list[dict[str, Any]]:
    rows = _query(metadata_url, "SELECT task_id, map_index, state, queue, hostname, executor "
                                "FROM task_instance WHERE dag_id = 'news_pipeline'")
    return [dict(r._mapping) for r in rows]


def run_one_window(stack: Stack, tmp: Path, metadata_url: str, workers: list[list[str]],
                   **extra: str) -> tuple[str, datetime]:
    """Migrate and serialize news_pipeline, create the run of day 2022-01-31's window,
    then let a real api-server and scheduler (and the given workers) run it.

    The run is a one-day backfill: `airflow dags trigger --logical-date 2022-02-01T02:00` would
    set the logical date but, in Airflow 3.3, infer the data interval from the trigger's wall
    clock (run_after = now), i.e. crawl yesterday's window, not 2022-01-31's."""
    stack.env = stack_env(tmp, metadata_url, **extra)
    stack.cli("db", "migrate")
    # As in deploy/: migrated once above, so no component migrates (and races) again.
    stack.env["NIGHTDESK_AIRFLOW_AUTO_MIGRATE"] = "0"
    stack.cli("dags", "reserialize")  # unpaused as it is created (stack_env): no `dags unpause`
    stack.cli("backfill", "create", "--dag-id", "news_pipeline", "--from-date", "2022-01-31",
              "--to-date", "2022-02-01")
    stack.start("api-server")
    for args in workers:  # a worker starts while the api-server does: it needs no API to start
        stack.start(*args)
    stack.wait_for_api()
    stack.start("scheduler")
    return wait_for_run(metadata_url, stack, timeout=240)


def assert_rows_landed(data: Path, warehouse_url: str) -> None:
    from etl import lake, warehouse

    rows = lake.read(data)
    assert "moscowtimes:76213" in set(rows["article_id"])
    assert rows["published_at"].min() >= WINDOW_START
    assert lake.checksum(data) == warehouse.checksum(warehouse_url)


@pytest.mark.slow
@pytest.mark.postgres
def test_celery_workers_run_the_dag_with_postgres_metadata(tmp_path: Path, seed_path: Path,
                                                          airflow_pg: str, stack: Stack) -> None:
    """CeleryExecutor: the scheduler sends each task through Redis to a real `airflow celery
    worker`, which reports back through the PostgreSQL result backend; the warehouse is on
    PostgreSQL too (its own schema in the test's database)."""
    import sqlalchemy as sa

    tag = uuid.uuid4().hex[:8]
    # A queue of this test's own: no other worker on the same Redis (a developer's, a parallel
    # test run) can take its tasks, and the queue column proves the routing.
    queue = f"nightdesk_test_{tag}"
    broker_db = int(tag, 16) % 15 + 1  # not db 0, where a developer's own broker would live
    broker = f"{REDIS_URL}/{broker_db}"
    eng = sa.create_engine(airflow_pg)
    with eng.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA warehouse"))
    eng.dispose()
    warehouse_url = f"{airflow_pg}?options=-csearch_path%3Dwarehouse"
    try:
        state, interval_start = run_one_window(
            stack, tmp_path, airflow_pg,
            workers=[["celery", "worker", "--queues", queue, "--concurrency", "2",
                      "--celery-hostname", f"nightdesk-{tag}@%h", "--without-mingle",
                      "--without-gossip"]],
            AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
            AIRFLOW__OPERATORS__DEFAULT_QUEUE=queue,
            AIRFLOW__CELERY__BROKER_URL=broker,
            AIRFLOW__CELERY__RESULT_BACKEND=f"db+{airflow_pg}",
            NIGHTDESK_WAREHOUSE_URL=warehouse_url,
        )
    finally:
        stack.stop()
        _drop_queue(broker, queue)

    tis = task_instances(airflow_pg)
    assert state == "success", tis
    assert interval_start == WINDOW_START
    assert {t["task_id"] for t in tis} == TASKS
    assert {t["state"] for t in tis} == {"success"}
    assert {t["queue"] for t in tis} == {queue}
    assert all(t["hostname"] for t in tis)
    # Every task went through Celery: the worker logged it, the result backend recorded it.
    worker_log = (stack.logs / "celery-worker.log").read_text(errors="replace")
    assert f"nightdesk-{tag}@" in worker_log and "ready." in worker_log
    executed = re.findall(r"Executing workload in Celery: .*?task_id='(\w+)'", worker_log)
    assert set(executed) == TASKS, worker_log[-3000:]
    meta = _query(airflow_pg, "SELECT status, count(*) FROM celery_taskmeta GROUP BY status")
    assert dict(meta) == {"SUCCESS": len(tis)}
    assert_rows_landed(tmp_path / "data", warehouse_url)


def _drop_queue(broker: str, queue: str) -> None:
    """Leave nothing of this test in Redis (kombu keeps a list per queue and binding sets)."""
    import redis

    client = redis.Redis.from_url(broker)
    try:
        keys = list(client.scan_iter(match=f"*{queue}*"))
        if keys:
            client.delete(*keys)
        # kombu's shared delayed-delivery binding: dropped only if nobody else uses this db.
        if set(client.keys("*")) <= {b"_kombu.binding_deadlines"}:
            client.delete("_kombu.binding_deadlines")
    finally:
        client.close()


@pytest.mark.slow
@pytest.mark.postgres
def test_local_executor_runs_the_dag_with_postgres_metadata(tmp_path: Path, seed_path: Path,
                                                           airflow_pg: str,
                                                           stack: Stack) -> None:
    """LocalExecutor (the single-host production shape): the scheduler runs tasks in its own
    worker processes; the metadata is on PostgreSQL, the warehouse is SQLite in the data dir."""
    try:
        state, interval_start = run_one_window(stack, tmp_path, airflow_pg, workers=[],
                                               AIRFLOW__CORE__EXECUTOR="LocalExecutor")
    finally:
        stack.stop()
    tis = task_instances(airflow_pg)
    assert state == "success", tis
    assert interval_start == WINDOW_START
    assert {t["task_id"] for t in tis} == TASKS
    assert {t["state"] for t in tis} == {"success"}
    assert all(t["hostname"] for t in tis)
    # Nothing went through Celery: the provider's result table was never even created.
    assert not _query(airflow_pg, "SELECT 1 FROM pg_tables WHERE tablename = 'celery_taskmeta'")
    data = tmp_path / "data"
    assert_rows_landed(data, f"sqlite:///{data / 'warehouse.db'}")


# --- security by default ----------------------------------------------------------------------

# name = value, name: value, "name": "value" with a secret-looking name and a non-empty literal.
SECRET_NAMES = r"(?:jwt_secret|fernet_key|secret_key|api_secret|password|passwd|token|secret)"
ASSIGNMENT = re.compile(
    rf"""(?ix) ["']? ([\w.-]*{SECRET_NAMES}[\w-]*) ["']? \s* (?:=|:) \s* ["']? ([^\s"'#,}}]+)""")
# Options that name where a secret is, not the secret (airflow's *_cmd / *_secret variants too).
REFERENCE_NAME = re.compile(r"(?i)(?:_file|_path|_dir|_cmd|_command|_secret_name)$")
# Values that are obviously not secrets: a reference ($VAR, ${VAR:-...}, <placeholder>, a path, a
# template), a constant, or an expression in code (a call, a lookup, an attribute, a name).
PLACEHOLDER = re.compile(
    r"""(?ix) ^(?: [$<%/] .* | \{\{ .* | changeme | none | null | false | true | \.\.\.
    | \w+\( .* | \w+\[ .* | \w+\.\w+ .* | [a-z_]+ )$""")
PRIVATE_KEY = re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH )?PRIVATE KEY-----")
HIGH_ENTROPY_KEY = re.compile(r"(?<![\w/+-])[A-Za-z0-9_-]{43}=(?![\w=])")  # a fernet key
# Files that hold nothing but secrets, whatever their lines look like ({"admin": "<password>"}).
SECRET_FILE = re.compile(r"(?i)^(?:.*secrets?\.env|.*passwords?\.json(?:\.generated)?|\.env"
                         r"|.*\.(?:pem|key|p12|pfx)|id_(?:rsa|ed25519|ecdsa))$")


def tracked_files() -> list[Path]:
    # Tracked files and the untracked ones git does not ignore: what the next commit may add.
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=REPO, capture_output=True, check=True)
    return [REPO / p for p in out.stdout.decode().split("\0") if p]


def secret_findings(path: Path, text: str) -> list[str]:
    found = []
    for lineno, line in enumerate(text.splitlines(), 1):
        where = f"{path.relative_to(REPO)}:{lineno}: {line.strip()[:120]}"
        if PRIVATE_KEY.search(line) or HIGH_ENTROPY_KEY.search(line):
            found.append(where)
            continue
        for match in ASSIGNMENT.finditer(line):
            name, value = match.groups()
            if REFERENCE_NAME.search(name) or PLACEHOLDER.match(value):
                continue
            if len(value) >= 6:
                found.append(where)
    return found


def test_the_secret_scanner_catches_what_it_is_for() -> None:
    """The scanner itself: each line below must be flagged, the ones after must not."""
    caught = [
        "jwt_secret = 9f86d081884c7d659a2feaa0c55ad015",
        'AIRFLOW__CORE__FERNET_KEY="Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eHF1dXg="',
        "secret_key: s3cr3t-value-here",
        '{"admin": "x", "password": "hunter22"}',
        "PGPASSWORD=topsecret1",
        "-----BEGIN RSA PRIVATE KEY-----",
    ]
    clean = [
        "AIRFLOW__API_AUTH__JWT_SECRET=",
        'jwt_secret = conf.get("api_auth", "jwt_secret")',
        "secret_key = os.environ['X']",
        "password = ${NIGHTDESK_PASSWORD}",
        "password: <generated on first use>",
        "simple_auth_manager_passwords_file = ${AIRFLOW_HOME}/data/airflow-passwords.json",
    ]
    here = REPO / "x.cfg"
    assert [bool(secret_findings(here, line)) for line in caught] == [True] * len(caught)
    assert [secret_findings(here, line) for line in clean] == [[]] * len(clean)


def test_no_secret_in_git_tracked_files() -> None:
    files = tracked_files()
    assert [p for p in files if SECRET_FILE.match(p.name)] == []
    findings: list[str] = []
    for path in files:
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        if path == Path(__file__):  # this file holds the scanner's own examples
            continue
        raw = path.read_bytes()
        if b"\0" in raw[:8192]:  # binary (Parquet fixtures, images)
            continue
        findings += secret_findings(path, raw.decode("utf-8", errors="replace"))
    assert findings == [], "secret-looking values in tracked files:\n" + "\n".join(findings)
    # The generated secrets and passwords live in data/, which git ignores.
    ignored = subprocess.run(["git", "check-ignore", "data/airflow-secrets.env",
                              "data/airflow-passwords.json", "data/test-artifacts/x.png"],
                             cwd=REPO, capture_output=True, text=True)
    assert ignored.returncode == 0 and len(ignored.stdout.split()) == 3


def test_airflow_cfg_is_secure_by_default() -> None:
    import configparser

    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(REPO / "airflow.cfg")
    secret_options = {"fernet_key", "secret_key", "jwt_secret", "internal_api_secret_key",
                      "broker_url", "result_backend"}  # the last two may carry a password
    present = {o for s in cfg.sections() for o in cfg[s] if o in secret_options}
    assert present == set(), f"set these through the environment, not airflow.cfg: {present}"
    assert cfg.getboolean("core", "simple_auth_manager_all_admins", fallback=False) is False
    assert cfg.get("core", "simple_auth_manager_users") == "admin:admin"  # user admin, role admin
    assert cfg["core"]["simple_auth_manager_passwords_file"].startswith("${AIRFLOW_HOME}/data/")
    assert cfg.get("api", "host") == "127.0.0.1"
    assert cfg.getboolean("api", "expose_config") is False
    assert cfg.getboolean("core", "load_examples") is False


def _request(url: str, *, data: dict[str, str] | None = None,
             token: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, {}


def listening_addresses(port: int) -> set[str]:
    import psutil

    return {c.laddr.ip for c in psutil.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port}


@pytest.mark.slow
def test_api_requires_a_login_with_the_generated_password(tmp_path: Path,
                                                          stack: Stack) -> None:
    """The api-server as bin/airflow starts it, with nothing but the project's airflow.cfg."""
    stack.env = stack_env(tmp_path, f"sqlite:///{tmp_path / 'airflow.db'}")
    passwords = Path(stack.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    log = stack.start("api-server")
    stack.wait_for_api(timeout=120)
    api = stack.api

    # bin/airflow generated the password (0600) before Airflow could print it into the log.
    assert passwords.stat().st_mode & 0o777 == 0o600
    password = json.loads(passwords.read_text())["admin"]
    assert len(password) >= 16 and password not in log.read_text(errors="replace")
    # Bound to the loopback interface only.
    assert listening_addresses(int(stack.env["AIRFLOW__API__PORT"])) == {"127.0.0.1"}

    assert _request(f"{api}/api/v2/dags")[0] in (401, 403)
    assert _request(f"{api}/api/v2/dags", token="not-a-token")[0] in (401, 403)
    # The passwordless "all admins" token exists only with simple_auth_manager_all_admins.
    assert _request(f"{api}/auth/token")[0] in (401, 403)
    wrong = _request(f"{api}/auth/token", data={"username": "admin", "password": "admin"})
    assert wrong[0] == 401
    status, body = _request(f"{api}/auth/token", data={"username": "admin", "password": password})
    assert status == 201 and body["access_token"]
    status, dags = _request(f"{api}/api/v2/dags", token=body["access_token"])
    assert status == 200 and "total_entries" in dags


# --- deploy/ ----------------------------------------------------------------------------------

DEPLOY = REPO / "deploy"
COMPONENTS = {"api-server", "scheduler", "dag-processor", "triggerer", "celery worker"}


def test_deploy_files_cover_every_component_without_secrets() -> None:
    units = {p.name: p.read_text() for p in DEPLOY.glob("*.service")}
    starts: dict[str, str] = {}
    for name, text in units.items():
        exec_start = re.search(r"^ExecStart=(.+)$", text, re.M)
        assert exec_start, name
        command = exec_start.group(1)
        assert "/bin/airflow " in command, (name, command)  # the project's wrapper, always
        starts[name] = command.split("/bin/airflow ", 1)[1]
        assert re.search(r"^EnvironmentFile=", text, re.M), name
        assert re.search(r"^User=nightdesk$", text, re.M), name  # never root
    started = {" ".join(c.split()[:2]) if c.startswith("celery") else c.split()[0]
               for c in starts.values()}
    assert started >= COMPONENTS, started
    assert "db migrate" in starts.values()

    procfile = dict(line.split(":", 1) for line in (DEPLOY / "Procfile").read_text().splitlines()
                    if line.strip() and not line.startswith("#"))
    assert {"api", "scheduler", "dag_processor", "triggerer", "worker"} <= set(procfile)

    example = (DEPLOY / "nightdesk.env.example").read_text()
    variables = dict(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=(.*)$", example, re.M))
    # Every variable the units and the Procfile rely on is documented ...
    used = set(re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", "\n".join([*units.values(),
                                                               *procfile.values()])))
    assert used <= set(variables), used - set(variables)
    for required in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
                     "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC", "AIRFLOW__CORE__EXECUTOR",
                     "AIRFLOW__CELERY__BROKER_URL",
                     "AIRFLOW__CELERY__RESULT_BACKEND", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
                     "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET",
                     "AIRFLOW__API__SECRET_KEY", "NIGHTDESK_SOURCES", "NIGHTDESK_DATA_DIR",
                     "NIGHTDESK_WAREHOUSE_URL", "NIGHTDESK_AIRFLOW_AUTO_MIGRATE"):
        assert required in variables, required
    # ... and no key holds a value (the scanner above reads deploy/ too; this says why).
    for key in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET",
                "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__INTERNAL_API_SECRET_KEY"):
        assert variables.get(key, "").strip() == "", key
    assert not re.search(r"://[^/\s:@]+:[^@\s/]+@", example), "a URL with a password"
