"""Auditing a finished build: each knowledge-base row checked against the source record it came from."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from builder.cli import main
from builder.cli.options import user_errors

FINDINGS_EXIT = 1


@main.command("audit")
@click.argument("out_dir", type=click.Path(path_type=Path, file_okay=False))
@user_errors
def audit_command(out_dir: Path) -> None:
    """Re-read the sources of the build in OUT_DIR and check every knowledge-base row against its records: single
    answers, and the parts of grounded, consultation, choice, preference and reverse rows (material, turns, options,
    rejected answers, listed names); findings go to OUT_DIR/audit.jsonl. Exit 0: no findings; 1: findings; 2: not a
    build, or its inputs changed."""
    from builder.audit.run import audit, summary
    report = audit(out_dir)
    click.echo(summary(report))
    click.echo(f"\nwrote {report.path}")
    if report.entries:
        sys.exit(FINDINGS_EXIT)
