"""`build-instructions`: one command per job; a user's mistake is one line on stderr and exit code 2.

Each command imports the stages it runs when it runs, so that `--help`, `--version` and a mistyped flag
answer at once instead of loading numba, pyarrow and datasets first. The commands live by job: `build`
(build, validate, preview, report, formats), `catalog` (fields, components, templates), `evaluate` (eval),
`publish` (push), `audit` (audit); `options` holds what they share.
"""

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qizhen-instructions")
def main() -> None:
    """Build instruction-tuning datasets from medical knowledge bases and doctor–patient QA."""


from builder.cli import audit, build, catalog, contamination, evaluate, publish  # noqa: E402,F401  (each registers its commands on main)
