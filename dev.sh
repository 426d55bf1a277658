#!/usr/bin/env bash
# One-stop set-up for sherpa_rim on a fresh Debian/Ubuntu machine.
#
#   ./dev.sh demo            install what is missing, then run the demo
#   ./dev.sh test [ARGS]     install what is missing, then run the test suite (pytest ARGS)
#   ./dev.sh env             install only; print the virtual environment's path
#   ./dev.sh bench NAME      install, then run benchmarks/NAME.py
#
# Installs: Sherpa's build dependencies (bison flex libfftw3-dev pkg-config,
# through apt-get), a virtual environment ($SHERPA_RIM_VENV, default
# ~/.cache/sherpa_rim/venv) with Sherpa (built from source: 2-4 min the first
# time), ONNX Runtime (CPU, or GPU where nvidia-smi answers), and this
# package in editable mode. Later runs reuse all of it.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV=${SHERPA_RIM_VENV:-$HOME/.cache/sherpa_rim/venv}
PY=${PYTHON:-python3}
SHERPA_VERSION=${SHERPA_VERSION:-4.19.0}
say() { printf '[dev.sh] %s\n' "$*" >&2; }

apt_deps() {
  local missing=()
  for p in bison flex libfftw3-dev pkg-config; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Sherpa build dependencies: ${missing[*]}"
  local SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
}

venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment $VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip wheel setuptools
  fi
  if ! "$VENV/bin/python" -c "import sherpa" >/dev/null 2>&1; then
    apt_deps
    say "building Sherpa $SHERPA_VERSION from source (2-4 minutes, once)"
    "$VENV/bin/python" -m pip install -q "numpy" "sherpa==$SHERPA_VERSION"
  fi
  local extra=cpu
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then extra=gpu; fi
  # reinstall only when pyproject.toml or the checkout's path changed
  local stamp="$VENV/.sherpa_rim-$(printf '%s' "$ROOT$(cat pyproject.toml)$extra" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    say "installing sherpa_rim[$extra,test,training] (editable; torch==2.13.0 CPU) into $VENV"
    if [ "$extra" = gpu ]; then "$VENV/bin/python" -m pip uninstall -q -y onnxruntime || true; fi
    # setuptools' build-time notices (editable installs) are not the user's business
    PYTHONWARNINGS=ignore "$VENV/bin/python" -m pip install -q -e ".[$extra,test,training]"
    rm -f "$VENV"/.sherpa_rim-*
    touch "$stamp"
  fi
}

cmd=${1:-help}; shift || true
case "$cmd" in
  demo)  venv; exec "$VENV/bin/sherpa-rim" demo "$@" ;;
  test)  venv; cd "$ROOT"
         set +e; "$VENV/bin/python" -m pytest "$@"; rc=$?; set -e
         # exit 5 = no tests collected (e.g. a -k that matched none): not a failure of the code
         [ $rc -eq 5 ] && { say "no tests collected"; exit 0; }
         exit $rc ;;
  env)   venv; echo "$VENV" ;;
  bench) venv; name=${1:?benchmark name}; shift; exec "$VENV/bin/python" "benchmarks/$name.py" "$@" ;;
  *) sed -n '2,12p' "$0"; exit 1 ;;
esac
