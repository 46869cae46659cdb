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

echo "cli fiori passed"
