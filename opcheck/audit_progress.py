"""How far the running audit has got: elements checked of elements to check, for which
input, variant and rule — so that a timeout can tell an op that was progressing from one
that hangs.

The hot loops of ``finite_diff`` pay one store into ``slots`` per element (a memoryview
over a small shared buffer: no function call, no allocation). The buffer is an anonymous
mapping in this process; a worker process maps a file instead (``attach``), which the
parent reads when it stops the worker (``read``): the parent cannot see the worker's
memory, the file it can.
"""

from __future__ import annotations

import contextlib
import json
import mmap
from dataclasses import dataclass

#: Bytes of the buffer: eight int64 slots, then the label (length in slot ``LABEL``).
SIZE = 512
_LABEL_AT = 64
#: Slots: elements (or projections) of finished inputs, of the current one, its total,
#: forward calls outside the element loops (second looks, block projections), label bytes.
BASE, DONE, TOTAL, EXTRA, LABEL = 0, 1, 2, 3, 7

_buffer = mmap.mmap(-1, SIZE)
#: The counters, as the hot loops write them: ``slots[DONE] = k``.
slots = memoryview(_buffer).cast("q")
_label: dict[str, str] = {}


def attach(path: str) -> None:
    """Keep the counters in the file ``path`` (``SIZE`` bytes), which another process reads."""
    global _buffer, slots
    with open(path, "r+b") as handle:
        mapped = mmap.mmap(handle.fileno(), SIZE)
    _buffer, slots = mapped, memoryview(mapped).cast("q")


def reset() -> None:
    """A new op: every counter at zero, no label."""
    _buffer[:] = bytes(SIZE)
    _label.clear()


def variant(label: str, position: str = "") -> None:
    """A new variant (shape and attrs), ``position`` "2 of 5": its gradient rule first."""
    _set(variant=label, position=position, check="backward")


def check(rule: str) -> None:
    """The rule being checked next: "backward", "jvp" or "double_backward"."""
    _set(check=rule)


def begin(name: str, total: int, unit: str = "elements") -> None:
    """Input ``name`` starts: ``total`` units (elements, sampled elements, projections)."""
    slots[BASE] += slots[DONE]
    slots[DONE] = 0
    slots[TOTAL] = total
    _set(input=name, unit=unit)


def tick() -> None:
    """One forward call outside the element loops (a second look, a block projection)."""
    slots[EXTRA] += 1


#: Encoded labels by their items: an audit repeats a few labels (a tiny op's audit wrote
#: 3 labels per variant, ~5 us of JSON each).
_encoded: dict[tuple[tuple[str, str], ...], bytes] = {}


def _set(**fields: str) -> None:
    _label.update({k: v[:100] for k, v in fields.items()})
    key = tuple(_label.items())
    data = _encoded.get(key)
    if data is None:
        if len(_encoded) > 4096:
            _encoded.clear()
        data = _encoded[key] = json.dumps(_label).encode()[: SIZE - _LABEL_AT]
    _buffer[_LABEL_AT : _LABEL_AT + len(data)] = data
    slots[LABEL] = len(data)


@dataclass(frozen=True)
class Snapshot:
    """The counters at one moment."""

    ticks: int  # grows with every element, projection or second look: progress at all
    done: int
    total: int
    input: str | None = None
    variant: str | None = None
    check: str | None = None
    unit: str = "elements"
    position: str = ""  # of the variant among those audited: "2 of 5"

    def describe(self) -> str:
        """E.g. "checked 12,000 of 32,768 elements of input 'x' (variant default, 1 of 5,
        backward)"."""
        if self.input is None:
            return ""
        variant = f"variant {self.variant}" if self.variant else ""
        position = self.position if variant else ""
        where = ", ".join(part for part in (variant, position, self.check or "") if part)
        return (f"checked {self.done:,} of {self.total:,} {self.unit} of input {self.input!r}"
                + (f" ({where})" if where else ""))


def snapshot() -> Snapshot:
    """The counters of this process."""
    return _parse(bytes(_buffer))


def read(path: str) -> Snapshot | None:
    """The counters a worker keeps in ``path`` (None if the file is gone or unreadable)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(SIZE)
    except OSError:
        return None
    return _parse(data) if len(data) == SIZE else None


def _parse(data: bytes) -> Snapshot:
    view = memoryview(data).cast("q")
    length = max(0, min(view[LABEL], SIZE - _LABEL_AT))
    label: dict[str, str] = {}
    with contextlib.suppress(ValueError):  # a label torn by a stop mid-write: counts only
        label = json.loads(data[_LABEL_AT : _LABEL_AT + length] or b"{}")
    return Snapshot(ticks=view[BASE] + view[DONE] + view[EXTRA], done=view[DONE],
                    total=view[TOTAL], input=label.get("input"), variant=label.get("variant"),
                    check=label.get("check"), unit=label.get("unit", "elements"),
                    position=label.get("position", ""))


def new_file(path: str) -> None:
    """Create the ``SIZE``-byte file a worker ``attach``es to."""
    with open(path, "wb") as handle:
        handle.write(bytes(SIZE))
