#!/usr/bin/env bash
# Imports Fashion-MNIST with the CLI, then checks 100 queries against an
# exact computation.  Arguments: STRATA_BIN CHECK_BIN DATASET_DIR TMP_DIR
set -euo pipefail
strata=$1 check=$2 dataset=$3 tmp=$4
train=$dataset/train-images-idx3-ubyte.gz
queries=$dataset/t10k-images-idx3-ubyte.gz
if [[ ! -r $train || ! -r $queries ]]; then
  echo "Fashion-MNIST not found in $dataset; install the Debian package" \
       "dataset-fashion-mnist (scripts/install-deps.sh does)" >&2
  exit 1
fi
data=$(mktemp -d "$tmp/fashion-mnist-XXXXXX")
trap 'rm -rf "$data"' EXIT
"$strata" import fmnist "$train" --format idx --create --distance Euclid \
  --data "$data"
"$check" "$data" fmnist "$train" "$queries" 100
