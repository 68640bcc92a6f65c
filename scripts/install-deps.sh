#!/usr/bin/env bash
# Installs every Debian package Starling needs to build, test and run its demo.
# Idempotent: does nothing when all are present. Uses sudo when not root.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  g++ clang-14 lld-14 libclang-rt-14-dev clang-format-14
  libboost1.81-dev libsodium-dev libssl-dev libprotobuf-dev protobuf-compiler
  libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev nlohmann-json3-dev
  libsqlite3-dev libzstd-dev libpng-dev libqrencode-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  nodejs npm
  iproute2 nftables iperf3 procps zbar-tools   # zbarimg reads back the QR codes in tests
  cyclonedds-tools mosquitto libmosquitto-dev   # baselines of bench/data_side_by_side.sh
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# nodejs/npm may come from elsewhere than apt (the machine image): accept them if on PATH.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do
    [[ $p == nodejs || $p == npm ]] || filtered+=("$p")
  done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if ((${#missing[@]} == 0)); then
  echo "install-deps: all packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
