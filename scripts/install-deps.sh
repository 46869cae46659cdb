#!/usr/bin/env bash
# Installs the Debian packages Strata builds, tests and benchmarks with.
# Runs apt-get as root, or through sudo otherwise.  Safe to run again:
# packages already installed are left alone and nothing is downloaded.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  librocksdb-dev libjansson-dev libroaring-dev libsimde-dev zlib1g-dev
  dataset-fashion-mnist
  libfaiss-dev libhnswlib-dev libopenblas-dev
  libgrpc-dev libprotobuf-c-dev protobuf-c-compiler
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev python3-grpcio
  python3-protobuf
  openssl
)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null |
       grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null; then
  as_root=(sudo)
else
  echo "install-deps: missing packages ${missing[*]}, and this user is not" \
       "root and has no sudo; install them as root" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
"${as_root[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" \
  apt-get install -y -q --no-install-recommends "${missing[@]}"
