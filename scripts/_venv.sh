# Sourced by scripts/serve and scripts/test: find Python 3.11+, make .venv, install.
# Usage: RELAY_EXTRAS=dev . scripts/_venv.sh   (a variable, not an argument: a sourced
# script sees its caller's arguments, which belong to serve or pytest)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

find_python() {
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
    echo "contact-relay needs Python 3.11 or newer (set PYTHON=/path/to/python3.x)" >&2
    exit 1
}

extras="${RELAY_EXTRAS:-}"
stamp=".venv/.installed${extras:+-$extras}"
if [ ! -x .venv/bin/python ]; then
    "$(find_python)" -m venv .venv
fi
# Reinstall only when the dependency pins changed since the last install.
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check \
        -c constraints.txt -e ".${extras:+[$extras]}"
    touch "$stamp"
fi
