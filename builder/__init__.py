"""qizhen-instructions: build instruction-tuning datasets from medical knowledge bases and QA corpora."""

import sys

__version__ = "0.1.0"
INTERRUPTED = 130


def run() -> None:
    """The console script `build-instructions`. It lives here, before anything heavy is imported, so that
    Ctrl-C at any moment (the imports of start-up included) ends with one line and exit code 130."""
    try:
        import click

        from builder.cli import main
        code = main.main(prog_name="build-instructions", standalone_mode=False)
    except (KeyboardInterrupt, click.exceptions.Abort):
        print("interrupted: the previous output is untouched", file=sys.stderr)
        sys.exit(INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
