"""qizhen-instructions: build instruction-tuning datasets from medical knowledge bases and QA corpora."""

import sys

__version__ = "0.1.0"
INTERRUPTED = 130


def run() -> None:
    """The console script `build-instructions`. It lives here, before anything heavy is imported, so that
    Ctrl-C at any moment (the imports of start-up included) ends with one line and exit code 130."""
    sys.unraisablehook = _interrupt_again
    try:
        code = _main()
    except KeyboardInterrupt:
        print("interrupted: the previous output is untouched", file=sys.stderr)
        sys.exit(INTERRUPTED)
    sys.exit(code if isinstance(code, int) else 0)


def _interrupt_again(unraisable: "sys.UnraisableHookArgs") -> None:
    """Ctrl-C that lands in a callback Python cannot raise from (the import system's module-lock callback, at
    start-up) would be printed as "Exception ignored" and lost: it is raised again in the main thread instead."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        import _thread

        _thread.interrupt_main()
    else:
        sys.__unraisablehook__(unraisable)


def _main() -> object:
    import click

    from builder.cli import main
    try:
        return main.main(prog_name="build-instructions", standalone_mode=False)
    except click.exceptions.Abort:  # click's own word for Ctrl-C while it parses
        raise KeyboardInterrupt from None
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
