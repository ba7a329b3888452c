"""qizhen-instructions: build instruction-tuning datasets from medical knowledge bases and QA corpora."""

__version__ = "0.1.0"
