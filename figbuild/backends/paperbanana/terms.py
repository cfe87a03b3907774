"""What the Paper Banana API charges and accepts (its reference: "Credit Costs", the request fields)."""

from __future__ import annotations

from figbuild.request import Terms

#: Credits per generation by resolution ("Credit Costs"), and the request limits.
TERMS = Terms(
    credits={"1K": 10, "2K": 15, "4K": 25},
    prompt_limit=10_000,
    content_limit=100_000,
    image_input_limit=10,
)
