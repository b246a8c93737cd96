"""Where the ``opcheck`` command's reports go: ``-o FILE`` or ``-o DIR`` for one or several
``--format``s, checked before the audit starts, written atomically, and the closing
summary on stderr."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from .errors import UsageError
from .escape import visible
from .formats import FORMATS, render
from .progress import is_terminal
from .report import render_summary_table, summary_line
from .result import OpReport


def names_directory(formats: Sequence[str], output: str) -> bool:
    return len(formats) > 1 or output.endswith(("/", os.sep)) or os.path.isdir(output)


def report_outputs(formats: Sequence[str], output: str | None) -> list[tuple[str, str | None]]:
    """(format, path) pairs; a path of None is stdout."""
    if output is None:
        if len(formats) > 1:
            raise UsageError(f"--format {','.join(formats)} writes several reports; "
                             "add -o DIR to say where")
        return [(formats[0], None)]
    if names_directory(formats, output):
        if os.path.exists(output) and not os.path.isdir(output):
            raise UsageError(f"-o {output}: it is a file, and --format {','.join(formats)} "
                             "writes several reports into a directory; name a directory")
        pairs = [(f, os.path.join(output, FORMATS[f].filename)) for f in formats]
    else:
        pairs = [(formats[0], output)]
    for _, path in pairs:
        check_writable(path, "-o")
    return pairs


def check_writable(path: str, option: str) -> None:
    """Refuse before the audit, not after it, a report path that cannot be written: a
    directory where a file goes, a file where a directory goes, no permission."""
    if os.path.isdir(path):
        raise UsageError(f"{option} {path}: it is a directory; name a file")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise UsageError(f"{option} {path}: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: no permission to write in {parent}")


def write_reports(outputs: list[tuple[str, str | None]], reports: Sequence[OpReport],
                   meta: dict[str, Any]) -> None:
    for fmt, path in outputs:
        text = render(fmt, reports, meta)
        if path is None:
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            write_atomic(path, text)


def write_atomic(path: str, text: str) -> None:
    """Write to a temporary file beside ``path``, then rename: readers never see half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".opcheck-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # as open() would have made it, not mkstemp's 0600
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def closing_summary(reports: Sequence[OpReport], elapsed: float) -> None:
    if is_terminal(sys.stderr):
        width = shutil.get_terminal_size().columns
        print(visible(render_summary_table(reports, width)), file=sys.stderr)
    print(summary_line(reports, elapsed), file=sys.stderr)
