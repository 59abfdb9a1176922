"""Find each variant's intent: the comment above its section in the case file."""

from __future__ import annotations

import logging
from pathlib import Path

from judge.afm_args import flag_values
from judge.cases import CaseFileError, parse_case_file
from judge.records import RunMeta, RunRecord

log = logging.getLogger(__name__)


def case_file_from_meta(meta: RunMeta | None, run_path: Path) -> Path | None:
    """Return the case file named by `--prompts` in the run's test command, if found.

    The path is tried as written (relative to the current folder) and
    relative to the run file's folder.
    """
    if meta is None or not meta.test_command:
        return None
    named = flag_values(meta.test_command, "--prompts")
    if not named:
        return None
    for candidate in (Path(named[-1]), run_path.parent / named[-1]):
        if candidate.is_file():
            return candidate
    log.info("case file %s from the run's test command not found", named[-1])
    return None


def load_intents(case_path: Path) -> dict[str, str]:
    """Return intents by section label ("" for unlabelled sections by model)."""
    try:
        case_file = parse_case_file(case_path)
    except CaseFileError as exc:
        log.warning("intents not read from %s: %s", case_path, exc)
        return {}
    intents: dict[str, str] = {}
    for section in case_file.sections:
        key = section.label or (section.model or "")
        if section.intent and key not in intents:
            intents[key] = section.intent
    return intents


def intent_for(record: RunRecord, intents: dict[str, str]) -> str:
    """Return the record's intent: collect's field, else the case file's comment."""
    if record.variant_intent:
        return record.variant_intent
    return intents.get(record.label) or intents.get(record.base_model, "")
