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
        return f"{where}{field}{self.args[0]}{remedy}"
