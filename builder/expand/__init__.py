"""Expansion: records through their kind's template catalogue, rendered in Jinja2's sandbox, into rows."""
