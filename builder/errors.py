"""The one exception a user's mistake raises: the CLI prints it as a single line and exits non-zero."""

from functools import partial
from pathlib import Path


class UserError(Exception):
    """A problem with the user's input or configuration, phrased as where it is and what to do."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        remedy: str | None = None,
    ) -> None:
        self.file, self.line, self.field, self.remedy = file, line, field, remedy
        super().__init__(message)

    def __reduce__(self) -> tuple:
        """Pickles with its place and remedy, so an error raised in a worker process reads the same."""
        return partial(UserError, file=self.file, line=self.line, field=self.field, remedy=self.remedy), self.args

    def __str__(self) -> str:
        where = "" if self.file is None else f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        field = f"field '{self.field}': " if self.field else ""
        remedy = f"; {self.remedy}" if self.remedy else ""
        return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"
                       for ch in f"{where}{field}{self.args[0]}{remedy}")  # one line, whatever a file's text holds


def machine_error(exc: BaseException) -> UserError | None:
    """What the machine or the input's shape did (a full or read-only disk, memory, nesting, a dead worker), as
    the one line a user's mistake gets; None for anything else, which is a bug and keeps its traceback."""
    import csv
    import errno
    from concurrent.futures import BrokenExecutor

    if isinstance(exc, OSError):
        remedies = {errno.ENOSPC: "free disk space or choose another --out",
                    errno.EDQUOT: "free disk space or choose another --out",
                    errno.EROFS: "choose a folder on a writable disk (--out)",
                    errno.EACCES: "check the permissions, or choose another folder",
                    errno.EPERM: "check the permissions, or choose another folder",
                    errno.ENOTDIR: "a part of the path is a file, not a folder: fix the path",
                    errno.EMFILE: "raise the open-file limit (ulimit -n)"}
        return UserError(exc.strerror or str(exc), file=exc.filename,
                         remedy=remedies.get(exc.errno or 0, "check the path and the disk"))
    if isinstance(exc, MemoryError):
        return UserError("out of memory", remedy="use fewer --workers or a smaller batch_size, or free memory")
    if isinstance(exc, RecursionError):
        return UserError("a record or template is nested too deeply to process",
                         remedy="flatten the record, or leave the file out")
    if isinstance(exc, BrokenExecutor):
        return UserError("a worker process died (the system may have killed it for lack of memory)",
                         remedy="use fewer --workers, or free memory, and build again")
    if isinstance(exc, (csv.Error, UnicodeError)):
        return UserError(f"cannot read the input: {' '.join(str(exc).split())}",
                         remedy="fix the file, or give its encoding with --encoding")
    return None
