"""The output folder: a build replaces only what this tool wrote, swaps atomically, and cleans up after kills.

A build writes into `.NAME.tmp-PID` beside `--out` (marked by a `.build-instructions` file) and, when done,
puts it in place:
1. no output yet: one rename, `tmp` → `out`;
2. an output exists: where the kernel offers it (Linux `renameat2(RENAME_EXCHANGE)`), one call swaps the
   two folders, so `out` is always a complete build, old or new; the old one (now at `tmp`) is deleted;
3. elsewhere: `out` → `.NAME.old-PID`, then `tmp` → `out`, then the old one is deleted. Between the two
   renames `out` is missing but the complete old build sits at `.NAME.old-PID`, and the next build puts it
   back before anything else (`recover`).
A folder counts as this tool's output only when its manifest names the tool (`SIGNATURE`) and its marker
lists every file in it (`seal`); any other non-empty folder, even one holding a `manifest.json` of its own,
or a build the user has put files of their own into, is refused and left untouched.
"""

from __future__ import annotations

import ctypes
import errno
import glob
import json
import os
import re
import shutil
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from builder.errors import UserError

SIGNATURE = "qizhen-instructions"
MARKER = ".build-instructions"
MARKER_TEXT = "# written by build-instructions: the next build may replace this folder and the files listed here\n"
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<what>tmp|old)-(?P<pid>\d+)$")


def is_our_build(folder: Path) -> bool:
    """A folder a finished build of this tool wrote: its manifest carries the tool's signature."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    builder = manifest.get("builder") if isinstance(manifest, dict) else None
    return isinstance(builder, dict) and builder.get("name") == SIGNATURE


def check_output(out: Path, inputs: Iterable[Path] = ()) -> Path:
    """`out` as an absolute path that a build may replace whole: new, empty, or a previous build of this tool
    holding only its own files; never the current folder or one that holds an input."""
    out = Path(os.path.abspath(out))
    if out.parent == out:
        raise UserError("is the root of the file system", file=out, remedy="choose a folder for --out")
    if out == Path.cwd() or out in Path.cwd().parents:
        raise UserError("is the current folder or holds it, and a build replaces its --out whole", file=out,
                        remedy="give a new folder, e.g. --out out/v1")
    for path in inputs:
        if Path(os.path.abspath(path)).is_relative_to(out):
            raise UserError(f"holds the input {path}, and a build replaces its --out whole", file=out,
                            remedy="choose an --out outside the inputs")
    if out.exists() and not out.is_dir():
        raise UserError("exists and is not a folder", file=out, remedy="choose a new or empty folder for --out")
    if out.is_dir() and any(out.iterdir()):
        if not is_our_build(out):
            raise UserError("exists and is not an output of build-instructions (its manifest, if any, does not "
                            "name the tool); nothing was changed", file=out,
                            remedy="choose a new or empty folder for --out, or remove this one yourself")
        if others := foreign_files(out):
            raise UserError(f"holds {len(others)} file(s) this tool did not write (first: {others[0]}); nothing "
                            "was changed", file=out, remedy="move them out of the folder, or choose another --out")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UserError(f"'{parent}' is a file, not a folder", file=out, remedy="choose another --out")
            break
    return out


def prepare_output(out: Path) -> Path:
    """A fresh, marked temporary folder beside `out` (already checked), after recovering from killed builds."""
    out.parent.mkdir(parents=True, exist_ok=True)
    recover(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if (tmp / MARKER).is_file():  # this process's own, from a build it ran before
        shutil.rmtree(tmp)
    tmp.mkdir()
    (tmp / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
    return tmp


def seal(folder: Path, added: Iterable[Path] | None = None) -> None:
    """Lists in the marker the files this tool wrote into `folder`: all of them (a finished build, before it is
    put in place), or `added` to an existing output (`formats`, `report`)."""
    marker = folder / MARKER
    listed = _listed(folder) if added is not None else set()
    files = listed | {p.relative_to(folder).as_posix() for p in (_files(folder) if added is None else added)}
    marker.write_text(MARKER_TEXT + "".join(f"{name}\n" for name in sorted(files - {MARKER})), encoding="utf-8")


def foreign_files(folder: Path) -> list[str]:
    """Files in an output that its marker does not list: someone else's, so a build must not replace them."""
    listed = _listed(folder) | {MARKER}
    return sorted(name for name in (p.relative_to(folder).as_posix() for p in _files(folder)) if name not in listed)


def _listed(folder: Path) -> set[str]:
    try:
        lines = (folder / MARKER).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return set()
    return {line for line in lines if line and not line.startswith("#")}


def _files(folder: Path) -> Iterator[Path]:
    return (p for p in folder.rglob("*") if not p.is_dir())


def recover(out: Path) -> list[Path]:
    """Leftovers of builds of `out` whose process is dead: an old build left between the two renames goes back
    into place when `out` is missing; marked temporary folders are removed. Returns what was removed."""
    removed = []
    for leftover in sorted(out.parent.glob(f".{glob.escape(out.name)}.*-*")):
        match = _LEFTOVER.match(leftover.name)
        if not match or match["name"] != out.name or _alive(int(match["pid"])):
            continue
        if not (leftover / MARKER).is_file():
            continue  # not marked by this tool: never ours to touch
        if match["what"] == "old" and not out.exists() and is_our_build(leftover):
            leftover.rename(out)
            continue
        remove(leftover)
        removed.append(leftover)
    return removed


def publish_atomically(tmp: Path, out: Path) -> None:
    """Puts the finished build in place; at every instant a complete old or new build exists (module docstring)."""
    if not out.exists():
        tmp.rename(out)
        return
    if _exchange(tmp, out):
        remove(tmp)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if not (out / MARKER).is_file():  # an empty folder: mark it, so that `recover` may handle it
        (out / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
    out.rename(old)
    tmp.rename(out)
    remove(old)


def remove(folder: Path) -> None:
    """Deletes a marked folder, its marker last: a kill half-way leaves a marked folder the next build removes."""
    for child in folder.iterdir():
        if child.name != MARKER:
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    (folder / MARKER).unlink(missing_ok=True)
    folder.rmdir()


def _exchange(a: Path, b: Path) -> bool:
    """Swaps two folders in one system call where the kernel and file system allow it."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EXDEV):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _alive(pid: int) -> bool:
    """Whether a process with this id exists (one we may not signal counts as alive: leave its folders be)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
