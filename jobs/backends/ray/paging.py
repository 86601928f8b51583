"""Listing Ray jobs: Ray answers every job at once, so the filter, the order (newest first) and the pages are ours.

A cursor is the position after the last job of a page (its creation time and id), not the id alone, so a job that
ends or vanishes between two pages does not break paging.
"""

from __future__ import annotations

from ...core.models import InvalidJobSpec, JobInfo


def matches(have: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(have.get(key) == value for key, value in wanted.items())


def order(info: JobInfo) -> tuple[float, str]:
    return (info.created_at.timestamp() if info.created_at else 0.0, info.id)


def cursor_after(info: JobInfo) -> str:
    created, job_id = order(info)
    return f"{created!r}:{job_id}"


def parse_cursor(cursor: str | None) -> tuple[float, str] | None:
    if cursor is None:
        return None
    created, _, job_id = cursor.partition(":")
    try:
        return float(created), job_id
    except ValueError:
        raise InvalidJobSpec(f"{cursor!r} is not a cursor from list_jobs; call list_jobs without a cursor to start "
                             "again.", field="cursor") from None
