#!/usr/bin/env bash
# Build sherpa_rim/emission/data/cie_chianti.npz from CHIANTI 9.0.1 with fiasco 0.6.2.
#
#   bash tools/build_emission_table.sh [--chianti DIR] [--jobs N]
#
# fiasco 0.6.2 pins numpy<2.3, so it lives in its own virtual environment
# (~/.cache/sherpa_rim/fiasco-venv), never in the runtime one. The build is
# resumable: per-ion results are cached in ~/.cache/sherpa_rim/cie-build/ions.
# About 15 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
FV=${SHERPA_RIM_FIASCO_VENV:-$HOME/.cache/sherpa_rim/fiasco-venv}
if [ ! -x "$FV/bin/python" ]; then
  python3 -m venv "$FV"
  "$FV/bin/python" -m pip install -q "fiasco==0.6.2"
fi
exec "$FV/bin/python" tools/build_emission_table.py --chianti ../shared/data/chianti "$@"
