"""Planned requests: the requests a case file makes collect send, variant by variant."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from judge.records import LABEL_SEPARATOR, make_record_id


class RequestParams(BaseModel):
    """Request parameters a case file can set, merged from defaults and section."""

    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    min_p: float | None = None
    seed: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    presence_penalty: float | None = None
    repetition_penalty: float | None = None
    frequency_penalty: float | None = None
    stop: list[str] | None = None
    # Normalised to an OpenAI response_format object, e.g. {"type": "json_object"}.
    response_format: dict[str, Any] | None = None
    system: str | None = None
    developer: str | None = None
    tools: list[dict[str, Any]] | None = None
    media: list[str] | None = None
    stream: bool | None = None


class Variant(BaseModel):
    """One `[org/model @ label]` section, or a template section expanded for a model."""

    model: str
    label: str = ""
    afm_args: str = ""
    intent: str = ""
    params: RequestParams = Field(default_factory=RequestParams)
    prompts: list[str] = Field(default_factory=list)
    # Number of `prompts` that come from the [all] section; they come first.
    baseline_count: int = 0
    source: str = ""

    @property
    def record_model(self) -> str:
        """The `model` field AFM writes: "org/model @ label" when labelled."""
        if not self.label:
            return self.model
        return f"{self.model}{LABEL_SEPARATOR}{self.label}"


class PlannedRequest(BaseModel):
    """One request of the plan, in the order collect sends them."""

    index: int
    variant: Variant
    prompt: str
    is_baseline: bool = False

    @property
    def record_id(self) -> str:
        return make_record_id(
            self.variant.record_model, self.variant.label, self.prompt, self.index
        )


def plan_requests(variants: list[Variant]) -> list[PlannedRequest]:
    """Number every prompt of every variant in sending order."""
    planned: list[PlannedRequest] = []
    for variant in variants:
        for position, prompt in enumerate(variant.prompts):
            planned.append(
                PlannedRequest(
                    index=len(planned),
                    variant=variant,
                    prompt=prompt,
                    is_baseline=position < variant.baseline_count,
                )
            )
    return planned
