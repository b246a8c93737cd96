"""JUnit XML: one ``<testcase>`` per op and variant, one ``<testsuite>`` per plugin.

The layout CI systems read (Jenkins, GitLab, GitHub test reporters): ``classname`` is the
op's name, ``name`` the variant's label; a gradient mismatch is a ``<failure>``, a broken
contract an ``<error>``, an op an interrupted run did not reach is ``<skipped>``. An op
that never got as far as a variant (it timed out, crashed its worker, or its plugin is
broken) is one testcase named ``all variants``.

Expectations are written per variant as pytest's junitxml writes parametrized tests: a
variant an ``Op.skip`` selector left out is ``<skipped type="pytest.skip">``, an expected
failure ``<skipped type="pytest.xfail">``, a variant that passes though expected to fail
a ``<failure>`` whose message starts ``[XPASS(strict)]``, and the other variants of such
an op pass or fail as they did.
"""

from __future__ import annotations

import re
import shlex
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from ..escape import visible
from ..report import format_input_failure
from ..result import OpReport, VariantResult, worst_status

WHOLE_OP = "all variants"
# Characters XML 1.0 cannot carry at all, even escaped (ANSI escapes in exception texts...).
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: Any) -> str:
    """``text`` with every character XML cannot hold written as ``\\xNN``."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m[0]):02x}", visible(text))


def render_junit(reports: Sequence[OpReport], meta: dict[str, Any]) -> str:
    root = ET.Element("testsuites", name="opcheck")
    suites: dict[str, ET.Element] = {}
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for report in reports:
        plugin = report.plugin or "opcheck"
        suite = suites.get(plugin)
        if suite is None:
            suite = suites[plugin] = _suite(root, plugin, meta)
        for case in _cases(report):
            suite.append(case)
    not_run = list(meta.get("not_run") or [])
    if not_run:
        suite = _suite(root, "not run", meta)
        for name in not_run:
            case = ET.SubElement(suite, "testcase", classname=xml_text(name), name=WHOLE_OP, time="0")
            ET.SubElement(case, "skipped", message="not run: the audit was interrupted first")
    for suite in root.iter("testsuite"):
        counts = _count(suite)
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", f"{_suite_time(suite):.3f}")
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{float(meta.get('duration') or 0.0):.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _suite(root: ET.Element, name: str, meta: dict[str, Any]) -> ET.Element:
    suite = ET.SubElement(root, "testsuite", name=xml_text(name))
    properties = ET.SubElement(suite, "properties")
    for key in ("seed", "mode", "variant", "shard"):
        if meta.get(key) is not None:
            ET.SubElement(properties, "property", name=key, value=xml_text(meta[key]))
    return suite


def _cases(report: OpReport) -> list[ET.Element]:
    skipped = [_skipped(report.name, label, "pytest.skip", reason)
               for label, reason in report.skipped.items()]
    if report.status in ("xfail", "skip", "xpass") and not report.variants:
        if skipped and report.status == "skip":
            return skipped  # each variant a skipped test, as pytest shows skipped params
        case = _case(report.name, WHOLE_OP, report.duration)
        if report.status == "xpass":
            _xpass(case, report.message)
        else:  # pytest's junitxml way: a skip, and an expected failure, are <skipped>
            ET.SubElement(case, "skipped", type="pytest.xfail" if report.status == "xfail" else
                          "pytest.skip", message=xml_text(report.message or report.status))
        return [case, *skipped]
    if not report.variants:
        case = _case(report.name, WHOLE_OP, report.duration)
        if report.status != "pass":
            _problem(case, report.status, report.message, report.message, report.reproduce)
        _output(case, report.warnings)
        return [case, *skipped]
    share = report.duration / len(report.variants)
    xpassed = set(report.xpassed or [v.label for v in report.variants if v.status == "pass"])
    cases = []
    for variant in report.variants:
        case = _case(report.name, variant.label, share)
        covered = "; ".join(f"{i.label}: {i.coverage}" for i in variant.first_order if i.coverage)
        if covered:  # what was compared; first, where pytest's junitxml puts a test's properties
            ET.SubElement(ET.SubElement(case, "properties"), "property", name="opcheck_coverage",
                          value=xml_text(covered))
        if report.status in ("xfail", "xpass") and variant.status != "pass":
            # every failure of an xfail (or a strict xpass) op is an expected one
            ET.SubElement(case, "skipped", type="pytest.xfail",
                          message=xml_text(_expected_failure(report, variant)))
        elif report.status == "xpass" and variant.label in xpassed:
            _xpass(case, report.message)
        elif variant.status == "fail":
            _problem(case, "fail", variant.message, _failure_text(report, variant),
                     _reproduce(report, variant))
        elif variant.status == "error":
            body = "\n".join(t for t in (variant.message, variant.traceback.rstrip()) if t)
            _problem(case, "error", variant.message, body, _reproduce(report, variant))
        _output(case, variant.warnings)
        cases.append(case)
    return cases + skipped


def _expected_failure(report: OpReport, variant: VariantResult) -> str:
    """The op's message for this variant: "expected failure (reason): variant N=1: ...". The
    op's message quotes its first failing variant's (``engine``); another variant's expected
    failure quotes its own, after the same reason."""
    raw = worst_status([v.status for v in report.variants])
    first = next((v for v in report.variants if v.status == raw), None)
    quoted = f"variant {first.label}: {first.message}" if first is not None else ""
    if report.status != "xfail" or not quoted or not report.message.endswith(f": {quoted}"):
        return report.message if report.status == "xfail" else variant.message
    return f"{report.message[:-len(quoted)]}variant {variant.label}: {variant.message}"


def _skipped(op: str, label: str, kind: str, reason: str) -> ET.Element:
    case = _case(op, label, 0.0)
    element = ET.SubElement(case, "skipped", type=kind, message=xml_text(reason))
    element.text = xml_text(reason)
    return case


def _xpass(case: ET.Element, message: str) -> None:
    """pytest's strict XPASS: a failure whose message is ``[XPASS(strict)] reason``."""
    element = ET.SubElement(case, "failure", message=xml_text(message), type="XPASS")
    element.text = xml_text(message)


def _case(op: str, label: str, seconds: float) -> ET.Element:
    return ET.Element("testcase", classname=xml_text(op), name=xml_text(label), time=f"{seconds:.3f}")


#: The JUnit ``type`` of an error, from how its message starts (the runner, the worker and
#: discovery write these openings); any other error is the op breaking its contract.
ERROR_TYPES = (
    (("timed out after",), "Timeout"),
    (("worker process ", "the audit stopped", "the op killed the fork server",
      "the worker could not return"), "Crash"),
    (("plugin '", "the op was not found"), "PluginError"),
)


def error_type(message: str) -> str:
    """``Timeout``, ``Crash``, ``PluginError`` or ``ContractError`` for an error message."""
    message = re.sub(r"^variant [^:]*: ", "", message)  # an op-level copy of a variant's error
    for openings, kind in ERROR_TYPES:
        if message.startswith(openings):
            return kind
    return "ContractError"


def _problem(case: ET.Element, status: str, message: str, body: str, reproduce: str) -> None:
    tag, kind = ("failure", "GradientMismatch") if status == "fail" else ("error", error_type(message))
    element = ET.SubElement(case, tag, message=xml_text(message.splitlines()[0] if message else status),
                            type=kind)
    if reproduce:
        body = f"{body}\nReproduce: {reproduce}"
    element.text = xml_text(body)


def _reproduce(report: OpReport, variant: VariantResult) -> str:
    """The report's reproduce line (made for its first failing variant) for ``variant``:
    each testcase reruns its own variant."""
    shown = report.failing_variant()
    if not report.reproduce or shown is None or shown is variant:
        return report.reproduce
    old, new = shown.label, variant.label
    return (report.reproduce.replace(f"--variant {shlex.quote(old)}", f"--variant {shlex.quote(new)}")
            .replace(f"variant={old!r}", f"variant={new!r}"))


def _failure_text(report: OpReport, variant: VariantResult) -> str:
    parts = [variant.message]
    parts += [format_input_failure(report.name, variant, item)
              for item in variant.inputs if item.status == "fail"]
    return "\n\n".join(p for p in parts if p)


def _output(case: ET.Element, warnings: Sequence[str]) -> None:
    if warnings:
        ET.SubElement(case, "system-out").text = xml_text("\n".join(f"warning: {w}" for w in warnings))


def _count(suite: ET.Element) -> dict[str, int]:
    cases = suite.findall("testcase")
    return {
        "tests": len(cases),
        "failures": sum(c.find("failure") is not None for c in cases),
        "errors": sum(c.find("error") is not None for c in cases),
        "skipped": sum(c.find("skipped") is not None for c in cases),
    }


def _suite_time(suite: ET.Element) -> float:
    return sum(float(c.get("time") or 0.0) for c in suite.findall("testcase"))

