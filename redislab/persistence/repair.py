"""Corruption and repair: truncated or damaged files and the ``check-aof``/``check-rdb`` tools.

:func:`truncate_file`, :func:`corrupt_command` and :func:`corrupt_byte` damage a file;
:func:`check_aof` and :func:`check_rdb` run the checkers (the server binary under
another name, ``lab.server.tool("check-aof")``) and parse what they say.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ._common import (
    PersistenceError,
    ToolError,
)

__all__ = [
    "CheckReport",
    "check_aof",
    "check_rdb",
    "corrupt_byte",
    "corrupt_command",
    "count_resp_commands",
    "parse_check_aof",
    "parse_check_rdb",
    "resp_command_offsets",
    "truncate_file",
]


# ================================================================ corruption
def resp_command_offsets(data: bytes) -> tuple[list[int], int]:
    """Start offsets of the complete RESP commands in ``data`` and where the valid part ends.

    Parsing stops at the first byte that is not a well-formed command (corruption)
    or at a command cut short (truncation); everything from the returned end on is
    what ``redis-check-aof --fix`` would discard. Annotation lines (``#...``) are skipped.
    """
    offsets: list[int] = []
    pos, n = 0, len(data)
    while pos < n:
        if data[pos : pos + 1] == b"#":
            eol = data.find(b"\r\n", pos)
            if eol < 0:
                break
            pos = eol + 2
            continue
        if data[pos : pos + 1] != b"*":
            break
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            break
        try:
            argc = int(data[pos + 1 : eol])
        except ValueError:
            break
        p = eol + 2
        ok = True
        for _ in range(argc):
            if data[p : p + 1] != b"$":
                ok = False
                break
            eol2 = data.find(b"\r\n", p)
            if eol2 < 0:
                ok = False
                break
            try:
                length = int(data[p + 1 : eol2])
            except ValueError:
                ok = False
                break
            p = eol2 + 2 + length
            if data[p : p + 2] != b"\r\n":
                ok = False
                break
            p += 2
        if not ok:
            break
        offsets.append(pos)
        pos = p
    return offsets, pos


def count_resp_commands(data: bytes) -> int:
    """The number of complete, well-formed commands at the start of ``data``."""
    return len(resp_command_offsets(data)[0])


def truncate_file(path: Path | str, nbytes: int) -> int:
    """Cut the last ``nbytes`` bytes of ``path`` (a crash in the middle of a write); new size."""
    path = Path(path)
    size = path.stat().st_size
    new = max(0, size - nbytes)
    os.truncate(path, new)
    return new


def corrupt_command(path: Path | str, index: int) -> int:
    """Overwrite the ``*`` that starts command ``index`` of a RESP AOF file with ``X``.

    The server then refuses to load the file ("Bad file format") instead of treating
    it as truncated. Returns the byte offset that was changed.
    """
    path = Path(path)
    data = bytearray(path.read_bytes())
    offsets, _ = resp_command_offsets(bytes(data))
    if not 0 <= index < len(offsets):
        raise PersistenceError(f"{path.name} has {len(offsets)} commands; no command {index}")
    at = offsets[index]
    data[at] = ord("X")
    path.write_bytes(bytes(data))
    return at


def corrupt_byte(path: Path | str, offset: int, *, xor: int = 0xFF) -> int:
    """Flip bits of one byte (``offset`` < 0 counts from the end); return the byte offset."""
    path = Path(path)
    data = bytearray(path.read_bytes())
    at = offset if offset >= 0 else len(data) + offset
    data[at] ^= xor
    path.write_bytes(bytes(data))
    return at


@dataclass
class CheckReport:
    """What ``redis-check-aof`` / ``redis-check-rdb`` said, parsed."""

    tool: str
    target: Path
    returncode: int
    ok: bool
    output: str
    fixed: bool = False
    ok_up_to: int | None = None
    size: int | None = None
    diff: int | None = None
    keys: int | None = None
    error: str | None = None


_AOF_ANALYZED = re.compile(
    r"AOF analyzed: filename=(?P<file>[^,]+), size=(?P<size>\d+), ok_up_to=(?P<ok>\d+),"
    r"(?: ok_up_to_line=\d+,)? diff=(?P<diff>\d+)"
)


def parse_check_aof(output: str, returncode: int, *, target: Path, tool: str) -> CheckReport:
    """Parse ``redis-check-aof`` output (also Valkey's ``valkey-check-aof``)."""
    found = list(_AOF_ANALYZED.finditer(output))
    m = found[-1] if found else None  # the last "AOF analyzed" line
    fixed = "Successfully truncated AOF" in output
    valid = returncode == 0 and (
        "is valid" in output or "are valid" in output or fixed or "RDB looks OK" in output
    )
    error = None
    for line in output.splitlines():
        if any(word in line for word in ("not valid", "Expected", "Bad file", "rror")):
            error = line.strip()
            break
    return CheckReport(
        tool=tool,
        target=target,
        returncode=returncode,
        ok=valid,
        output=output,
        fixed=fixed,
        ok_up_to=int(m.group("ok")) if m else None,
        size=int(m.group("size")) if m else None,
        diff=int(m.group("diff")) if m else None,
        error=error,
    )


def parse_check_rdb(output: str, returncode: int, *, target: Path, tool: str) -> CheckReport:
    """Parse ``redis-check-rdb`` output: OK or not, keys read, the error line."""
    keys = None
    m = re.search(r"\[info\] (\d+) keys read", output)
    if m:
        keys = int(m.group(1))
    ok = returncode == 0 and "RDB looks OK" in output
    error = None
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if "RDB ERROR DETECTED" in line:
            error = lines[i + 1].split("]", 1)[-1].strip() if i + 1 < len(lines) else line
            break
    return CheckReport(
        tool=tool,
        target=target,
        returncode=returncode,
        ok=ok,
        output=output,
        keys=keys,
        error=error,
    )


def _run_tool(tool: Path, args: list[str], *, stdin: str = "", timeout: float) -> tuple[str, int]:
    try:
        res = subprocess.run(
            [str(tool), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolError(f"{tool} {' '.join(args)} failed to run: {exc}") from exc
    return res.stdout + res.stderr, res.returncode


def check_aof(
    tool: Path, target: Path | str, *, fix: bool = False, timeout: float = 60
) -> CheckReport:
    """Run ``redis-check-aof [--fix] <manifest or file>`` and parse what it says.

    ``--fix`` truncates the (last) file at the first bad command; the tool asks for
    confirmation, which this answers with ``y``.
    """
    target = Path(target)
    args = (["--fix"] if fix else []) + [str(target)]
    output, code = _run_tool(Path(tool), args, stdin="y\n" if fix else "", timeout=timeout)
    report = parse_check_aof(output, code, target=target, tool=Path(tool).name)
    if report.ok_up_to is None and not report.ok and "AOF" not in output:
        raise ToolError(f"{tool} said nothing usable about {target}:\n{output}")
    return report


def check_rdb(tool: Path, path: Path | str, *, timeout: float = 60) -> CheckReport:
    """Run ``redis-check-rdb <file>`` and parse what it says."""
    path = Path(path)
    output, code = _run_tool(Path(tool), [str(path)], timeout=timeout)
    report = parse_check_rdb(output, code, target=path, tool=Path(tool).name)
    if report.keys is None and not report.error and "RDB" not in output:
        raise ToolError(f"{tool} said nothing usable about {path}:\n{output}")
    return report
