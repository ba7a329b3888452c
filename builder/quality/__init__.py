"""Quality: PII scrubbing, filters, decontamination and deduplication of the rows a source yields."""
