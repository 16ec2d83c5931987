"""Lifecycle: nothing survives its owner, stale labs are cleaned, labs can be attached."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from redislab import Lab
from redislab.errors import LabNotFound
from redislab.kit.measure import wait_until
from redislab.lab.registry import (
    cleanup_stale,
    lab_server_pids,
    labs_dir,
    owner_alive,
    process_start_ticks,
    read_record,
)

PY = sys.executable


def _run_child(code: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PY, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.slow
@pytest.mark.cluster
@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="parent-death signal is Linux only"
)
def test_sigkilled_owner_takes_its_cluster_along():
    child = _run_child(
        """
        from redislab import Lab
        lab = Lab.start("cluster")
        print(" ".join(str(n.pid) for n in lab.nodes), flush=True)
        import time; time.sleep(600)
        """
    )
    line = child.stdout.readline()
    pids = [int(p) for p in line.split()]
    assert len(pids) == 6, child.stderr.read()
    assert all(psutil.pid_exists(p) for p in pids)
    child.send_signal(signal.SIGKILL)
    child.wait()
    t0 = time.monotonic()

    def all_gone() -> bool:
        return not any(
            psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
            for p in pids
        )

    wait_until(all_gone, timeout=2.0, what="every node of the killed owner's lab gone")
    assert time.monotonic() - t0 <= 2.0


def test_stale_lab_is_cleaned_at_next_start(isolated_home):
    # A lab whose owner died without the parent-death signal (as on macOS): detach=True
    # keeps the servers alive, then we turn the record into a non-detached one.
    lab = Lab.start("replicated", detach=True, name="stale-one")
    pids = [n.pid for n in lab.nodes]
    rec = read_record(lab.record_dir)
    rec["detached"] = False
    rec["owner_pid"] = 999_999_999  # certainly not running
    from redislab.lab.registry import write_record

    write_record(lab.record_dir, rec)
    removed = cleanup_stale()
    assert "stale-one" in removed
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in pids)
    assert not (labs_dir() / "stale-one").exists()


def test_detached_lab_survives_its_starter_even_while_still_referenced(isolated_home):
    # Regression (CI, 2026-11-26): the exit handler that stops a process's labs also
    # stopped a detached one whenever the Lab object was still alive at exit (a
    # reference cycle not yet collected; here a module global makes it certain).
    child = _run_child(
        """
        from redislab import Lab
        lab = Lab.start("standalone", detach=True, name="outlives-me")
        print(lab.primary.pid, flush=True)
        """,
        env={"REDISLAB_HOME": str(isolated_home)},
    )
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    pid = int(out.split()[0])
    lab = Lab.attach("outlives-me")
    try:
        assert lab.primary.pid == pid and lab.primary.alive
        assert lab.client().ping()
    finally:
        lab.stop(force=True)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def test_detached_lab_attach_and_down(isolated_home):
    env = {"REDISLAB_HOME": str(isolated_home)}
    up = subprocess.run(
        [PY, "-m", "redislab", "up", "sentinel", "--name", "attach-me"],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=60,
    )  # fmt: skip
    assert up.returncode == 0, up.stderr
    assert "Lab.attach('attach-me')" in up.stdout
    lab = Lab.attach("attach-me")  # the command that started it has exited
    try:
        assert lab.topology.name == "sentinel" and len(lab.nodes) == 6
        assert lab.client().set("from-notebook", 1)
        assert lab.sentinel_client().discover_master(lab.master_name)[1] == lab.primary.port
        lab.stop()  # attached: leaves it running
        assert Lab.attach().name == "attach-me"  # the only lab running
        status = subprocess.run(
            [PY, "-m", "redislab", "status"],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
        )
        assert "attach-me" in status.stdout and "sentinel-3" in status.stdout
        logs = subprocess.run(
            [PY, "-m", "redislab", "logs", "primary"], capture_output=True, text=True,
            env={**os.environ, **env},
        )  # fmt: skip
        assert "Ready to accept connections" in logs.stdout
    finally:
        down = subprocess.run(
            [PY, "-m", "redislab", "down", "attach-me"], capture_output=True, text=True,
            env={**os.environ, **env},
        )  # fmt: skip
    assert down.returncode == 0, down.stderr
    assert not any(n.alive for n in lab.nodes)
    with pytest.raises(LabNotFound, match="redislab up"):
        Lab.attach("attach-me")


def test_two_processes_start_labs_at_the_same_moment():
    code = """
        from redislab import Lab
        with Lab.start("replicated") as lab:
            print(" ".join(str(n.port) for n in lab.nodes), flush=True)
        """
    children = [_run_child(code) for _ in range(2)]
    ports = []
    for c in children:
        out, err = c.communicate(timeout=60)
        assert c.returncode == 0, err
        ports.append(set(map(int, out.split())))
    assert len(ports[0]) == 3 and not ports[0] & ports[1]


@pytest.mark.slow
def test_fifty_start_stop_cycles_leave_nothing_behind():
    me = psutil.Process()
    fds_before = me.num_fds()
    pids, dirs = set(), []
    for i in range(50):
        lab = Lab.start("standalone", name=f"cycle-{os.getpid()}-{i}")
        assert lab.client().ping()
        pids.add(lab.primary.pid)
        dirs.append(lab.record_dir)
        lab.stop()
    assert len(pids) == 50
    assert not pids & lab_server_pids()
    assert not any(d.exists() for d in dirs)
    assert me.num_fds() <= fds_before + 2  # no leaked sockets, files or pipes
    from redislab.lab.ports import _ports_dir

    held = [p for p in _ports_dir().iterdir() if p.read_text().strip() == str(os.getpid())]
    assert held == []


def test_owner_is_known_by_its_start_ticks_not_the_wall_clock(isolated_home):
    # A wall-clock jump (a VM paused and restored) moves psutil's create_time() and
    # could make a live owner look younger than its lab; the kernel's start ticks do not.
    lab = Lab.start("standalone", name="owned-here")
    try:
        rec = read_record(lab.record_dir)
        assert rec["owner_start_ticks"] == process_start_ticks(os.getpid()) is not None
        jumped = {**rec, "created": rec["created"] - 3600}  # as if the clock moved an hour on
        assert owner_alive(jumped)
        assert "owned-here" not in cleanup_stale() and lab.primary.alive
        # a reused pid (another process's start ticks) is not the owner
        assert not owner_alive({**rec, "owner_start_ticks": rec["owner_start_ticks"] - 1})
        # a record from before the ticks were kept falls back to the wall-clock test
        old = {k: v for k, v in rec.items() if k != "owner_start_ticks"}
        assert owner_alive(old) and not owner_alive({**old, "created": old["created"] - 3600})
    finally:
        lab.stop()
