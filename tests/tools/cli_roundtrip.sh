#!/usr/bin/env bash
# Round trip through every strata command on small generated files whose
# nearest neighbours are known: 100 points (i, 1, 0, 0) under Euclid.
. "$(dirname "$0")/lib.sh"

# base.fvecs: point i is (i, 1, 0, 0).
for i in $(seq 0 99); do
  le32 4; f32 "$i"; f32 1; f32 0; f32 0
done >"$WORK/base.fvecs"

# queries.fvecs: query j is (10j + 0.25, 1, 0, 0); its 3 nearest points
# are 10j, 10j+1 and 10j-1 (distances 0.25, 0.75, 1.25), or 0, 1, 2 for
# j = 0.
for j in $(seq 0 4); do
  le32 4; f32 $((40 * j + 1)) 2; f32 1; f32 0; f32 0
done >"$WORK/queries.fvecs"
{
  le32 3; le32 0; le32 1; le32 2
  for j in 1 2 3 4; do le32 3; le32 $((10 * j)); le32 $((10 * j + 1)); le32 $((10 * j - 1)); done
} >"$WORK/truth.ivecs"
# The same truth with one wrong neighbour (99) in query 0: recall 14/15.
{
  le32 3; le32 0; le32 1; le32 99
  for j in 1 2 3 4; do le32 3; le32 $((10 * j)); le32 $((10 * j + 1)); le32 $((10 * j - 1)); done
} >"$WORK/truth_off.ivecs"

# Help, for the tool and for every command.
run --help
expect_line "import NAME FILE"
for command in create import search get scroll count delete info drop; do
  run "$command" --help
  expect_line "usage: strata $command"
  expect_line "--data DIR"
done
run --version
grep -q '^strata [0-9]' "$WORK/out" || fail "--version: $(cat "$WORK/out")"
run import --help
expect_line "--format F"
run search --help
expect_line "--payload-field"

# Create, import, count, info.
run create vecs --dim 4 --distance Euclid
expect_out "created collection \"vecs\""
run import vecs "$WORK/base.fvecs" --format fvecs --batch 30
grep -q '^imported 100 points in .* s (.*/s)$' "$WORK/out" ||
  fail "import summary: $(cat "$WORK/out")"
[ ! -s "$WORK/err" ] || fail "import wrote to stderr, which is not a terminal"
run count vecs
expect_out "100"

# On a terminal, stderr shows the bar: percentage, count, rate and ETA.
if command -v script >/dev/null; then
  script -qec "'$STRATA' import tty '$WORK/base.fvecs' --format fvecs --create --distance Dot" \
    /dev/null >"$WORK/tty" </dev/null
  grep -q 'points  [0-9]*/s  ETA' "$WORK/tty" || fail "no progress bar: $(cat -v "$WORK/tty")"
  grep -q '100/100 points' "$WORK/tty" || fail "bar count: $(cat -v "$WORK/tty")"
  grep -q 'imported 100 points' "$WORK/tty" || fail "no summary on a terminal"
fi
run info
expect_line "$(printf 'vecs\t100 points')"
run info vecs
expect_out "collection: vecs
points: 100
indexed vectors: 100
vector (unnamed): dim 4, distance Euclid, hnsw m 16, ef_construct 100, full_scan_threshold_kb 10000"

# HNSW options at creation are stored and shown.
run create tuned --dim 3 --distance Dot --m 8 --ef-construct 40 \
  --full-scan-threshold-kb 1
run info tuned
expect_line "vector (unnamed): dim 3, distance Dot, hnsw m 8, ef_construct 40, full_scan_threshold_kb 1"
run_fails 2 "--m" create bad --dim 3 --distance Dot --m 1
run drop tuned

# Search by literal vector: known order and distances.
run search vecs --vector 10.25,1,0,0 --limit 3
expect_out "1 10 0.25
2 11 0.75
3 9 1.25"

# Search like a point: its neighbours at distance 1 and 2, itself left out.
run search vecs --like 50 --limit 4
[ "$(column 2 | sort -n | tr '\n' ' ')" = "48 49 51 52 " ] ||
  fail "--like 50 ids: $(cat "$WORK/out")"
[ "$(column 1 | tr '\n' ' ')" = "1 2 3 4 " ] || fail "--like ranks"
[ "$(column 3 | tr '\n' ' ')" = "1 1 2 2 " ] || fail "--like scores"

# Queries from a file, with recall against ground truth.
run search vecs --queries "$WORK/queries.fvecs" --format fvecs --limit 3
expect_out "query 0
1 0 0.25
2 1 0.75
3 2 1.75"
run search vecs --queries "$WORK/queries.fvecs" --format fvecs --first 5 \
  --limit 3 --truth "$WORK/truth.ivecs"
expect_line "query 4"
expect_line "1 40 0.25"
expect_line "recall@3: 1.0000 over 5 queries"
run search vecs --queries "$WORK/queries.fvecs" --format fvecs --first 5 \
  --limit 3 --truth "$WORK/truth_off.ivecs" --quiet
expect_out "recall@3: 0.9333 over 5 queries"

# Get prints JSON; vectors on request.
run get vecs 3 --with-vectors
expect_out '{"id":3,"payload":{},"vector":[3,1,0,0]}'
run get vecs 7 3
expect_out '{"id":7,"payload":{}}
{"id":3,"payload":{}}'

# Scroll pages through ids in order.
run scroll vecs --limit 3
expect_out '{"id":0,"payload":{}}
{"id":1,"payload":{}}
{"id":2,"payload":{}}
{"next_page_offset":3}'
run scroll vecs --offset 98
expect_out '{"id":98,"payload":{}}
{"id":99,"payload":{}}'

# Gzip input, --create, --ids-from, --limit and small batches.
gzip -c "$WORK/base.fvecs" >"$WORK/base.fvecs.gz"
run import vecs2 "$WORK/base.fvecs.gz" --format fvecs --create \
  --distance Euclid --ids-from 1000 --limit 50 --batch 7 --wait
expect_line "created collection \"vecs2\""
expect_line "imported 50 points"
run count vecs2
expect_out "50"
run get vecs2 1000 1049 --with-vectors
expect_out '{"id":1000,"payload":{},"vector":[0,1,0,0]}
{"id":1049,"payload":{},"vector":[49,1,0,0]}'
run_fails 1 "point 1050 not found in collection \"vecs2\"" get vecs2 1050

# A pipe cannot be rewound or sized; plain and gzip input still import.
run import piped <(cat "$WORK/base.fvecs") --format fvecs --create --distance Euclid
expect_line "imported 100 points"
run import piped <(gzip -c "$WORK/base.fvecs") --format fvecs --ids-from 100
expect_line "imported 100 points"
run get piped 199 --with-vectors
expect_out '{"id":199,"payload":{},"vector":[99,1,0,0]}'

# Payloads paired by line, printed whole or by field.
for i in $(seq 0 99); do
  echo "{\"i\": $i, \"text\": \"point\\tnumber $i\"}"
done >"$WORK/payloads.jsonl"
run import vecs3 "$WORK/base.fvecs" --format fvecs --create --distance Euclid \
  --payloads "$WORK/payloads.jsonl"
run search vecs3 --vector 10.25,1,0,0 --limit 2 --payload-field text
expect_out "1 10 0.25 point number 10
2 11 0.75 point number 11"
run search vecs3 --vector 10.25,1,0,0 --limit 1 --with-payload
expect_out '1 10 0.25 {"i": 10, "text": "point\tnumber 10"}'
run search vecs3 --vector 10.25,1,0,0 --limit 1 --payload-field missing
expect_out "1 10 0.25 -"

# JSON lines: ids, UUIDs and payloads kept byte for byte.
cat >"$WORK/points.jsonl" <<'JSONL'
{"id": 7, "vector": [1, 0, 0], "payload": {"big": 123456789012345678901234567890, "n": 9007199254740993}}
{"id": "550E8400-E29B-41D4-A716-446655440000", "vector": [0, 1, 0], "payload": {"tag": "uuid"}}

{"id": 18446744073709551615, "vector": [0, 0, 1]}
JSONL
run import docs "$WORK/points.jsonl" --format jsonl --create --distance Dot
expect_line "imported 3 points"
run get docs 7
expect_out '{"id":7,"payload":{"big": 123456789012345678901234567890, "n": 9007199254740993}}'
run get docs 550e8400-e29b-41d4-a716-446655440000 18446744073709551615
expect_out '{"id":"550e8400-e29b-41d4-a716-446655440000","payload":{"tag": "uuid"}}
{"id":18446744073709551615,"payload":{}}'
run search docs --vector 0,0.5,0.1 --limit 2
expect_out "1 550e8400-e29b-41d4-a716-446655440000 0.5
2 18446744073709551615 0.1"

# IDX (as in MNIST): three 2x2 images of unsigned bytes become 4-d vectors.
{
  be32 0x00000803; be32 3; be32 2; be32 2
  printf '\x00\x01\x02\x03\x0a\x0b\x0c\x0d\xff\xfe\xfd\xfc'
} | gzip -c >"$WORK/images.idx.gz"
run import images "$WORK/images.idx.gz" --format idx --create --distance Manhattan
expect_line "imported 3 points"
run get images 2 --with-vectors
expect_out '{"id":2,"payload":{},"vector":[255,254,253,252]}'

# Raw queries take their dim from the collection when --dim is absent.
{ f32 41 2; f32 1; f32 0; f32 0; } >"$WORK/query.raw"
run search vecs --queries "$WORK/query.raw" --format raw --limit 1
expect_out "query 0
1 10 0.25"

# Named vectors: created explicitly, filled from jsonl and from fvecs.
run create multi --vector img:4:Euclid --vector txt:2:Cosine
run info multi
expect_line 'vector "img": dim 4, distance Euclid'
expect_line 'vector "txt": dim 2, distance Cosine'
cat >"$WORK/named.jsonl" <<'JSONL'
{"id": 1, "vector": {"img": [1, 1, 0, 0], "txt": [1, 0]}}
{"id": 2, "vector": {"txt": [0, 1]}}
JSONL
run import multi "$WORK/named.jsonl" --format jsonl
run search multi --vector 0,1 --vector-name txt --limit 2
expect_out "1 2 1
2 1 0"
run import multi "$WORK/base.fvecs" --format fvecs --vector-name img \
  --ids-from 100 --limit 3
run search multi --vector 1,1,0,0 --vector-name img --limit 2
expect_out "1 1 0
2 101 0"
run_fails 1 "choose one with --vector-name" search multi --vector 0,1
run search multi --queries "$WORK/named.jsonl" --format jsonl --first 2 \
  --vector-name txt --limit 1
expect_out "query 0
1 1 1
query 1
1 2 1"

# Delete and drop.
run delete vecs 1 2 1000
expect_out "deleted 2 of 3 points"
run count vecs
expect_out "98"
run drop vecs
expect_out "dropped collection \"vecs\""
run info
if grep -q '^vecs	' "$WORK/out"; then fail "vecs still listed"; fi
run_fails 1 "vecs" count vecs

# --data takes precedence over STRATA_DATA.
run create elsewhere --dim 2 --distance Dot --data "$WORK/other"
run info --data "$WORK/other"
expect_out "$(printf 'elsewhere\t0 points')"
run info
if grep -q elsewhere "$WORK/out"; then fail "--data ignored"; fi

echo "cli round trip passed"
