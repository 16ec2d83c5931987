"""redislab.lab.ports: reservations below 32768, exclusive across processes, stale ones reused."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from redislab.lab import ports


def test_reserved_ports_and_their_bus_ports_stay_below_32768(isolated_home) -> None:
    got = [ports.reserve_port(bus=True) for _ in range(20)]
    try:
        assert len(set(got)) == 20
        assert all(ports.PORT_RANGE[0] <= p < ports.PORT_RANGE[1] for p in got)
        assert all(p + 10000 < 32768 for p in got)
    finally:
        for p in got:
            ports.release_port(p)
            ports.release_port(p + 10000)


def test_a_reserved_port_is_not_handed_out_again(isolated_home, monkeypatch) -> None:
    first = ports.reserve_port()
    try:
        monkeypatch.setattr(ports._rng, "randrange", lambda *a: first)
        monkeypatch.setattr(ports._rng, "randint", lambda *a: first)
        assert not ports._try_reserve(first, os.getpid())
    finally:
        ports.release_port(first)


def test_a_reservation_whose_owner_died_is_stale(isolated_home) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    pid = int(dead.stdout)
    port = ports.reserve_port(owner=pid)
    assert ports._try_reserve(port, os.getpid())  # the dead owner's claim is taken over
    ports.release_port(port)


def test_port_is_free_sees_a_listener() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert not ports.port_is_free(s.getsockname()[1])
