"""The rq crash experiment's survivor always exits (issue 23: ``rq-b`` hung 60 s).

The cause: rq's ``teardown`` sends ``UNSUBSCRIBE`` on the worker's command channel and
then stops the listener thread (``PubSubWorkerThread.stop()`` joins it, unbounded). If
the listener reads the ``UNSUBSCRIBE`` reply before its stop flag is cleared, it calls
``get_message(timeout=60)`` once more, unsubscribed, and waits 60 s on
``subscribed_event``; the join waits with it. The scheduler decides who goes first, so
it happened only under load. :mod:`rq_race_hook` (written below, loaded in this process
or, as ``sitecustomize``, in the worker processes) forces that order every time: the
stop waits until the listener is inside that last ``get_message``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from redislab.errors import MessagingError
from redislab.messaging import rq_crash
from redislab.messaging.jobs import burst_worker, queue_for
from redislab.messaging.processes import WorkerProcess

HOOK = textwrap.dedent('''
    """Force the listener-first order of rq's teardown race (see test_rq_crash.py)."""
    import os
    import threading

    import redis.client as rc

    LISTENER_WAITING = threading.Event()  # the listener is in its last get_message


    def install(setattr=setattr, listener_timeout=None):
        get_message, stop = rc.PubSub.get_message, rc.PubSubWorkerThread.stop
        run_in_thread = rc.PubSub.run_in_thread

        def forced_get_message(self, *args, **kwargs):
            listener = isinstance(threading.current_thread(), rc.PubSubWorkerThread)
            if listener and not self.subscribed:  # it read the UNSUBSCRIBE reply first
                LISTENER_WAITING.set()
            return get_message(self, *args, **kwargs)

        def forced_stop(self, timeout=None):
            LISTENER_WAITING.wait(10)
            return stop(self, timeout)

        def short_run_in_thread(self, sleep_time=0.0, *args, **kwargs):
            return run_in_thread(self, listener_timeout or sleep_time, *args, **kwargs)

        setattr(rc.PubSub, "get_message", forced_get_message)
        setattr(rc.PubSubWorkerThread, "stop", forced_stop)
        setattr(rc.PubSub, "run_in_thread", short_run_in_thread)
        mark = os.environ.get("RQ_RACE_HOOK_MARK")
        if mark:
            with open(mark, "a") as f:
                f.write(f"{os.getpid()}\\n")


    def use_plain_simple_worker():
        """The worker the experiment ran before the fix: rq's own SimpleWorker."""
        import rq
        import redislab.messaging.jobs as jobs

        jobs._burst_worker_class = lambda: rq.SimpleWorker
''')


@pytest.fixture
def hook(tmp_path, monkeypatch):
    """``rq_race_hook`` importable here and loaded by every worker process spawned."""
    (tmp_path / "rq_race_hook.py").write_text(HOOK)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p))  # fmt: skip
    mark = tmp_path / "loaded-in"
    monkeypatch.setenv("RQ_RACE_HOOK_MARK", str(mark))
    import rq_race_hook

    rq_race_hook.LISTENER_WAITING.clear()
    yield tmp_path, mark, rq_race_hook
    sys.modules.pop("rq_race_hook", None)


def _in_children(tmp_path: Path, *, plain: bool) -> None:
    (tmp_path / "sitecustomize.py").write_text(
        "import rq_race_hook\nrq_race_hook.install()\n"
        + ("rq_race_hook.use_plain_simple_worker()\n" if plain else "")
    )


def test_plain_simple_worker_waits_out_its_listener_when_the_listener_goes_first(
    standalone_lab, hook, monkeypatch
):
    """The race itself, in this process: with the listener first, rq's own SimpleWorker
    exits only when the listener's ``get_message`` times out (60 s in rq; 3 s here)."""
    from rq import SimpleWorker

    _, _, rq_race_hook = hook
    rq_race_hook.install(monkeypatch.setattr, listener_timeout=3)
    q = queue_for(standalone_lab.client(), "t-rq-race-empty")
    q.empty()
    t0 = time.monotonic()
    SimpleWorker([q], connection=q.connection).work(burst=True, logging_level="WARNING")
    assert rq_race_hook.LISTENER_WAITING.is_set()
    assert time.monotonic() - t0 >= 2.9  # the whole listener timeout


def test_burst_worker_exits_at_once_in_the_same_order(standalone_lab, hook, monkeypatch):
    _, _, rq_race_hook = hook
    rq_race_hook.install(monkeypatch.setattr, listener_timeout=3)
    q = queue_for(standalone_lab.client(), "t-rq-race-empty")
    q.empty()
    worker = burst_worker(q)
    t0 = time.monotonic()
    worker.work(burst=True, logging_level="WARNING")
    assert time.monotonic() - t0 < 2.5
    assert worker.pubsub_thread is None  # nothing to stop


@pytest.mark.slow
def test_rq_crash_survivor_exits_with_the_listener_first(standalone_lab, hook):
    """Issue 23's failure, forced: every worker process runs the listener-first order
    with rq's 60 s listener timeout. rq-b exits once the queue is empty: within 30 s of
    the kill, or ``rq_crash`` raises (before the fix it waited out those 60 s)."""
    tmp_path, mark, _ = hook
    _in_children(tmp_path, plain=False)
    r = standalone_lab.client()
    out = rq_crash(r, jobs=30, work_ms=10, kill_after=5, retry=True, timeout=30)
    assert len(mark.read_text().split()) == 2  # the hook ran in rq-a and rq-b
    assert out["lost"] <= 1


@pytest.mark.slow
def test_a_stuck_survivor_is_killed_and_reported(standalone_lab, hook):
    """Before the fix (rq's own SimpleWorker in the workers), the same order hung rq-b:
    the harness now kills it after ``timeout`` and says where it was stuck."""
    tmp_path, _, _ = hook
    _in_children(tmp_path, plain=True)
    r = standalone_lab.client()
    t0 = time.monotonic()
    with pytest.raises(MessagingError, match=r"worker rq-b \(pid \d+\) had not exited 30 s") as e:
        rq_crash(r, jobs=30, work_ms=10, kill_after=5, retry=True, timeout=30)
    assert time.monotonic() - t0 < 120  # bounded: start-up (slow under load), kill, 30 s
    assert "get_message" in str(e.value) and "unsubscribe" in str(e.value)  # its stacks


def test_finish_kills_a_worker_that_does_not_exit(tmp_path):
    code = ("import faulthandler, signal, sys, time\n"
            "faulthandler.register(signal.SIGUSR1, all_threads=True)\n"
            "print('up', flush=True)\n"
            "def stuck_here(): time.sleep(600)\n"
            "stuck_here()\n")  # fmt: skip
    popen = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)  # fmt: skip
    w = WorkerProcess(popen, "sleeper")
    try:
        assert popen.stdout is not None and popen.stdout.readline() == b"up\n"
        t0 = time.monotonic()
        with pytest.raises(MessagingError, match=r"worker sleeper .* had not exited 1 s") as e:
            w.finish(1)
        assert time.monotonic() - t0 < 10
        assert "in stuck_here" in str(e.value)  # its stack, from faulthandler
        assert not w.alive()
    finally:
        w.stop()
        if popen.stdout is not None:
            popen.stdout.close()


def test_finish_returns_the_exit_code_of_a_worker_that_exits():
    popen = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"],
                             stderr=subprocess.PIPE)  # fmt: skip
    with WorkerProcess(popen, "quick") as w:
        assert w.finish(30) == 3
