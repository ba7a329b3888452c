"""Mix & split: per-source weights, the seeded split by entity, and the disk shuffle that applies them."""
