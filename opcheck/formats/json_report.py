"""The JSON report (``--format json``): one versioned document, every op's variants and
inputs nested inside (docs/batch.md describes each key)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..report import summary_counts
from ..result import OpReport
from ..serialize import jsonable, report_to_dict

#: The version of the JSON report's layout (docs/batch.md); bumped when a key changes
#: meaning or goes away, not when one is added.
JSON_SCHEMA_VERSION = 1


def render_json(reports: Sequence[OpReport], **meta: Any) -> str:
    """The versioned JSON report: ``schema_version``, the run's ``meta`` (seed, mode, ...),
    ``summary`` counts, and ``ops``, each op with its variants and inputs nested inside.

    The header is indented; each op is one compact line (json's fast C encoder: a report
    of hundreds of ops renders in a fraction of the time, and diffs op by op)."""
    not_run = list(meta.pop("not_run", None) or [])
    head = {
        "schema_version": JSON_SCHEMA_VERSION,
        **meta,
        "complete": not not_run and not meta.get("merge_problems"),
        "not_run": not_run,
        "summary": summary_counts(reports),
    }
    text = json.dumps(jsonable(head), indent=2, allow_nan=False)
    ops = ",\n".join("    " + json.dumps(report_to_dict(r), allow_nan=False, separators=(",", ":"))
                     for r in reports)
    return f'{text[:-2]},\n  "ops": [\n{ops}\n  ]\n}}\n' if reports else \
        f'{text[:-2]},\n  "ops": []\n}}\n'
