#!/usr/bin/env bash
# The README's first command: installs what is missing, builds Strata,
# imports two real datasets into a local data directory, searches them,
# and then serves them over gRPC with `strata serve` on 127.0.0.1:6334
# in the foreground until Ctrl-C.
#   - Fashion-MNIST (Debian package dataset-fashion-mnist): 60,000 images
#     of 784 pixels, Euclid distance, queried with test-set images.
#   - 778 SAP Fiori documentation chunks with all-MiniLM-L6-v2 embeddings
#     (tests/data/fiori-docs), Cosine distance, payloads with their text.
# The data directory is $STRATA_DATA, else strata-data in the checkout.
# Importing is skipped for a collection that already exists, so running
# it again only searches and serves.
#
# usage: scripts/demo.sh [--no-serve] [--port N]
#   --no-serve   stop after the searches instead of starting the server
#   --port N     serve on 127.0.0.1 port N (default $STRATA_PORT, else 6334)
set -euo pipefail
serve=1
port=${STRATA_PORT:-6334}
while [[ $# -gt 0 ]]; do
  arg=$1
  shift
  case $arg in
    --no-serve) serve=0 ;;
    --port)
      value=${1-}
      if [[ ! $value =~ ^[0-9]{1,5}$ ]] || ((10#$value < 1 || 10#$value > 65535)); then
        echo "demo.sh: --port '$value' is not a port from 1 to 65535" >&2
        exit 2
      fi
      port=$((10#$value))
      shift
      ;;
    -h | --help)
      sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
      exit 0
      ;;
    *)
      echo "demo.sh: unknown option $arg (see --help)" >&2
      exit 2
      ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
"$root/scripts/install-deps.sh"

cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$(nproc)" --target strata
strata=$root/build/release/tools/strata
export STRATA_DATA=${STRATA_DATA:-$root/strata-data}
fmnist=/usr/share/datasets/fashion-mnist

has_collection() {
  "$strata" info "$1" >/dev/null 2>&1
}

echo "== data directory: $STRATA_DATA"
if ! has_collection fashion-mnist; then
  echo "== importing Fashion-MNIST (60,000 x 784, Euclid, class as payload)"
  # The label file is IDX too: an 8-byte header, then one byte per image.
  labels=$(mktemp)
  zcat "$fmnist/train-labels-idx1-ubyte.gz" | tail -c +9 |
    od -An -v -tu1 -w1 | awk '{print "{\"label\": " $1 "}"}' >"$labels"
  "$strata" import fashion-mnist "$fmnist/train-images-idx3-ubyte.gz" \
    --format idx --payloads "$labels" --create --distance Euclid
  rm -f "$labels"
fi
if ! has_collection fiori-docs; then
  echo "== importing the Fiori documentation chunks (778 x 384, Cosine)"
  "$strata" import fiori-docs tests/data/fiori-docs/embeddings.bin \
    --format raw --dim 384 --payloads tests/data/fiori-docs/records.jsonl \
    --create --distance Cosine
fi

echo
echo "== strata info"
"$strata" info
echo
echo "== 5 nearest training images to each of the first 3 test images"
echo "   (their classes are 9, 2 and 1; the last column is each hit's class)"
"$strata" search fashion-mnist --queries "$fmnist/t10k-images-idx3-ubyte.gz" \
  --format idx --first 3 --limit 5 --payload-field label
echo
echo "== documentation chunk 5 (first 200 characters)"
"$strata" get fiori-docs 5 | cut -c 1-200
echo
echo "== chunks nearest to chunk 5, by title"
"$strata" search fiori-docs --like 5 --limit 5 --payload-field title

if [[ $serve -eq 0 ]]; then
  exit 0
fi
echo
echo "== serving $STRATA_DATA over gRPC (Qdrant's API) on 127.0.0.1:$port;"
echo "   Ctrl-C stops it.  Query it from another terminal with:"
# Debian's python3-grpcio is installed for /usr/bin/python3, which may
# not be the first python3 on PATH.
echo "   /usr/bin/python3 $root/scripts/query_demo.py --address 127.0.0.1:$port"
exec "$strata" serve --data "$STRATA_DATA" --host 127.0.0.1 --port "$port"
