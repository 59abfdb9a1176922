"""Estimated cost of judge calls for known OpenAI models.

NOTE: list prices in US dollars per million tokens (input, output) as OpenAI
published them for these models in 2025. Prices change; the report calls the
figure an estimate, and models not listed get no estimate.
"""

from __future__ import annotations

PRICES_PER_MILLION: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "o4-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
}


def estimate_cost(
    model: str, prompt_tokens: int, completion_tokens: int
) -> float | None:
    """Return the estimated cost in US dollars, or None for an unknown model.

    Dated snapshots ("gpt-4o-2024-08-06") use the price of their base name.
    """
    prices = PRICES_PER_MILLION.get(model)
    if prices is None:
        for name in sorted(PRICES_PER_MILLION, key=len, reverse=True):
            if model.startswith(name + "-"):
                prices = PRICES_PER_MILLION[name]
                break
    if prices is None:
        return None
    input_price, output_price = prices
    return (prompt_tokens * input_price + completion_tokens * output_price) / 1_000_000
