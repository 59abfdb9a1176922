"""Titles of the flags and the fix that each one suggests to AFM's developers."""

from __future__ import annotations

FLAG_TITLES: dict[str, str] = {
    "request_failed": "request failed",
    "stop_in_reasoning": "stop string matched inside the reasoning",
    "stop_at_answer_start": "stop string matched the start of the answer",
    "stop_leak": "stop string present in the content",
    "thinking_budget_exhausted": "reasoning used the whole token budget",
    "finish_reason_wrong": "finish_reason 'stop' at max_tokens",
    "reasoning_only": "reasoning but no answer",
    "empty_output": "empty response",
    "format_violation": "JSON format not met",
    "special_token_leak": "special tokens in the content",
    "reasoning_artifact": "junk suffix on reasoning traces",
    "repetition_loop": "repetition loop",
    "garbled_output": "garbled output",
    "seed_mismatch": "deterministic request gave different output",
    "stream_mismatch": "streaming and non-streaming differ",
    "throughput_outlier": "throughput far from the model's median",
    "length_cutoff": "answer cut at the token budget",
    "stop_value_encoded": "stop list sent as literal text",
}

FLAG_FIXES: dict[str, str] = {
    "stop_in_reasoning": "Match stop strings against the answer only, after the "
    "reasoning parser has split off the reasoning.",
    "stop_at_answer_start": "Choose stop strings that cannot open the answer, or "
    "record that the test expects an empty answer.",
    "stop_leak": "Apply every stop string in force (request and `--stop`) before "
    "content leaves the server, in streaming and non-streaming paths.",
    "thinking_budget_exhausted": "Raise max_tokens for reasoning models or lower "
    "their reasoning effort in the test.",
    "finish_reason_wrong": "Report finish_reason 'length' when generation ends at "
    "the token limit.",
    "reasoning_only": "Check that the reasoning parser closes the reasoning block "
    "and routes the answer to `content`.",
    "empty_output": "Find why the server returns OK with no text; check the "
    "server log for this request.",
    "format_violation": "Enforce the JSON constraint (constrained decoding for "
    "schemas, no markdown fences for json_object).",
    "special_token_leak": "Strip template and reasoning markers from `content`, or "
    "add the model's reasoning format to the parser.",
    "reasoning_artifact": "Fix the reasoning parser so it strips the end-of-reasoning "
    "marker completely.",
    "repetition_loop": "Try repetition or presence penalties, or treat the model as "
    "unfit for this task.",
    "garbled_output": "Check the model's tokenizer and weight format support in "
    "AFM; the output is not language.",
    "seed_mismatch": "Make generation deterministic for a fixed seed or temperature "
    "0 regardless of caching, prefill and logging settings.",
    "stream_mismatch": "Make the streaming and non-streaming paths share the same "
    "generation and post-processing.",
    "throughput_outlier": "Look for contention or a slow path for this variant's "
    "settings.",
    "length_cutoff": "Raise max_tokens if the test needs a complete answer.",
    "stop_value_encoded": "Parse the case file's JSON stop list into separate "
    "strings before sending it.",
}


def flag_title(flag: str) -> str:
    return FLAG_TITLES.get(flag, flag.replace("_", " "))
