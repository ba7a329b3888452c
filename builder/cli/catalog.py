"""Commands that describe what a build can use: fields, components, templates lint."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from builder.cli import main
from builder.cli.options import user_errors
from builder.errors import UserError


@main.command("fields")
@click.argument("kind", required=False)
@user_errors
def fields_command(kind: str | None) -> None:
    """List each kind's schema fields (or KIND's) and the source field names mapped to them by default."""
    from builder.validate.fields import ALIASES, REQUIRED
    from schemas import RECORD_MODELS
    if kind is not None and kind not in RECORD_MODELS:
        raise UserError(f"unknown record kind '{kind}'", remedy=f"use one of: {', '.join(sorted(RECORD_MODELS))}")
    for name in [kind] if kind else sorted(RECORD_MODELS):
        click.echo(f"[{name}]  required: {', '.join(REQUIRED[name])}")
        for field, aliases in ALIASES[name].items():
            click.echo(f"  {field:<24}{'、'.join(a for a in aliases if a != field)}")


@main.command("components")
def components_command() -> None:
    """List what a build can use: record kinds, readers, quality filters and output formats, plug-ins' included."""
    from builder.export.formats import choosable_formats
    from builder.quality.filters import known_filters
    from builder.read import known_readers
    from schemas import RECORD_MODELS
    for title, names in (("kinds", RECORD_MODELS), ("readers", known_readers()), ("filters", known_filters()),
                         ("formats", choosable_formats())):
        click.echo(f"{title + ':':<10}{', '.join(names)}")


@main.group("templates")
def templates_group() -> None:
    """Work with template catalogues."""


@templates_group.command("lint")
@click.argument("path", required=False, type=click.Path(path_type=Path), default=None)
@user_errors
def lint_command(path: Path | None) -> None:
    """Check a catalogue file or folder (default: the shipped templates/); one line per problem."""
    from builder.config import SHIPPED_TEMPLATES
    from builder.expand.catalogue import lint
    folder = path or SHIPPED_TEMPLATES
    count, problems = lint(folder)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(f"{len(problems)} problem(s) in {folder}", err=True)
        sys.exit(1)
    click.echo(f"ok: {count} templates in {folder}")
