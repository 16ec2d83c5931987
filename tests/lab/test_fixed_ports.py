"""Labs at fixed addresses (``Lab.start(port=, sentinel_port=, master_name=)``), for other
projects' test suites that expect servers at known ports."""

from __future__ import annotations

import socket

import psutil
import pytest

from redislab import Lab
from redislab.errors import PortTaken, TopologyError
from redislab.lab.ports import port_is_free


def _free_block(n: int, *, start: int = 23000, step: int = 20) -> int:
    for base in range(start, 32000 - n, step):
        if all(port_is_free(p) for p in range(base, base + n)):
            return base
    raise RuntimeError("no free block")


def test_sentinel_lab_at_fixed_ports_and_master_name(lab_factory) -> None:
    base = _free_block(3)
    sbase = _free_block(3, start=base + 100)
    lab = lab_factory("sentinel", port=base, sentinel_port=sbase, master_name="suite-master")
    assert [n.port for n in lab.data_nodes] == [base, base + 1, base + 2]
    assert [s.port for s in lab.sentinels] == [sbase, sbase + 1, sbase + 2]
    sentinel = lab.sentinel_client()
    host, port = sentinel.discover_master("suite-master")
    assert (host, port) == ("127.0.0.1", base) and lab.master_name == "suite-master"


def test_a_taken_port_is_named_and_nothing_starts(lab_factory) -> None:
    base = _free_block(3, start=24000)
    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", base + 1))
        blocker.listen()
        before = {p.pid for p in psutil.process_iter()}
        with pytest.raises(PortTaken, match=str(base + 1)):
            Lab.start("replicated", port=base)
        started = {p.pid for p in psutil.process_iter()} - before
        assert not any("redis" in (psutil.Process(p).name() or "") for p in started
                       if psutil.pid_exists(p))  # fmt: skip


def test_master_name_needs_sentinels() -> None:
    with pytest.raises(TopologyError):
        Lab.start("standalone", master_name="x")
