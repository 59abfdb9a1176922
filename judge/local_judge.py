"""`--judge local`: the embedded llama.cpp engine with SmolLM2, started by grade."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from judge.judge_config import JudgeEndpoint
from judge.server import LOOPBACK, ServerProcess, pick_free_port
from judge.targets import make_llama_cpp_target

log = logging.getLogger(__name__)

LOCAL_JUDGE = "local"
LOCAL_MODEL_ALIAS = "smollm2-135m-judge"
# The judge prompt, one record and the answer need more than llama.cpp's
# default context of 2,048 tokens.
LOCAL_CONTEXT_TOKENS = 8192
LOCAL_LOAD_TIMEOUT_S = 120.0


@contextlib.contextmanager
def local_judge(
    gguf: Path | None = None, log_dir: Path | None = None
) -> Iterator[JudgeEndpoint]:
    """Start the embedded engine, yield an endpoint for it, stop it on exit."""
    target = make_llama_cpp_target(gguf)
    port = pick_free_port()
    argv = [
        target.python,
        "-m",
        "llama_cpp.server",
        "--model",
        str(target.gguf),
        "--model_alias",
        LOCAL_MODEL_ALIAS,
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--n_ctx",
        str(LOCAL_CONTEXT_TOKENS),
        # llama-cpp-python's server uses half the CPUs by default.
        "--n_threads",
        str(os.cpu_count() or 1),
        # By default a new request interrupts the one being generated, which
        # truncates answers when several are in flight.
        "--interrupt_requests",
        "False",
    ]
    folder = log_dir or Path(tempfile.gettempdir())
    server = ServerProcess(argv, port, folder / "local-judge-server.log")
    server.start(LOCAL_LOAD_TIMEOUT_S)
    log.info("local judge %s serving on port %d", target.gguf.name, port)
    try:
        yield JudgeEndpoint(
            model=LOCAL_MODEL_ALIAS,
            base_url=server.base_url,
            api_key="not-needed",
            mode="tools",
            # A 135M model on a CPU responds within seconds, so a long wait is a fault.
            timeout_s=180.0,
            # The server generates one answer at a time.
            max_concurrency=1,
            # A 135M model gains nothing from long records, and on a CPU every
            # prompt token costs milliseconds.
            max_chars=4000,
        )
    finally:
        server.stop()
