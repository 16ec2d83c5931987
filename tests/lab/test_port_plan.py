"""A lab at fixed ports is a plan of ports (data, cluster bus at +10000, sentinel, TLS), and
the lab refuses a plan whose ports collide, within itself or with a lab the registry knows,
before it starts anything (``PortConflict``, naming both owners); a port some other
process holds is ``PortTaken``, naming it. The README's fixed-address recipe passes."""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import socket
import sys
from pathlib import Path

import pytest

from redislab import Lab
from redislab.cli import build_parser
from redislab.errors import PortConflict, PortTaken
from redislab.lab import specs
from redislab.lab.ports import PortUse, check_port_plan, port_is_free
from redislab.lab.registry import labs_dir
from redislab.lab.topology import get_topology

ROOT = Path(__file__).resolve().parents[2]


def _free_block(n: int, *, start: int, bus: bool = False, step: int = 20) -> int:
    for base in range(start, 32000 - n, step):
        ports = [*range(base, base + n), *(range(base + 10000, base + 10000 + n) if bus else ())]
        if max(ports) < 32768 and all(port_is_free(p) for p in ports):
            return base
    raise RuntimeError("no free block")


def _readme_recipe() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("### Fixed addresses", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the README lost its fixed-address recipe"
    return [ln.split("#", 1)[0].strip() for ln in block.group(1).splitlines() if ln.strip()]


def test_the_readmes_fixed_address_recipe_has_no_colliding_ports() -> None:
    commands = _readme_recipe()
    assert len(commands) >= 3 and all(c.startswith("redislab up ") for c in commands)
    running: list[PortUse] = []
    for i, command in enumerate(commands, start=1):
        args = build_parser().parse_args(shlex.split(command)[1:])
        topo, _ = specs.validate_start(args.topology, None, "fast", None, args.master_name)
        data = list(range(args.port, args.port + len(topo.nodes)))
        first = args.sentinel_port or args.port + 20000
        sent = list(range(first, first + topo.sentinels))
        plan = specs.port_plan(topo, data, sent)
        assert all(u.port < 32768 for u in plan), (command, plan)  # below the ephemeral range
        check_port_plan(plan, running, is_free=None)  # PortConflict names both owners
        running += [dataclasses.replace(u, lab=f"{i} ({command})") for u in plan]


def test_the_readmes_fixed_address_recipe_runs(lab_factory) -> None:
    """The recipe's labs, started one after the other as the README says (not detached)."""
    parsed = [build_parser().parse_args(shlex.split(c)[1:]) for c in _readme_recipe()]
    wanted = []
    for args in parsed:
        topo = get_topology(args.topology)
        data = list(range(args.port, args.port + len(topo.nodes)))
        first = args.sentinel_port or args.port + 20000
        plan = specs.port_plan(topo, data, list(range(first, first + topo.sentinels)))
        wanted += [u.port for u in plan]
    if not all(port_is_free(p) for p in wanted):
        pytest.skip("a port of the README's recipe is in use on this machine")
    labs = [
        lab_factory(a.topology, port=a.port, sentinel_port=a.sentinel_port,
                    master_name=a.master_name)
        for a in parsed
    ]  # fmt: skip
    for lab, args in zip(labs, parsed, strict=True):
        assert lab.data_nodes[0].port == args.port
        if args.sentinel_port:
            assert lab.sentinels[0].port == args.sentinel_port


def test_the_old_recipe_is_refused_naming_both_owners() -> None:
    cluster, sentinel = get_topology("cluster"), get_topology("sentinel")
    running = [
        dataclasses.replace(u, lab="cluster-1")
        for u in specs.port_plan(cluster, list(range(16379, 16385)))
    ]
    plan = specs.port_plan(sentinel, [6380, 6381, 6382], [26379, 26380, 26381])
    with pytest.raises(PortConflict) as info:
        check_port_plan(plan, running, is_free=None)
    assert str(info.value).startswith(
        "port 26379: primary-1's cluster bus port (16379 + 10000) of lab cluster-1 and sentinel-1"
    )


def test_ports_colliding_within_one_plan_are_refused_before_anything_starts(
    isolated_home,
) -> None:
    base = _free_block(5, start=25000)
    with pytest.raises(PortConflict, match=rf"port {base + 2}: replica-2 and sentinel-1 \(both"):
        Lab.start("sentinel", port=base, sentinel_port=base + 2)
    assert not list(labs_dir().iterdir())  # no lab directory, no process
    # a config= that gives every node the same bus or TLS port collides too
    topo = get_topology("cluster")
    plan = specs.port_plan(topo, list(range(9000, 9006)), config={"cluster-port": 30000})
    with pytest.raises(PortConflict, match=r"primary-1's cluster bus port .* primary-2's"):
        check_port_plan(plan, is_free=None)
    plan = specs.port_plan(
        get_topology("replicated"), [9000, 9001, 9002], config={"tls-port": 9100}
    )
    with pytest.raises(PortConflict, match="port 9100: primary's TLS port"):
        check_port_plan(plan, is_free=None)


def test_tls_labs_plan_tls_ports() -> None:
    topo = dataclasses.replace(get_topology("sentinel"), tls=True)
    plan = specs.port_plan(topo, [9000, 9001, 9002], [9010, 9011, 9012], tls=True)
    assert [str(u) for u in plan[:2]] == ["primary's TLS port", "replica-1's TLS port"]
    assert str(plan[-1]) == "sentinel-3's TLS port"
    with pytest.raises(PortConflict, match="port 9002: replica-2's TLS port and sentinel-1's"):
        check_port_plan(specs.port_plan(topo, [9000, 9001, 9002], [9002], tls=True), is_free=None)


def test_a_cluster_bus_port_of_a_running_lab_is_named_with_its_lab(lab_factory) -> None:
    base = _free_block(6, start=19000, bus=True)
    cluster = lab_factory("cluster", port=base)
    other = _free_block(3, start=25000)
    with pytest.raises(PortConflict) as info:
        Lab.start("sentinel", port=other, sentinel_port=base + 10000)
    assert str(info.value).startswith(
        f"port {base + 10000}: primary-1's cluster bus port ({base} + 10000) of lab "
        f"{cluster.name} and sentinel-1"
    )
    assert all(port_is_free(p) for p in range(other, other + 3))  # nothing started


def test_a_port_of_a_lab_whose_node_is_down_is_still_that_labs(lab_factory) -> None:
    base = _free_block(1, start=26000)
    first = lab_factory("standalone", port=base)
    first.primary.kill()  # an experiment's fault: the port is free, the lab will want it back
    assert port_is_free(base)
    with pytest.raises(PortConflict, match=rf"port {base}: primary of lab {first.name} and"):
        Lab.start("standalone", port=base)


def test_a_port_bound_by_another_process_names_it(isolated_home) -> None:
    base = _free_block(3, start=27000)
    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", base + 1))
        blocker.listen()
        with pytest.raises(PortTaken) as info:
            Lab.start("replicated", port=base)
    text = str(info.value)
    assert f"port {base + 1} on 127.0.0.1, wanted for replica-1, is taken" in text
    assert not isinstance(info.value, PortConflict)
    if sys.platform.startswith("linux"):  # psutil names listeners without privileges here
        assert f"by pid {os.getpid()} (" in text
    assert not list(labs_dir().iterdir())


def test_registry_records_give_their_ports_and_owners() -> None:
    record = {
        "name": "lab-x", "tls": False, "tls_dir": None, "config": {},
        "nodes": [
            {"name": "primary-1", "role": "primary", "port": 7100, "cluster": True},
            {"name": "sentinel-1", "role": "sentinel", "port": 7200, "cluster": False},
        ],
    }  # fmt: skip
    uses = specs.record_port_uses(record)
    assert [(u.port, str(u)) for u in uses] == [
        (7100, "primary-1 of lab lab-x"),
        (17100, "primary-1's cluster bus port (7100 + 10000) of lab lab-x"),
        (7200, "sentinel-1 of lab lab-x"),
    ]
