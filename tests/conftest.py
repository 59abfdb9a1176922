"""Shared fixtures: where the real AFM runs and case files are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def find_shared_dir() -> Path:
    """Locate the folder with AFM's real runs and case files.

    AFM_JUDGE_SHARED wins; otherwise the `shared` folder beside the checkout,
    then /work/shared. The files are not copied into this repository.
    """
    candidates = []
    if os.environ.get("AFM_JUDGE_SHARED"):
        candidates.append(Path(os.environ["AFM_JUDGE_SHARED"]))
    candidates += [REPO.parent / "shared", Path("/work/shared")]
    for candidate in candidates:
        if (candidate / "afm-runs").is_dir() and (candidate / "afm-cases").is_dir():
            return candidate
    raise RuntimeError(
        "AFM's shared runs and case files were not found in "
        + ", ".join(str(c) for c in candidates)
        + "; set AFM_JUDGE_SHARED to the folder that contains afm-runs/ and afm-cases/"
    )


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return find_shared_dir()


@pytest.fixture(scope="session")
def runs_dir(shared_dir: Path) -> Path:
    return shared_dir / "afm-runs"


@pytest.fixture(scope="session")
def cases_dir(shared_dir: Path) -> Path:
    return shared_dir / "afm-cases"
