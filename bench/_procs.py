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
    "Server",
    "cpu_seconds",
    "free_port",
    "gateway_command",
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

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        timeout: float,
        cwd: Path | None = None,
    ) -> str:
        """Run a command to completion in its own process group; its stdout (error if not 0)."""
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
        if proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv[:6])}... exited with {proc.returncode}:\n"
                f"{err.decode(errors='replace')[-3000:]}"
            )
        return out.decode()

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
