"""Parse case files (the prompts-file format of AFM's test harness) into variants.

A case file is read line by line, and leading and trailing spaces are ignored:

- `# text` is a comment. The comment block directly above a section header,
  with no blank line in between, becomes that variant's intent. An `AI:` prefix
  and banner lines drawn with box characters are dropped from it.
- `key: value` with a key from `PARAM_KEYS`, `media` or `afm` sets a
  parameter. Lines before the first header set file-wide defaults, and a
  section's own values override them. `afm:` flags are the exception: the
  defaults' flags and the section's flags are joined with a space. A key one
  typo away from a known key (`max_token:`) raises an error instead of being
  sent as a prompt.
- `skip` alone on a line makes its section produce no requests.
- `[all]` starts the baseline prompts, which every variant sends first.
- `[org/model]` or `[org/model @ label]` starts a variant of one model.
- `[@ label]` starts a template, expanded once for each model given with --model.
- Any other line is one prompt of the current section.

How values are written (JSON escapes, media paths, server flags) is described
in `judge.case_values`.

NOTE: `stream: true|false` is an afm-judge key. Whether AFM's own harness reads
it is unchecked. If it does not, it sends such a line as a prompt, and AFM's
request count for a file that uses `stream:` is higher than ours.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from judge import case_values
from judge.plan import RequestParams, Variant
from judge.records import LABEL_SEPARATOR

# Parameter keys and the parsers for their values. `media` (which needs the
# case file's folder), `afm` and `skip` are handled by the parser itself.
PARAM_KEYS: dict[str, Callable[[str], Any]] = {
    "max_tokens": case_values.parse_int,
    "max_completion_tokens": case_values.parse_int,
    "temperature": case_values.parse_float,
    "top_p": case_values.parse_float,
    "top_k": case_values.parse_int,
    "min_p": case_values.parse_float,
    "seed": case_values.parse_int,
    "logprobs": case_values.parse_bool,
    "top_logprobs": case_values.parse_int,
    "presence_penalty": case_values.parse_float,
    "repetition_penalty": case_values.parse_float,
    "frequency_penalty": case_values.parse_float,
    "stop": case_values.parse_stop,
    "response_format": case_values.parse_response_format,
    "system": str,
    "developer": str,
    "tools": case_values.parse_tools,
    "stream": case_values.parse_bool,
}
_ALL_KEYS = [*PARAM_KEYS, "media", "afm"]
# An empty value for these keys clears the default instead of being an error.
_CLEARABLE_KEYS = ("system", "developer")

_PARAM_LINE = re.compile(r"(?P<key>[a-z_]+)\s*:\s*(?P<value>.*)")
_BOX_DRAWING = "".join(chr(code) for code in range(0x2500, 0x2580))
_RULE_LINE = re.compile(r"[-=_*~]{3,}")
_SHOWN_VALUE_LENGTH = 60


class CaseFileError(ValueError):
    """Error in a case file. The message starts with "file:line:" or "file:"."""


class ModelSelectionError(CaseFileError):
    """The models given with --model do not fit the case file."""


class Section(BaseModel):
    """One `[org/model @ label]` or `[@ label]` section, before expansion."""

    line: int
    # None for a `[@ label]` template section.
    model: str | None = None
    label: str = ""
    # Only the values the section sets itself, so `model_fields_set` shows
    # which defaults it overrides.
    params: RequestParams = Field(default_factory=RequestParams)
    afm_args: str = ""
    prompts: list[str] = Field(default_factory=list)
    intent: str = ""
    skip: bool = False

    @property
    def title(self) -> str:
        """The header as it would be written, for example "[@ greedy]"."""
        if self.model is None:
            return f"[@ {self.label}]"
        if self.label:
            return f"[{self.model}{LABEL_SEPARATOR}{self.label}]"
        return f"[{self.model}]"


class CaseFile(BaseModel):
    """A parsed case file: defaults, baseline prompts and sections in file order."""

    path: str
    defaults: RequestParams = Field(default_factory=RequestParams)
    default_afm_args: str = ""
    baseline_prompts: list[str] = Field(default_factory=list)
    # Line of the first `[all]` header, or None when the file has none.
    baseline_line: int | None = None
    sections: list[Section] = Field(default_factory=list)

    @property
    def skipped_sections(self) -> list[Section]:
        return [section for section in self.sections if section.skip]


class _Block:
    """Values collected for the defaults, the `[all]` section or one section."""

    def __init__(
        self,
        kind: Literal["defaults", "all", "section"],
        line: int = 0,
        model: str | None = None,
        label: str = "",
        intent: str = "",
    ) -> None:
        self.kind = kind
        self.line = line
        self.model = model
        self.label = label
        self.intent = intent
        self.fields: dict[str, Any] = {}
        self.field_lines: dict[str, int] = {}
        self.afm_parts: list[str] = []
        self.prompts: list[str] = []
        self.skip = False

    def to_section(self) -> Section:
        return Section(
            line=self.line,
            model=self.model,
            label=self.label,
            params=RequestParams(**self.fields),
            afm_args=join_server_flags(*self.afm_parts),
            prompts=self.prompts,
            intent=self.intent,
            skip=self.skip,
        )


class _CaseParser:
    """Line-by-line state machine behind `parse_case_text`."""

    def __init__(self, source: str, base_dir: Path) -> None:
        self.source = source
        self.base_dir = base_dir
        self.defaults = _Block("defaults")
        self.baseline = _Block("all")
        self.current = self.defaults
        self.blocks: list[_Block] = []
        self.first_lines: dict[tuple[str | None, str], int] = {}
        self.comments: list[str] = []

    def error(self, line: int, message: str) -> CaseFileError:
        return CaseFileError(f"{self.source}:{line}: {message}")

    def feed(self, number: int, raw: str) -> None:
        line = raw.strip()
        if not line:
            self.comments = []
            return
        if line.startswith("#"):
            self.comments.append(line)
            return

        comments, self.comments = self.comments, []
        if line.startswith("["):
            self.start_section(number, line, comments)
        elif line == "skip":
            self.mark_skip(number)
        else:
            match = _PARAM_LINE.fullmatch(line)
            if match and match["key"] in _ALL_KEYS:
                self.set_param(number, match["key"], match["value"].strip())
            else:
                if match:
                    self.check_key_typo(number, match["key"])
                self.add_prompt(number, line)

    def start_section(self, number: int, line: str, comments: list[str]) -> None:
        if not line.endswith("]"):
            if "]" in line:
                raise self.error(
                    number,
                    f"invalid section header {line!r}: put the header alone on "
                    "its line, for example [org/model @ label]",
                )
            raise self.error(
                number, f"unterminated section header {line!r}: add the closing ]"
            )
        inner = line[1:-1].strip()
        if "[" in inner or "]" in inner:
            raise self.error(number, f"invalid section header {line!r}: extra [ or ]")

        if inner.lower() == "all":
            if self.baseline.line == 0:
                self.baseline.line = number
            self.current = self.baseline
            return

        model_part, separator, label_part = inner.partition("@")
        model = model_part.strip() or None
        label = label_part.strip()
        if separator and not label:
            raise self.error(number, f"missing label after @ in {line!r}")
        if "@" in label:
            raise self.error(number, f"invalid label {label!r}: a label has no @")
        if model is None and not separator:
            raise self.error(
                number, "empty section header []: write [org/model] or [@ label]"
            )
        if model is not None and any(char.isspace() for char in model):
            raise self.error(
                number,
                f"invalid model id {model!r}: it contains a space. Separate the "
                "label with @, as in [org/model @ label]",
            )

        key = (model, label)
        if key in self.first_lines:
            raise self.error(
                number,
                f"duplicate section {line!r} (first at line "
                f"{self.first_lines[key]}): give one of them another label",
            )
        self.first_lines[key] = number

        block = _Block("section", number, model, label, clean_intent(comments))
        self.blocks.append(block)
        self.current = block

    def mark_skip(self, number: int) -> None:
        if self.current.kind != "section":
            raise self.error(
                number, "'skip' outside a model section: put it below a [model] header"
            )
        self.current.skip = True

    def set_param(self, number: int, key: str, value: str) -> None:
        block = self.current
        if block.kind == "all":
            raise self.error(
                number,
                f"{key} inside [all]: [all] takes prompts only, so move the line "
                "above the first section header to make it a default",
            )

        if key == "afm":
            self.set_server_flags(number, value)
            return
        if key in block.fields:
            raise self.error(
                number,
                f"{key} is set twice in this section (first at line "
                f"{block.field_lines[key]}): remove one of the lines",
            )
        if not value and key not in _CLEARABLE_KEYS:
            raise self.error(number, f"missing value for {key}")

        try:
            if not value:
                parsed = None
            elif key == "media":
                parsed = case_values.parse_media(value, self.base_dir)
            else:
                parsed = PARAM_KEYS[key](value)
        except ValueError as error:
            raise self.error(
                number, f"invalid {key} {shorten(value)!r}: {error}"
            ) from None
        block.fields[key] = parsed
        block.field_lines[key] = number

    def set_server_flags(self, number: int, value: str) -> None:
        try:
            case_values.check_server_flags(value)
        except ValueError as error:
            raise self.error(
                number, f"invalid afm {shorten(value)!r}: {error}"
            ) from None
        if value:
            self.current.afm_parts.append(value)

    def check_key_typo(self, number: int, key: str) -> None:
        # A misspelt key would otherwise be sent as a prompt without a word.
        close = difflib.get_close_matches(key, _ALL_KEYS, n=1, cutoff=0.8)
        if close:
            raise self.error(
                number,
                f"unknown parameter {key!r}: did you mean {close[0]!r}? "
                "Known parameters: " + ", ".join(_ALL_KEYS),
            )

    def add_prompt(self, number: int, line: str) -> None:
        if self.current.kind == "defaults":
            raise self.error(
                number,
                f"prompt {shorten(line)!r} before the first section header: put "
                "prompts below [all] or a [org/model] header, or comment the line "
                "out with #",
            )
        self.current.prompts.append(line)

    def finish(self) -> CaseFile:
        baseline_prompts = self.baseline.prompts
        for block in self.blocks:
            if not block.skip and not block.prompts and not baseline_prompts:
                raise self.error(
                    block.line,
                    f"section {block.to_section().title} has no prompts and the "
                    "file has no [all] prompts: add a prompt line below the "
                    "header, or a line 'skip'",
                )
        if not self.blocks and not baseline_prompts:
            raise CaseFileError(
                f"{self.source}: no sections and no prompts found: add an [all] "
                "section or a [org/model] section with prompt lines"
            )

        return CaseFile(
            path=self.source,
            defaults=RequestParams(**self.defaults.fields),
            default_afm_args=join_server_flags(*self.defaults.afm_parts),
            baseline_prompts=baseline_prompts,
            baseline_line=self.baseline.line or None,
            sections=[block.to_section() for block in self.blocks],
        )


def shorten(text: str, limit: int = _SHOWN_VALUE_LENGTH) -> str:
    """Cut `text` to `limit` characters for an error message, marking the cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def join_server_flags(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def clean_intent(comments: Sequence[str]) -> str:
    """Join a comment block into one intent line.

    Drops the `#` marks, an `AI:` prefix, box-drawing banner characters and
    underline rules such as "-------".
    """
    parts: list[str] = []
    for comment in comments:
        text = comment.lstrip("#").strip()
        if text.startswith("AI:"):
            text = text[len("AI:") :].strip()
        text = text.strip(_BOX_DRAWING + " ")
        if text and not _RULE_LINE.fullmatch(text):
            parts.append(text)
    return " ".join(parts)


def parse_case_text(text: str, source: str, base_dir: Path) -> CaseFile:
    """Parse the text of a case file.

    `source` is the name used in error messages. Relative `media:` paths are
    resolved against `base_dir`. Raises `CaseFileError` on the first error.
    """
    parser = _CaseParser(source, base_dir)
    for number, raw in enumerate(text.splitlines(), start=1):
        parser.feed(number, raw)
    return parser.finish()


def parse_case_file(path: str | Path) -> CaseFile:
    """Read and parse a UTF-8 case file. Error messages name the path as given."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise CaseFileError(
            f"{source}: not UTF-8 text (invalid byte at offset {error.start}): "
            "save the file as UTF-8"
        ) from None
    except OSError as error:
        raise CaseFileError(
            f"{source}: cannot read the case file: {error.strerror}"
        ) from None
    return parse_case_text(text, source, Path(path).parent.resolve())


def merge_params(defaults: RequestParams, own: RequestParams) -> RequestParams:
    """Override the file defaults with the values a section sets itself.

    A section that sets one of max_tokens and max_completion_tokens drops an
    inherited value of the other, so that a request tests the limit the
    section names and not whichever of the two the server prefers.
    """
    fields = defaults.model_dump(exclude_unset=True)
    own_fields = own.model_dump(exclude_unset=True)
    for key, other in (
        ("max_tokens", "max_completion_tokens"),
        ("max_completion_tokens", "max_tokens"),
    ):
        if key in own_fields and other not in own_fields:
            fields.pop(other, None)
    fields.update(own_fields)
    return RequestParams(**fields)


def split_model_list(values: Iterable[str]) -> list[str]:
    """Split comma-separated --model values, dropping blanks and repeats."""
    models: list[str] = []
    for value in values:
        for item in value.split(","):
            model = item.strip()
            if model and model not in models:
                models.append(model)
    return models


def _make_variant(case_file: CaseFile, section: Section, model: str) -> Variant:
    return Variant(
        model=model,
        label=section.label,
        afm_args=join_server_flags(case_file.default_afm_args, section.afm_args),
        intent=section.intent,
        params=merge_params(case_file.defaults, section.params),
        prompts=[*case_file.baseline_prompts, *section.prompts],
        baseline_count=len(case_file.baseline_prompts),
        source=f"{case_file.path}:{section.line}",
    )


def _make_baseline_variant(case_file: CaseFile, model: str) -> Variant:
    return Variant(
        model=model,
        afm_args=case_file.default_afm_args,
        params=case_file.defaults.model_copy(),
        prompts=list(case_file.baseline_prompts),
        baseline_count=len(case_file.baseline_prompts),
        source=f"{case_file.path}:{case_file.baseline_line}",
    )


def _check_models(case_file: CaseFile, models: Sequence[str]) -> None:
    templates = [section for section in case_file.sections if section.model is None]
    concrete_models = [
        section.model for section in case_file.sections if section.model is not None
    ]

    if not models:
        if templates:
            raise ModelSelectionError(
                f"{case_file.path}: template sections such as {templates[0].title} "
                f"(line {templates[0].line}) need a model: pass --model org/model "
                "(or several: --model org/a,org/b)"
            )
        if not concrete_models:
            raise ModelSelectionError(
                f"{case_file.path}: the file has only [all] prompts, so it needs "
                "a model: pass --model org/model"
            )
        return

    if templates or not concrete_models:
        return
    unknown = [model for model in models if model not in concrete_models]
    if unknown:
        known = ", ".join(dict.fromkeys(concrete_models))
        raise ModelSelectionError(
            f"{case_file.path}: no section is for model {unknown[0]!r}. The file "
            f"has sections for {known}. Pass one of those to --model, or leave "
            "--model out to run every section"
        )


def expand_variants(case_file: CaseFile, models: Sequence[str] = ()) -> list[Variant]:
    """Turn the sections of a parsed case file into variants, in sending order.

    Without models, every concrete `[org/model ...]` section runs in file order,
    and a file with `[@ label]` templates raises `ModelSelectionError`.

    With models, the variants are grouped by model, in the order given. Each
    model gets every template section and its own concrete sections, in file
    order. Concrete sections of other models are left out, because AFM's case
    files give no rule for --model on a concrete file and filtering is the
    least surprising reading. A model with no section raises
    `ModelSelectionError` when the file has no templates. A file with only
    `[all]` prompts runs them once, without a label, for each model.

    Skipped sections produce no variant. Raises `CaseFileError` when nothing
    is left to run.
    """
    models = list(dict.fromkeys(models))
    _check_models(case_file, models)

    variants: list[Variant] = []
    first_lines: dict[tuple[str, str], int] = {}
    if not case_file.sections:
        variants = [_make_baseline_variant(case_file, model) for model in models]

    for model in models or [None]:
        for section in case_file.sections:
            if section.skip:
                continue
            if section.model is not None and model not in (None, section.model):
                continue
            target = model if section.model is None else section.model
            key = (target, section.label)
            if key in first_lines:
                raise CaseFileError(
                    f"{case_file.path}:{section.line}: {section.title} for "
                    f"{target} repeats the section at line {first_lines[key]}: "
                    "rename one of the labels"
                )
            first_lines[key] = section.line
            variants.append(_make_variant(case_file, section, target))

    if not variants:
        scope = f" for {', '.join(models)}" if models else ""
        raise CaseFileError(
            f"{case_file.path}: every section{scope} is marked skip, so there "
            "is nothing to run"
        )
    return variants


def load_variants(path: str | Path, models: Sequence[str] = ()) -> list[Variant]:
    """Parse a case file and expand it for `models` (see `expand_variants`)."""
    return expand_variants(parse_case_file(path), models)
