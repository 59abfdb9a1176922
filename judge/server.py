"""Start an OpenAI-compatible server process, wait until it is healthy, stop it.

The server runs in a session of its own, so a Ctrl-C in the terminal reaches
only collect, which then stops the server's whole process group. A reaper
process (see judge.reaper) kills the group if collect itself is killed.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from judge import reaper
from judge.server_log import summarize_server_log

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
# Seconds between two health probes while the server loads.
PROBE_INTERVAL_S = 0.1
# Seconds the server gets to exit after SIGTERM before it gets SIGKILL.
STOP_GRACE_S = 5.0


class ServerStartError(Exception):
    """The server exited or did not become healthy; the message gives the reason."""


def pick_free_port() -> int:
    """Return a TCP port on the loopback address that nothing listens on now.

    NOTE: another process may take the port between this call and the server's
    bind. The server then fails to start, and its log shows the bind error.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


class ServerProcess:
    """One server process, its log file and the reaper that guards it."""

    def __init__(self, argv: list[str], port: int, log_path: Path) -> None:
        self.argv = argv
        self.port = port
        self.log_path = log_path
        self.load_time_s: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._reaper: subprocess.Popen[bytes] | None = None
        self._reaper_pipe: int | None = None
        self._log_offset = 0

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def exit_code(self) -> int | None:
        """Return the exit code, or None while the process runs."""
        if self._process is None:
            return None
        return self._process.poll()

    def start(self, load_timeout_s: float) -> float:
        """Launch the server and wait until it is healthy; return the load time in s.

        Raises ServerStartError, after stopping the process, when it cannot be
        launched, exits, or is not healthy within `load_timeout_s` seconds.
        """
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with self.log_path.open("ab") as log_file:
            stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            header = f"# afm-judge {stamp}: {shlex.join(self.argv)}\n"
            log_file.write(header.encode("utf-8"))
            log_file.flush()
            self._log_offset = log_file.tell()
            try:
                self._process = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise ServerStartError(
                    f"failed to run {self.argv[0]}: {exc.strerror or exc}"
                ) from exc
        self._start_reaper()
        log.info(
            "started server pid %d on port %d: %s",
            self._process.pid,
            self.port,
            shlex.join(self.argv),
        )
        try:
            self._wait_healthy(started, load_timeout_s)
        except ServerStartError:
            self.stop()
            raise
        self.load_time_s = time.monotonic() - started
        log.info(
            "server pid %d healthy after %.2f s", self._process.pid, self.load_time_s
        )
        return self.load_time_s

    def _start_reaper(self) -> None:
        assert self._process is not None
        read_end, write_end = os.pipe()
        try:
            self._reaper = subprocess.Popen(
                [sys.executable, reaper.__file__, str(self._process.pid)],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            os.close(read_end)
        self._reaper_pipe = write_end

    def _wait_healthy(self, started: float, load_timeout_s: float) -> None:
        assert self._process is not None
        probe_paths = ["/health", "/v1/models"]
        deadline = started + load_timeout_s
        while True:
            code = self._process.poll()
            if code is not None:
                raise ServerStartError(self.failure_summary(code))
            status = probe(self.port, probe_paths[0])
            if status == 200:
                return
            if status == 404 and len(probe_paths) > 1:
                # No /health route (llama-cpp-python has none): use /v1/models.
                probe_paths.pop(0)
                continue
            if time.monotonic() >= deadline:
                last_line = summarize_server_log(self.read_log())
                detail = f" (last log line: {last_line})" if last_line else ""
                raise ServerStartError(
                    f"server not healthy within {load_timeout_s:g} s: raise "
                    f"--load-timeout if the model needs longer to load{detail}"
                )
            time.sleep(PROBE_INTERVAL_S)

    def read_log(self) -> str:
        """Return what the server wrote to its log since this start."""
        try:
            with self.log_path.open("rb") as log_file:
                log_file.seek(self._log_offset)
                return log_file.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    def failure_summary(self, exit_code: int | None = None) -> str:
        """Return the most useful line of the log, or the exit code when it is empty."""
        code = self.exit_code() if exit_code is None else exit_code
        line = summarize_server_log(self.read_log())
        if line:
            return line
        return f"server exited with code {code} and wrote no output"

    def stop(self) -> None:
        """Stop the process group (SIGTERM, then SIGKILL) and release the reaper."""
        process = self._process
        if process is not None:
            # The group id is the server's pid because it leads its own session.
            if process.poll() is None:
                log.info("stopping server pid %d", process.pid)
                signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                log.warning("server pid %d ignored SIGTERM; killing it", process.pid)
                signal_group(process.pid, signal.SIGKILL)
                process.wait()
            # Children can outlive the leader, so the group is checked again
            # once the leader has been reaped.
            reaper.kill_group(process.pid, STOP_GRACE_S)
        if self._reaper_pipe is not None:
            os.close(self._reaper_pipe)
            self._reaper_pipe = None
        if self._reaper is not None:
            try:
                self._reaper.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self._reaper.kill()
                self._reaper.wait()
            self._reaper = None


def signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def probe(port: int, path: str, timeout_s: float = 1.0) -> int | None:
    """Return the HTTP status of GET `path` on the loopback port, or None if none."""
    url = f"http://{LOOPBACK}:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None
