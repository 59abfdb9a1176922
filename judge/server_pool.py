"""Keep one server running and restart it only when a variant needs another one."""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from judge.plan import Variant
from judge.server import ServerProcess, ServerStartError, pick_free_port
from judge.targets import ExternalTarget, Target

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import openai

_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def load_openai_sdk() -> None:
    """Import the openai SDK and the parts it loads on a client's first request.

    The import, the first client and the chat resource take about 1.3 s of CPU
    (openai 3.3, measured on a 2-core x86 machine), which collect spends in a
    background thread while the first server loads instead of before it.
    """
    import openai

    with openai.OpenAI(base_url="http://127.0.0.1:1/v1", api_key="unused") as client:
        _ = client.chat.completions


@dataclass
class ServerLease:
    """The server a variant uses: a client for it, or the reason it failed."""

    client: openai.OpenAI | None
    # Seconds this variant waited for a server start (0 when it reused one).
    load_time_s: float
    log_path: Path | None
    error: str = ""
    process: ServerProcess | None = None

    def server_exit(self) -> str | None:
        """Return why the server is gone, or None while it runs (or is external)."""
        if self.process is None:
            return None
        code = self.process.exit_code()
        if code is None:
            return None
        return f"server exited with code {code}: {self.process.failure_summary(code)}"


class ServerPool:
    """The running server of a collect run, reused across consecutive variants."""

    def __init__(
        self,
        target: Target,
        log_dir: Path,
        load_timeout_s: float,
        request_timeout_s: float,
    ) -> None:
        self.target = target
        self.log_dir = log_dir
        self.load_timeout_s = load_timeout_s
        self.request_timeout_s = request_timeout_s
        self.starts = 0
        self.start_time_s = 0.0
        self._key: tuple[Any, ...] | None = None
        self._process: ServerProcess | None = None
        self._lease: ServerLease | None = None
        self._sdk_loader = threading.Thread(
            target=load_openai_sdk, name="load-openai-sdk", daemon=True
        )
        self._sdk_loader.start()

    def _client(self, base_url: str) -> openai.OpenAI:
        self._sdk_loader.join()
        import openai

        # max_retries=0: a retried request would hide a dropped connection.
        client = openai.OpenAI(
            base_url=base_url,
            api_key="not-needed",
            max_retries=0,
            timeout=self.request_timeout_s,
        )
        # The chat resource is loaded on first use: load it before the first
        # request is timed.
        _ = client.chat.completions
        return client

    def lease(self, variant: Variant, variant_number: int) -> ServerLease:
        """Return a server for `variant`, starting one when the key changes.

        A server that died since the last lease is started again. A start that
        failed is not retried for the next variant with the same key, because
        it would fail the same way after the same wait.
        """
        if isinstance(self.target, ExternalTarget):
            if self._lease is None:
                self._lease = ServerLease(self._client(self.target.base_url), 0.0, None)
            return self._lease

        key = self.target.reuse_key(variant)
        if self._lease is not None and key == self._key:
            still_running = (
                self._lease.process is None or self._lease.server_exit() is None
            )
            if self._lease.error or still_running:
                return ServerLease(
                    self._lease.client,
                    0.0,
                    self._lease.log_path,
                    self._lease.error,
                    self._lease.process,
                )
            log.warning("server for %s exited; starting it again", variant.record_model)

        self.stop()
        self._key = key
        self._lease = self._start(variant, variant_number)
        return self._lease

    def _start(self, variant: Variant, variant_number: int) -> ServerLease:
        port = pick_free_port()
        argv = self.target.server_argv(variant, port)
        assert argv is not None
        name = _UNSAFE_NAME_CHARS.sub("_", variant.label or variant.model)
        log_path = self.log_dir / f"{variant_number:03d}-{name}.log"
        process = ServerProcess(argv, port, log_path)
        self._process = process
        self.starts += 1
        started = time.monotonic()
        try:
            process.start(self.load_timeout_s)
        except ServerStartError as exc:
            elapsed_s = time.monotonic() - started
            self.start_time_s += elapsed_s
            # Every request of the variant gets a FAIL record with this error,
            # and the progress shows each one, so the log has it at info level.
            log.info(
                "server for %s failed to start (log: %s): %s",
                variant.record_model,
                log_path,
                exc,
            )
            return ServerLease(None, elapsed_s, log_path, str(exc), None)
        load_time_s = time.monotonic() - started
        self.start_time_s += load_time_s
        return ServerLease(
            self._client(process.base_url), load_time_s, log_path, "", process
        )

    def stop(self) -> None:
        """Stop the running server, if any."""
        if self._process is not None:
            self._process.stop()
            self._process = None
        if self._lease is not None and self._lease.client is not None:
            self._lease.client.close()
        self._lease = None
        self._key = None
