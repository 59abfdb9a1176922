"""Read server flags from a record's `afm_args` string."""

from __future__ import annotations

import shlex


def split_afm_args(afm_args: str) -> list[str]:
    """Split `afm_args` like a shell would; fall back to whitespace on bad quoting."""
    try:
        return shlex.split(afm_args)
    except ValueError:
        return afm_args.split()


def flag_values(afm_args: str, flag: str) -> list[str]:
    """Return every value given to `flag`, as `--flag VALUE` or `--flag=VALUE`."""
    tokens = split_afm_args(afm_args)
    values: list[str] = []
    for position, token in enumerate(tokens):
        if token == flag and position + 1 < len(tokens):
            values.append(tokens[position + 1])
        elif token.startswith(flag + "="):
            values.append(token[len(flag) + 1 :])
    return values


def has_flag(afm_args: str, flag: str) -> bool:
    return any(
        token == flag or token.startswith(flag + "=")
        for token in split_afm_args(afm_args)
    )


def server_stop_strings(afm_args: str) -> list[str]:
    """Return the stop strings of `--stop` flags (comma-separated values)."""
    stops: list[str] = []
    for value in flag_values(afm_args, "--stop"):
        stops.extend(part for part in value.split(",") if part)
    return stops


# Flags that must not change what a deterministic request generates: logging,
# transport (streaming) and performance settings. Two variants that differ
# only in these are expected to give the same output.
OUTPUT_NEUTRAL_FLAGS: dict[str, bool] = {
    # flag name: whether it takes a value
    "--verbose": False,
    "--very-verbose": False,
    "--no-streaming": False,
    "--enable-prefix-caching": False,
    "--prefill-step-size": True,
    "--max-logprobs": True,
}


def partition_args(afm_args: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split `afm_args` into output-relevant and output-neutral flags.

    Each flag keeps its value ("--top-k 40"); both tuples are sorted so that
    the same flags in another order compare equal.
    """
    tokens = split_afm_args(afm_args)
    relevant: list[str] = []
    neutral: list[str] = []
    position = 0
    while position < len(tokens):
        token = tokens[position]
        name = token.split("=", 1)[0]
        has_next = position + 1 < len(tokens)
        if name in OUTPUT_NEUTRAL_FLAGS:
            if OUTPUT_NEUTRAL_FLAGS[name] and "=" not in token and has_next:
                neutral.append(f"{token} {tokens[position + 1]}")
                position += 2
            else:
                neutral.append(token)
                position += 1
            continue
        following = tokens[position + 1] if has_next else ""
        if (
            token.startswith("--")
            and "=" not in token
            and following[:2] not in ("", "--")
        ):
            relevant.append(f"{token} {following}")
            position += 2
            continue
        relevant.append(token)
        position += 1
    return tuple(sorted(relevant)), tuple(sorted(neutral))
