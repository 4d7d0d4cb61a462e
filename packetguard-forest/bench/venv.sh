#!/usr/bin/env bash
# Makes sure the peer forests' virtualenv exists (scikit-learn, isotree, numpy, pandas from
# PyPI, created on first use) and prints its python. Used by run.sh and by `cargo xtask eval`.
# Argument: the cargo target directory the virtualenv lives under.
set -euo pipefail
venv="$1/forest-bench-venv"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c "import sklearn, isotree, pandas" 2>/dev/null; then
    echo "creating $venv (scikit-learn, isotree, numpy, pandas)" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip >&2
    "$venv/bin/pip" install --quiet scikit-learn isotree numpy pandas >&2
fi
echo "$venv/bin/python"
