# Helpers for the strata CLI tests.  A test script is run as
#   bash SCRIPT STRATA_BINARY TMP_ROOT [extra args]
# and sources this file, which creates a scratch directory $WORK under
# TMP_ROOT (deleted on exit) and sets STRATA_DATA to a database inside it.

set -euo pipefail

STRATA=$1
TMP_ROOT=${2:-${TMPDIR:-/tmp}}
mkdir -p "$TMP_ROOT"
WORK=$(mktemp -d "$TMP_ROOT/strata-cli.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export STRATA_DATA="$WORK/data"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# run ARGS...: runs strata, which must succeed; stdout goes to $WORK/out.
run() {
  local rc=0
  "$STRATA" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  if [ "$rc" -ne 0 ]; then
    fail "strata $* exited $rc: $(cat "$WORK/err")"
  fi
}

# run_fails CODE PATTERN ARGS...: runs strata, which must exit with CODE
# and print exactly one stderr line that starts with "strata: " and
# contains PATTERN (a fixed string).
run_fails() {
  local code=$1 pattern=$2 rc=0
  shift 2
  "$STRATA" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [ "$rc" -eq "$code" ] ||
    fail "strata $*: exit $rc, expected $code; stderr: $(cat "$WORK/err")"
  local lines
  lines=$(wc -l <"$WORK/err")
  [ "$lines" -eq 1 ] ||
    fail "strata $*: $lines stderr lines, expected 1: $(cat "$WORK/err")"
  grep -q '^strata: ' "$WORK/err" ||
    fail "strata $*: stderr does not start with 'strata: ': $(cat "$WORK/err")"
  grep -qF -- "$pattern" "$WORK/err" ||
    fail "strata $*: stderr lacks '$pattern': $(cat "$WORK/err")"
}

# expect_out TEXT: stdout of the last run equals TEXT exactly.
expect_out() {
  local expected=$1
  [ "$(cat "$WORK/out")" = "$expected" ] ||
    fail "output differs; expected:
$expected
got:
$(cat "$WORK/out")"
}

# expect_line PATTERN: some stdout line of the last run contains PATTERN.
expect_line() {
  grep -qF -- "$1" "$WORK/out" ||
    fail "output lacks '$1':
$(cat "$WORK/out")"
}

# column N: prints field N of each stdout line of the last run.
column() {
  awk -v n="$1" '{ print $n }' "$WORK/out"
}

# Binary writers.  f32 M SHIFT prints the little-endian float32 of
# M / 2^SHIFT for 0 <= M < 2^24, exactly.
le32() {
  local v=$(( $1 & 0xFFFFFFFF ))
  printf "\\x$(printf %02x $((v & 255)))\\x$(printf %02x $(((v >> 8) & 255)))"
  printf "\\x$(printf %02x $(((v >> 16) & 255)))\\x$(printf %02x $(((v >> 24) & 255)))"
}

be32() {
  local v=$(( $1 & 0xFFFFFFFF ))
  printf "\\x$(printf %02x $(((v >> 24) & 255)))\\x$(printf %02x $(((v >> 16) & 255)))"
  printf "\\x$(printf %02x $(((v >> 8) & 255)))\\x$(printf %02x $((v & 255)))"
}

f32() {
  local m=$1 shift_by=${2:-0}
  if [ "$m" -eq 0 ]; then
    le32 0
    return
  fi
  local e=0
  while [ $((m >> (e + 1))) -gt 0 ]; do e=$((e + 1)); done
  local mantissa=$(( (m - (1 << e)) << (23 - e) ))
  le32 $(( ((127 + e - shift_by) << 23) | mantissa ))
}
