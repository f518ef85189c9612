#!/usr/bin/env bash
# Installs every Debian package Bastion needs to build, run and test.
# Idempotent: installs only what is missing, and never starts the services a
# package would start on its own (Orthanc, PostgreSQL): tests start their own
# on loopback.
#
# Usage: scripts/install-deps.sh [build|serve|test|bench]   (default: test)
set -euo pipefail

profile="${1:-test}"

build_pkgs=(
  build-essential cmake pkg-config
  libdcmtk-dev libssl-dev libsodium-dev libsqlite3-dev
  nlohmann-json3-dev libtomlplusplus-dev libcli11-dev libspdlog-dev libfmt-dev
  libboost-dev               # Boost.Beast/Asio: the HTTPS server
  libgtest-dev libgmock-dev  # the build includes the unit tests
  libcurl4-openssl-dev       # bastion scan: the web checks (W1-W7) speak HTTP(S) through libcurl
)
test_pkgs=(
  dcmtk            # storescu, echoscu, findscu, ... : real peers nobody here wrote
  python3-pydicom  # its data/ folder is our real-world sample corpus
  python3 python3-cryptography openssl procps iproute2 util-linux  # util-linux: unshare, nsenter for the 0.0.0.0 tests
  orthanc orthanc-dicomweb curl  # bastion scan's tests scan a real Orthanc (started by the tests, never as a service); curl asks it what it holds
  chromium         # the web UI and viewer end-to-end test (headless, driven by npm playwright-core)
)
bench_pkgs=(
  libbenchmark-dev orthanc util-linux
  orthanc-dicomweb  # bench/dicomweb.sh: Orthanc's QIDO-RS/WADO-RS, the comparison
  sqlite3           # bench/query.sh, bench/dicomweb.sh: count a cached catalog read-only
)

wanted=("${build_pkgs[@]}")
case "$profile" in
  build) ;;
  serve) wanted+=(dcmtk openssl) ;;  # openssl: install-viewer.sh checks the viewer's integrity hash
  test) wanted+=("${test_pkgs[@]}") ;;
  bench) wanted+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "usage: $0 [build|serve|test|bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
# Keep packaged services (orthanc) from starting and listening on every
# interface: a policy-rc.d that denies every start, only while we install.
policy=/usr/sbin/policy-rc.d
own_policy=0
cleanup() { if [ "$own_policy" = 1 ]; then $sudo rm -f "$policy"; fi; }
trap cleanup EXIT

install_apt() {
  echo "install-deps: installing $*" >&2
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    own_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! $sudo apt-get install -y -q --no-install-recommends "$@"; then
    $sudo apt-get update -q
    $sudo apt-get install -y -q --no-install-recommends "$@"
  fi
}

if [ ${#missing[@]} -gt 0 ]; then install_apt "${missing[@]}"; fi

# Node.js and npm (from Debian when the machine has none): the OHIF viewer
# comes from npm (scripts/install-viewer.sh: its pinned, prebuilt dist/), and
# the tests drive npm packages nobody here wrote (dicomweb-client, and
# playwright-core for Chromium) from tests/clients/package-lock.json.
root="$(cd "$(dirname "$0")/.." && pwd)"
case "$profile" in
  serve|test|bench)
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then install_apt nodejs npm; fi
    "$root/scripts/install-viewer.sh"
    ;;
esac
case "$profile" in
  test|bench)
    clients="$root/tests/clients"
    stamp="$clients/node_modules/.installed-lock"
    if ! cmp -s "$clients/package-lock.json" "$stamp" 2>/dev/null; then
      echo "install-deps: npm ci in tests/clients" >&2
      (cd "$clients" && npm ci --no-audit --no-fund --loglevel=error)
      cp "$clients/package-lock.json" "$stamp"
    fi
    ;;
esac
