"""Durability soak: N acknowledged submissions while the service is SIGKILLed K times,
the SMTP server is down for part of the run and answers 451 to a fifth of the rest.
Prints what was sent, acknowledged, delivered, lost and duplicated.

    .venv/bin/python bench/crash_soak.py [--submissions 2000] [--kills 6]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import crash_soak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submissions", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--defer", type=float, default=0.2, help="share of DATA answered 451")
    parser.add_argument("--posters", type=int, default=16, help="concurrent posting threads")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        r = crash_soak(Path(tmp), submissions=args.submissions, kills=args.kills,
                       defer_ratio=args.defer, posters=args.posters, drain_timeout=300)  # fmt: skip
    rows = [
        ("posts tried", r.sent),
        ("acknowledged (202)", r.acknowledged),
        ("SIGKILLs of the service", r.kills),
        ("451 answers from the sink", r.deferred_by_sink),
        ("acknowledged and delivered", r.delivered),
        ("acked, not in the outbox after a kill", len(r.missing_after_kill)),
        ("acknowledged but lost", len(r.lost)),
        ("duplicates delivered", r.duplicates),
        ("  of which share their Message-ID", r.duplicates_with_same_message_id),
        ("backlog drained after the run (s)", r.drain_seconds),
        ("whole run (s)", r.seconds),
    ]
    for name, value in rows:
        print(f"{name:<36}{value:>10}")
    sys.exit(1 if r.lost or r.missing_after_kill else 0)


if __name__ == "__main__":
    main()
