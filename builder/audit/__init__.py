"""The audit: a finished build's knowledge-base rows checked against their source records, re-read raw.

Independent of the builder's cleaning and templates so that it can catch their mistakes: `source` re-reads the
build and its inputs, `text` is the audit's own reading of text, `match` finds each row's record by name and
`resolve` every record id the rows name (their own, and the companions they show), `checks` judges one answer,
`shapes` reads the catalogue's type declarations and a row's text back into its parts, `typed` and `types` plan and
check the rows of the richer instruction types, and `run` ties them together and writes `audit.jsonl`.
"""
