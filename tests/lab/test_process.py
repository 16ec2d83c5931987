"""redislab.lab.process: children in their own session that die with their owner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from redislab.lab.process import PDEATHSIG_SUPPORTED, spawn


def test_child_runs_in_its_own_session_with_output_captured(tmp_path) -> None:
    out = tmp_path / "out.log"
    proc = spawn([sys.executable, "-c", "print('hi')"], cwd=tmp_path, output=out)
    assert proc.wait(10) == 0
    assert out.read_text().strip() == "hi"
    proc2 = spawn([sys.executable, "-c", "import time; time.sleep(5)"], cwd=tmp_path, output=out)
    try:
        assert os.getsid(proc2.pid) == proc2.pid != os.getsid(0)
    finally:
        proc2.kill()
        proc2.wait()


@pytest.mark.skipif(not PDEATHSIG_SUPPORTED, reason="parent-death signal is Linux only")
@pytest.mark.parametrize("die_with_parent", [True, False])
def test_child_dies_with_a_sigkilled_parent_unless_detached(tmp_path, die_with_parent) -> None:
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from redislab.lab.process import spawn
        p = spawn([sys.executable, "-c", "import time; time.sleep(30)"],
                  cwd=Path({str(tmp_path)!r}), output=Path({str(tmp_path / "c.log")!r}),
                  die_with_parent={die_with_parent})
        print(p.pid, flush=True)
        time.sleep(30)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while psutil.pid_exists(child) and psutil.Process(child).status() != psutil.STATUS_ZOMBIE:
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    alive = psutil.pid_exists(child) and psutil.Process(child).status() != psutil.STATUS_ZOMBIE
    try:
        assert alive is (not die_with_parent)
    finally:
        if alive:
            os.kill(child, signal.SIGKILL)
