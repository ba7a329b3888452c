"""The audit: a finished build's knowledge-base rows checked against their source records, re-read raw.

Independent of the builder's cleaning and templates so that it can catch their mistakes: `source` re-reads the
build and its inputs, `text` is the audit's own reading of text, `match` finds each row's record by name, `checks`
judges one answer, and `run` ties them together and writes `audit.jsonl`.
"""
