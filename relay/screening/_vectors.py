"""Word vectors: what a message means, beside the words it uses.

The file (relay/screening/word_vectors.tsv.gz, written by scripts/build_word_vectors.py)
gives each folded word a short vector from a multilingual sentence encoder, already
weighted by how rare the word is; words of like meaning get like vectors across English
and Spanish. meaning() sums the vectors of a message's distinct words and scales the sum
to length SCALE: one dict lookup per word and one gather, about 10 us a message. The
network reads the result as DIMS more inputs (relay/screening/_model.py).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

import numpy as np
import numpy.typing as npt

from relay.screening._lexicon import LexiconError

DIMS = 64
SCALE = 3.0  # length of a message's vector (cross-validation: 3 better than 1 or 6)
VECTORS_FILE = Path(__file__).resolve().parent / "word_vectors.tsv.gz"


@dataclass(frozen=True, eq=False)
class WordVectors:
    row: dict[str, int] = field(repr=False)
    # (words, DIMS) as stored: signed bytes, a vector times 127 (a scale the sum's
    # normalisation removes), a quarter of the memory of floats
    table: npt.NDArray[np.int8] = field(repr=False)

    def meaning(self, words: set[str]) -> npt.NDArray[np.float32]:
        """The scaled sum of the vectors of ``words`` (zeros when none is known).
        Rows summed in sorted order: a float sum depends on its order, a set's order on
        the process's hash seed."""
        found = np.fromiter(map(self.row.get, words, repeat(-1)), np.intp, len(words))
        rows = np.sort(found[found >= 0])
        total: npt.NDArray[np.float32] = self.table.take(rows, axis=0).sum(axis=0, dtype=np.float32)
        length = float(np.sqrt(total @ total))
        if length == 0.0:
            return np.zeros(DIMS, dtype=np.float32)
        return total * np.float32(SCALE / length)


def load_vectors(path: Path = VECTORS_FILE) -> WordVectors:
    """Read a vectors file; raises LexiconError naming the file (and line), never a word."""
    try:
        raw = path.read_bytes()
        text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        raise LexiconError(f"{path.name}: cannot be read ({type(exc).__name__})") from None
    dims = 0
    keys: list[str] = []
    stored = bytearray()
    for number, line in enumerate(io.StringIO(text), 1):
        line = line.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        word, tab, encoded = line.partition("\t")
        try:
            if word == "@dims":
                dims = int(encoded)
                if dims != DIMS:
                    raise ValueError
                continue
            vector = base64.b64decode(encoded, validate=True)
            if not tab or not word or dims == 0 or len(vector) != dims:
                raise ValueError
        except (ValueError, binascii.Error):
            raise LexiconError(
                f"{path.name}:{number}: expected '@dims<TAB>{DIMS}' first, then "
                f"'word<TAB>base64 of {DIMS} bytes'"
            ) from None
        keys.append(word)
        stored += vector
    if not keys:
        raise LexiconError(f"{path.name}: no word vectors")
    table = np.frombuffer(bytes(stored), dtype=np.int8).reshape(len(keys), dims)
    return WordVectors(row={k: i for i, k in enumerate(keys)}, table=table)
