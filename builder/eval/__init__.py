"""Evaluation: sets built from a knowledge base (build, extract) and read back (sets); model answers read
(answers), matched against gold labels (match) and scored by QiZhen's three criteria (score)."""
