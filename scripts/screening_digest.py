"""A digest of everything screening says about a fixed set of texts, to prove a change of
the screening code (for speed, say) changes no result.

    .venv/bin/python scripts/screening_digest.py            # check against the stored digest
    .venv/bin/python scripts/screening_digest.py --write    # store the digest (before a change)
    .venv/bin/python scripts/screening_digest.py --dump F   # one line per text, to diff two runs

For every text: screen()'s verdict, reasons (categories and spans), resources flag and
language, and the features (every key, the words, the pairs and the identifier matches).
The texts: every message of tests/data/training/*.jsonl and of the shared corpus (when
there: it lives outside the repository); long texts cut from the training messages (one
window, two, many; past MAX_SCREENED); and training messages transformed (capitals,
fullwidth letters, accents apart, zero-width spaces, tabs and runs of spaces), which
take the slower folding and offset paths. One SHA-256 per set, in
tests/data/screening_digest.json; the stored file holds no message text.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import relay.screening as screening  # noqa: E402  (features_of: the training's door)
from tests.corpora import SHARED, TRAINING  # noqa: E402

DIGEST = ROOT / "tests" / "data" / "screening_digest.json"
LENGTHS = (100, 1_000, 2_000, 2_400, 2_401, 3_000, 5_000, 10_000, 20_000, 70_000)


def _messages(path: Path) -> list[str]:
    return [
        json.loads(line)["message"]
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# Transformations that must not change a verdict, and take other code paths.
_TRANSFORMS: dict[str, Callable[[str], str]] = {
    "upper": str.upper,
    "fullwidth": _fullwidth,
    "nfd": lambda t: unicodedata.normalize("NFD", t),
    "zero-width": lambda t: t.replace("e", "e\u200b"),
    "spaces": lambda t: t.replace(" ", "  \t").replace(".", ".\n\n"),
    "ligature": lambda t: t.replace("fi", "\ufb01"),
}


def text_sets() -> Iterator[tuple[str, list[str]]]:
    """(name, texts) of every set, in a fixed order."""
    everything: list[str] = []  # the training messages: in every checkout, unlike the shared corpus
    for path in TRAINING:
        messages = _messages(path)
        everything += messages
        yield path.stem, messages
    if SHARED.exists():
        yield "shared_corpus", _messages(SHARED)
    joined = " ".join(everything)
    for length in LENGTHS:
        count = 40 if length <= 10_000 else 4
        step = max(1, (len(joined) - length) // count)
        yield f"long_{length}", [joined[i * step : i * step + length] for i in range(count)]
    for name, transform in _TRANSFORMS.items():
        yield f"transformed_{name}", [transform(m) for m in everything[::7]]


def record(text: str, lexicon: Any, code: Any) -> str:
    """Everything screening (``code``: relay.screening) says
    about ``text``, as one canonical line (no text in it but the features' own words,
    and only ever hashed or dumped locally)."""
    result = code.screen(text, lexicon)
    features = code.features_of(text, lexicon)
    return json.dumps(
        [
            result.verdict,
            result.show_crisis_resources,
            result.language,
            [[r.category, r.start, r.end, r.field] for r in result.reasons],
            sorted(features.keys),
            sorted(features.words),
            sorted(features.pairs),
            [[m.category, m.start, m.end] for m in features.identifiers],
        ],
        ensure_ascii=True,
    )


def digests(code: Any, dump: Path | None = None) -> dict[str, dict[str, object]]:
    lexicon = code.load_lexicon()
    out: dict[str, dict[str, object]] = {}
    lines: list[str] = []
    for name, texts in text_sets():
        sha = hashlib.sha256()
        for number, text in enumerate(texts):
            line = record(text, lexicon, code)
            sha.update(line.encode() + b"\n")
            if dump is not None:
                lines.append(f"{name}:{number}\t{line}")
        out[name] = {"texts": len(texts), "sha256": sha.hexdigest()}
    if dump is not None:
        dump.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help="store the digest")
    parser.add_argument("--dump", type=Path, help="also write one line per text here")
    args = parser.parse_args(argv)
    found = digests(screening, args.dump)
    if args.write:
        DIGEST.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        total = sum(int(str(d["texts"])) for d in found.values())
        print(f"wrote {DIGEST.name}: {len(found)} sets, {total} texts")
        return 0
    stored = json.loads(DIGEST.read_text(encoding="utf-8"))
    differ = sorted(n for n in stored.keys() | found.keys() if stored.get(n) != found.get(n))
    # The shared corpus lives outside the repository: a machine without it checks the rest.
    if "shared_corpus" not in found and differ == ["shared_corpus"]:
        differ = []
        print("shared corpus not found: checked the other sets")
    for name in differ:
        print(f"differs: {name} (stored {stored.get(name)}, now {found.get(name)})")
    print("screening digest matches" if not differ else f"{len(differ)} sets differ")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())
