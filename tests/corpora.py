"""Where the labelled text lives, for the tests, the screening benchmark and the digest
script: the training files of this repository, and the shared corpus (the development
check, never trained on) in ``../shared`` beside the checkout."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAINING = sorted((ROOT / "tests" / "data" / "training").glob("*.jsonl"))
SHARED = ROOT.parent / "shared" / "corpus" / "contact_messages.jsonl"
if not SHARED.exists():  # a git worktree sits deeper than ../shared
    SHARED = Path("/work/shared/corpus/contact_messages.jsonl")
