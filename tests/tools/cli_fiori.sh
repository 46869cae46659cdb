#!/usr/bin/env bash
# Imports the SAP Fiori documentation sample (778 chunks, 384-d
# all-MiniLM-L6-v2 embeddings, see tests/data/fiori-docs/README.md) and
# checks that nearest neighbours are topically related.
. "$(dirname "$0")/lib.sh"
DOCS=$3

run import docs "$DOCS/embeddings.bin" --format raw --dim 384 \
  --payloads "$DOCS/records.jsonl" --create --distance Cosine
expect_line 'created collection "docs"'
expect_line "imported 778 points"
run count docs
expect_out "778"

# Payloads are stored exactly as the lines of records.jsonl, including
# the last one, which has no newline.
run get docs 0
[ "$(cat "$WORK/out")" = "{\"id\":0,\"payload\":$(sed -n 1p "$DOCS/records.jsonl")}" ] ||
  fail "payload of point 0 differs from line 1"
run get docs 777
[ "$(cat "$WORK/out")" = "{\"id\":777,\"payload\":$(tail -n 1 "$DOCS/records.jsonl")}" ] ||
  fail "payload of point 777 differs from the last line"

# Chunk 5 ("Generate Cloud Foundry Deployment Configuration (MTA)") has
# deployment chunks as neighbours, and never itself.
run search docs --like 5 --payload-field title
[ "$(wc -l <"$WORK/out")" -eq 10 ] || fail "expected 10 hits"
if column 2 | grep -qx 5; then fail "--like 5 returned point 5"; fi
grep -qi "deploy" <(head -n 3 "$WORK/out") ||
  fail "no deployment chunk among the top 3: $(cat "$WORK/out")"

# Over every 19th chunk, the top hit shares the chunk's category far more
# often than chance: the largest category is half of the corpus, so
# random neighbours would agree about 30% of the time.  Exact search
# agrees on 35 of these 41 chunks.
same=0
total=0
for id in $(seq 0 19 777); do
  run get docs "$id"
  mine=$(sed -n 's/.*"category":"\([^"]*\)".*/\1/p' "$WORK/out")
  [ -n "$mine" ] || fail "no category in point $id"
  run search docs --like "$id" --limit 1 --payload-field category
  top=$(cut -d' ' -f4- "$WORK/out")
  total=$((total + 1))
  if [ "$mine" = "$top" ]; then same=$((same + 1)); fi
done
echo "top hit in the same category: $same of $total"
[ "$same" -ge $((total * 7 / 10)) ] || fail "only $same of $total agree"

# int8 quantization.  A 1 KiB full-scan threshold makes searches walk
# the graph, and the 778 vectors are enough to train the codes.
run create qdocs --dim 384 --distance Cosine --quantization int8 \
  --full-scan-threshold-kb 1
run info qdocs
expect_line "vector (unnamed) quantization: int8, quantile 0.99, always_ram no, codes 0 bytes"
run import qdocs "$DOCS/embeddings.bin" --format raw --dim 384
run info qdocs
codes=$(sed -n 's/.*quantization: int8, quantile 0.99, always_ram no, codes \([0-9]*\) bytes$/\1/p' "$WORK/out")
[ -n "$codes" ] || fail "no codes line: $(cat "$WORK/out")"
[ "$codes" -ge $((778 * 384)) ] || fail "codes take $codes bytes, below 1 per dimension"

# Recall against exact search over the first 20 chunks as queries,
# through --truth.  With oversampling 1 (the default) rescoring only
# reorders the top 10 by code, which contains about 9.5 of the true 10 on
# these embeddings; oversampling 3 rescores the top 30 and finds them
# all.
run search qdocs --queries "$DOCS/embeddings.bin" --format raw --first 20 \
  --exact
awk '/^query/ { if (n) print line; line = ""; n = 0; next }
     { line = line " " $2; n++ }
     END { print line }' "$WORK/out" >"$WORK/exact_ids"
[ "$(wc -l <"$WORK/exact_ids")" -eq 20 ] || fail "exact search: not 20 queries"
while read -r ids; do
  le32 10
  for id in $ids; do le32 "$id"; done
done <"$WORK/exact_ids" >"$WORK/qtruth.ivecs"
run search qdocs --queries "$DOCS/embeddings.bin" --format raw --first 20 \
  --truth "$WORK/qtruth.ivecs" --quiet
recall=$(sed -n 's/^recall@10: \([0-9.]*\) over 20 queries$/\1/p' "$WORK/out")
[ -n "$recall" ] || fail "no recall line: $(cat "$WORK/out")"
awk -v r="$recall" 'BEGIN { exit !(r >= 0.9) }' || fail "int8 recall@10 is $recall"
run search qdocs --queries "$DOCS/embeddings.bin" --format raw --first 20 \
  --truth "$WORK/qtruth.ivecs" --quiet --oversampling 3 --rescore
over=$(sed -n 's/^recall@10: \([0-9.]*\) over 20 queries$/\1/p' "$WORK/out")
awk -v r="$over" 'BEGIN { exit !(r >= 0.99) }' ||
  fail "int8 recall@10 with oversampling 3 is $over"
echo "int8 recall@10 over 20 chunks: $recall, with oversampling 3: $over"

# Rescored scores are exact; without rescoring they are estimates from
# the codes; ignoring the codes gives exact scores again.
run search qdocs --like 5 --limit 3 --exact
cp "$WORK/out" "$WORK/exact5"
run search qdocs --like 5 --limit 3
[ "$(cat "$WORK/out")" = "$(cat "$WORK/exact5")" ] ||
  fail "rescored hits differ from exact: $(cat "$WORK/out")"
run search qdocs --like 5 --limit 3 --no-rescore
[ "$(column 3)" != "$(awk '{ print $3 }' "$WORK/exact5")" ] ||
  fail "--no-rescore scores equal the exact ones"
run search qdocs --like 5 --limit 3 --no-rescore --ignore-quantization
[ "$(cat "$WORK/out")" = "$(cat "$WORK/exact5")" ] ||
  fail "--ignore-quantization differs from exact: $(cat "$WORK/out")"

# Invalid values are rejected before anything is created.
run_fails 2 "--quantization \"pq\" is invalid" create bad --dim 4 \
  --distance Dot --quantization pq
run_fails 2 "--quantile 1.5 is invalid" create bad --dim 4 --distance Dot \
  --quantization int8 --quantile 1.5
run_fails 2 "--quantile 0 is invalid" create bad --dim 4 --distance Dot \
  --quantization int8 --quantile 0
run_fails 2 "--quantile nan is invalid" create bad --dim 4 --distance Dot \
  --quantization int8 --quantile nan
run_fails 2 "need --quantization int8" create bad --dim 4 --distance Dot \
  --quantile 0.9
run_fails 1 "Manhattan" create bad --dim 4 --distance Manhattan \
  --quantization int8
run info
if grep -q '^bad' "$WORK/out"; then fail "a rejected create left \"bad\""; fi
run_fails 2 "--oversampling 0.5 is invalid" search qdocs --like 5 \
  --oversampling 0.5
run_fails 2 "at most one of --rescore and --no-rescore" search qdocs \
  --like 5 --rescore --no-rescore
run create tuned --dim 4 --distance Dot --quantization int8 --quantile 0.9 \
  --always-ram
run info tuned
expect_line "vector (unnamed) quantization: int8, quantile 0.9, always_ram yes, codes 0 bytes"

echo "cli fiori passed"
