"""Pieces of relay.pipeline tested on their own (the steps are tested through HTTP)."""

from __future__ import annotations

import re

from relay.pipeline import SubmissionIds, new_submission_id


def test_submission_ids_keep_the_shape_and_never_repeat_across_chunks() -> None:
    """Ids from the buffered source look like new_submission_id's and do not repeat,
    also past the refill of the random buffer."""
    ids = SubmissionIds()
    count = 3 * SubmissionIds.CHUNK // 5 + 7
    made = [ids.new(1_700_000_000.123) for _ in range(count)]
    shape = re.compile(r"[0-9a-f]{22}")
    assert all(shape.fullmatch(i) for i in made)
    assert len(set(made)) == count
    assert made[0][:12] == new_submission_id(1_700_000_000.123)[:12]


def test_submission_ids_sort_by_time() -> None:
    """A later post gets an id that sorts after an earlier one."""
    ids = SubmissionIds()
    assert ids.new(1_700_000_000.0) < ids.new(1_700_000_000.002)
