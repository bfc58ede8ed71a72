"""Child processes of a benchmark run: started in their own process group, always killed.

Every server (sandbox, baseline proxy, gateway) and every load generator runs as its own
operating-system process, started with `start_new_session=True` so that one `killpg` takes the
process and anything it spawned. `Children` remembers them all and kills whatever is left on
exit, whatever happened (error, Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Children",
    "GroupMemory",
    "Server",
    "cpu_seconds",
    "free_port",
    "gateway_command",
    "group_cpu_seconds",
    "group_peak_rss",
    "group_pids",
    "peak_rss_mb",
    "rss_mb",
]


def free_port() -> int:
    """A port the kernel considers free now (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def gateway_command() -> list[str]:
    """The `gateway` console script of this interpreter's venv."""
    script = Path(sys.executable).with_name("gateway")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gateway.cli"]


def _status_kb(pid: int, field_name: str) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return None


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM: the process's resident-set high-water mark so far, in MiB."""
    kb = _status_kb(pid, "VmHWM")
    return None if kb is None else round(kb / 1024, 1)


def rss_mb(pid: int) -> float | None:
    kb = _status_kb(pid, "VmRSS")
    return None if kb is None else round(kb / 1024, 1)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time the process has used so far (from /proc/<pid>/stat)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def group_pids(pgid: int) -> list[int]:
    """Every live process of the process group `pgid` (its leader first, when alive).

    Each server is started in a group of its own (`start_new_session`), so its group is the
    server and whatever it spawned: `gateway serve --processes N`'s N workers (and
    multiprocessing's resource tracker) beside the parent.
    """
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[2]) == pgid:  # field 5, pgrp
            found.append(int(entry.name))
    return sorted(found, key=lambda pid: (pid != pgid, pid))


def group_cpu_seconds(pgid: int) -> float | None:
    """User + system CPU time of every live process of the group, summed (None: none alive).

    A process that exits between two readings takes its time with it; the servers measured
    here keep their processes for the whole target.
    """
    times = [t for t in map(cpu_seconds, group_pids(pgid)) if t is not None]
    return sum(times) if times else None


@dataclass(frozen=True)
class GroupMemory:
    """VmHWM of a process group: the sum over its processes, the largest one, and how many."""

    total_mb: float
    largest_mb: float
    processes: int


def group_peak_rss(pgid: int) -> GroupMemory | None:
    """The group's resident-set high-water marks (an upper bound of its peak: the processes'
    peaks need not coincide)."""
    marks = [m for m in map(peak_rss_mb, group_pids(pgid)) if m is not None]
    if not marks:
        return None
    return GroupMemory(round(sum(marks), 1), max(marks), len(marks))


@dataclass
class Server:
    """A long-running child: a name, its process, its log file and where it listens."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    port: int

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


@dataclass
class Children:
    """Every process this run started; `kill_all` (also on exit) ends what is left."""

    log_dir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        port: int,
        cwd: Path | None = None,
        ready_timeout: float = 30.0,
        wait: bool = True,
    ) -> Server:
        """Start a server in its own process group and (unless `wait` is false) wait until it
        accepts connections."""
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        server = Server(name, proc, log_path, port)
        if wait:
            self.wait_ready(server, ready_timeout)
        return server

    def wait_ready(self, server: Server, timeout: float = 30.0) -> None:
        """Until the server accepts connections on its port (an error if it exits first)."""
        proc, name, port = server.proc, server.name, server.port
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.returncode} before listening:\n{server.log_tail()}"
                )
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                return
            if time.monotonic() > deadline:
                self.stop(server)
                raise RuntimeError(f"{name} not listening on {port}:\n{server.log_tail()}")
            time.sleep(0.05)

    def wait_for_log(self, server: Server, text: str, count: int, timeout: float = 30.0) -> None:
        """Until `text` appears `count` times in the server's log (e.g. each of `serve
        --processes N`'s workers saying it listens); an error if it exits or takes too long."""
        deadline = time.monotonic() + timeout
        while True:
            if server.proc.poll() is not None:
                raise RuntimeError(f"{server.name} exited:\n{server.log_tail()}")
            try:
                seen = server.log_path.read_text(errors="replace").count(text)
            except OSError:
                seen = 0
            if seen >= count:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{server.name}: {seen} of {count} {text!r} after {timeout} s:\n"
                    f"{server.log_tail()}"
                )
            time.sleep(0.05)

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        timeout: float,
        cwd: Path | None = None,
    ) -> str:
        """Run a command to completion in its own process group; its stdout (error if not 0)."""
        returncode, out, err = self.run_status(argv, env=env, timeout=timeout, cwd=cwd)
        if returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:6])}... exited with {returncode}:\n{err[-3000:]}")
        return out

    def run_status(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        timeout: float,
        cwd: Path | None = None,
    ) -> tuple[int, str, str]:
        """Run a command to completion in its own process group: (exit status, stdout, stderr)."""
        proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.procs.append(proc)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill(proc)
            out, err = proc.communicate()
            raise RuntimeError(
                f"{' '.join(argv[:4])}... timed out after {timeout} s:\n{err.decode()[-3000:]}"
            ) from None
        except BaseException:  # Ctrl-C while waiting: take it down with us
            self._kill(proc)
            raise
        self._forget(proc)
        return proc.returncode, out.decode(), err.decode(errors="replace")

    def stop(self, server: Server, timeout: float = 5.0) -> None:
        """SIGTERM the server's group (a graceful stop), SIGKILL if it lingers."""
        proc = server.proc
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill(proc)
        self._kill(proc)  # stragglers left in the group
        self._forget(proc)

    def kill_all(self) -> None:
        for proc in list(self.procs):
            self._kill(proc)
            self._forget(proc)

    def _forget(self, proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ValueError):
            self.procs.remove(proc)

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
