"""Refresh the message catalogs after changing a visitor-facing text.

    .venv/bin/python scripts/update_catalogs.py

Extracts every text (pybabel extract -F babel.cfg) into a template and merges it into
each language's messages.po (pybabel update): new texts arrive with an empty
translation, which tests/test_i18n.py reports until someone writes it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "relay" / "locale"
PYBABEL = Path(sys.executable).parent / "pybabel"


def main() -> int:
    pot = Path(tempfile.mkdtemp()) / "messages.pot"
    subprocess.run(
        [str(PYBABEL), "extract", "-F", "babel.cfg", "--no-location", "--sort-output",
         "-o", str(pot), "."],
        cwd=ROOT, check=True,
    )  # fmt: skip
    for po in sorted(LOCALE.glob("*/LC_MESSAGES/messages.po")):
        subprocess.run(
            [str(PYBABEL), "update", "-i", str(pot), "-o", str(po), "-l", po.parts[-3],
             "--no-fuzzy-matching", "--ignore-obsolete", "--no-wrap"],
            cwd=ROOT, check=True,
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
