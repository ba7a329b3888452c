"""Cleaning: text fixed in place (markup, entities, odd whitespace, placeholders), over Arrow columns."""
