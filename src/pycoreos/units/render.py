"""systemctl-like text for statuses, unit lists and job failures. Pure."""

from __future__ import annotations

import time
from collections.abc import Sequence

from pycoreos.units.journal import render_short
from pycoreos.units.manager import JobResult, JournalEntry, UnitStatus

__all__ = ["job_failure", "render_list", "render_status"]

_DOT = {"active": "\u25cf", "failed": "\u00d7", "reloading": "\u21bb", "activating": "\u25cf"}


def _since(ts: float, now: float) -> str:
    if not ts:
        return ""
    stamp = time.strftime("%a %Y-%m-%d %H:%M:%S %Z", time.localtime(ts))
    ago = max(0, int(now - ts))
    span = (
        f"{ago}s"
        if ago < 60
        else f"{ago // 60}min {ago % 60}s"
        if ago < 3600
        else f"{ago // 3600}h {ago % 3600 // 60}min"
    )
    return f" since {stamp}; {span} ago"


def render_status(
    st: UnitStatus, journal: Sequence[JournalEntry], *, now: float, hostname: str
) -> str:
    """``systemctl status NAME`` output."""
    dot = _DOT.get(st.active_state, "\u25cb")
    head = f"{dot} {st.name}" + (f" - {st.description}" if st.description else "")
    lines = [head]
    if st.load_state == "loaded":
        extra = f"; {st.unit_file_state}" if st.unit_file_state else ""
        lines.append(f"     Loaded: loaded ({st.fragment_path}{extra})")
    elif st.load_state == "error":
        lines.append(f"     Loaded: error ({st.fragment_path})")
        lines.append(f"      Error: {st.load_error}")
    else:
        lines.append(f"     Loaded: {st.load_state}")
    if st.dropin_paths:
        lines.append(f"    Drop-In: {', '.join(st.dropin_paths)}")
    result = f" (Result: {st.result})" if st.active_state == "failed" else ""
    since = _since(st.state_change_timestamp, now)
    lines.append(f"     Active: {st.active_state} ({st.sub_state}){result}{since}")
    if st.main_pid:
        lines.append(f"   Main PID: {st.main_pid}")
    elif st.exec_main_code:
        lines.append(f"    Process: (code={st.exec_main_code}, status={st.exec_main_status})")
    if st.tasks:
        lines.append(f"      Tasks: {len(st.tasks)}")
    if journal:
        lines.append("")
        lines += [render_short(e, hostname) for e in journal]
    return "\n".join(lines)


def render_list(units: Sequence[UnitStatus]) -> str:
    """``systemctl list-units`` table."""
    rows = [(u.name, u.load_state, u.active_state, u.sub_state, u.description) for u in units]
    header = ("UNIT", "LOAD", "ACTIVE", "SUB", "DESCRIPTION")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    out = [
        "  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in [header, *rows]
    ]
    out.append("")
    out.append(f"{len(rows)} loaded units listed.")
    return "\n".join(line.rstrip() for line in out)


def job_failure(verb: str, name: str, result: JobResult, st: UnitStatus) -> str:
    """systemctl's message when a job did not succeed."""
    if result is JobResult.DEPENDENCY:
        return (
            f"A dependency job for {name} failed. See 'pycoreos units journal {name}' for details."
        )
    reason = {
        "exit-code": "the control process exited with error code",
        "timeout": "a timeout was exceeded",
        "signal": "a fatal signal was delivered to the control process",
        "core-dump": "a fatal signal was delivered causing the control process to dump core",
        "start-limit-hit": "of unavailable resources or another system error",
        "resources": "of unavailable resources or another system error",
        "protocol": "the service did not take the steps required by its unit configuration",
    }.get(st.result, "the service failed")
    return (
        f"Job for {name} failed because {reason}.\n"
        f'See "pycoreos units status {name}" and "pycoreos units journal {name}" for details.'
    )
