"""Validation: source columns mapped to a kind's fields, then checked against its Pydantic schema."""
