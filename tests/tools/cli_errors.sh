#!/usr/bin/env bash
# Bad input to the strata CLI: each case must exit nonzero with exactly
# one line "strata: ..." on stderr that names the problem.
. "$(dirname "$0")/lib.sh"

# Four points of dim 4, then a copy with the last row cut short.
for i in 0 1 2 3; do
  le32 4; f32 "$i"; f32 1; f32 0; f32 0
done >"$WORK/base.fvecs"
head -c 75 "$WORK/base.fvecs" >"$WORK/truncated.fvecs"

# No database yet: readers do not create one.
run_fails 1 "cannot open database $STRATA_DATA" info
run_fails 1 "make one with 'strata create' or 'strata import --create'" info
[ ! -e "$STRATA_DATA" ] || fail "info created the data directory"

run create c --dim 4 --distance Euclid

# Unknown collection.
run_fails 1 'collection "nope" not found' search nope --vector 1,2,3,4
run_fails 1 'collection "nope" not found' count nope
run_fails 1 'collection "nope" not found' info nope
run_fails 1 'collection "nope" not found' drop nope
run_fails 1 'collection "nope" not found' get nope 1
run_fails 1 "create it with 'strata create', or pass --create" \
  import nope "$WORK/base.fvecs" --format fvecs
run_fails 1 "--create needs --distance" \
  import nope "$WORK/base.fvecs" --format fvecs --create

# Wrong dimensions.
run_fails 1 "has dim 4, but --dim is 5" \
  import c "$WORK/base.fvecs" --format fvecs --dim 5
run create c8 --dim 8 --distance Euclid
run_fails 1 'vectors have dim 4, but vector (unnamed) of collection "c8" has dim 8' \
  import c8 "$WORK/base.fvecs" --format fvecs
run_fails 1 "dimension 3" search c --vector 1,2,3
run count c8
expect_out "0"

# Bad or missing --format.
run_fails 2 'unknown --format "csv"' import c "$WORK/base.fvecs" --format csv
run_fails 2 "missing --format" import c "$WORK/base.fvecs"
run_fails 2 "--format raw needs --dim" import c "$WORK/base.fvecs" --format raw
run_fails 2 'unknown --format "xml"' search c --queries "$WORK/base.fvecs" --format xml

# Missing or unreadable files.
run_fails 1 "$WORK/none.fvecs: cannot open: No such file or directory" \
  import c "$WORK/none.fvecs" --format fvecs
run_fails 1 "$WORK: cannot read: it is a directory" import c "$WORK" --format fvecs
run_fails 1 "cannot open: No such file" \
  import c "$WORK/base.fvecs" --format fvecs --payloads "$WORK/none.jsonl"
run_fails 1 "cannot load ground truth" search c --queries "$WORK/base.fvecs" \
  --format fvecs --truth "$WORK/none.ivecs"
run_fails 1 "truncated last row 3: 11 of 16 data bytes" \
  import c "$WORK/truncated.fvecs" --format fvecs
run count c
expect_out "0"

# Bad ids.
run_fails 1 "point id -1 is negative" get c -1
run_fails 1 'invalid point id "abc"' get c abc
run_fails 1 "is too large" delete c 18446744073709551616
run_fails 1 "point id -3 is negative" search c --like -3
run_fails 1 "point 3 not found" search c --like 3
printf '{"id": "not-a-uuid", "vector": [1, 2, 3, 4]}\n' >"$WORK/bad_id.jsonl"
run_fails 1 "$WORK/bad_id.jsonl:1: invalid UUID id \"not-a-uuid\"" \
  import c "$WORK/bad_id.jsonl" --format jsonl
printf '{"id": 1, "vector": [1, 2, 3, 4]}\n{"id": -4, "vector": [1, 2, 3, 4]}\n' \
  >"$WORK/neg_id.jsonl"
run_fails 1 "failed after 1 points: $WORK/neg_id.jsonl:2: negative id -4" \
  import c "$WORK/neg_id.jsonl" --format jsonl --batch 1
run count c
expect_out "1"
run_fails 2 "--ids-from does not apply to jsonl" \
  import c "$WORK/neg_id.jsonl" --format jsonl --ids-from 5
run_fails 2 "--ids-from -1 is invalid" \
  import c "$WORK/base.fvecs" --format fvecs --ids-from -1

# A batch the engine rejects (it does not store \u0000 in payloads) is
# reported with the file lines it came from, and nothing of it is stored.
printf '{"id": 1, "vector": [1, 2, 3, 4]}\n{"id": 2, "vector": [1, 2, 3, 4], "payload": {"a": "\\u0000"}}\n' \
  >"$WORK/nul.jsonl"
run_fails 1 "$WORK/nul.jsonl lines 1 to 2: " import c "$WORK/nul.jsonl" --format jsonl
run_fails 1 "point 2 not found" get c 2

# Payload files that do not match the vectors.
printf '{"a": 1}\n{"a": 2}\n' >"$WORK/two.jsonl"
run_fails 1 "two.jsonl has 2 lines, fewer than the vectors" \
  import c "$WORK/base.fvecs" --format fvecs --payloads "$WORK/two.jsonl"
printf '{"a": 1}\n[2]\n{}\n{}\n' >"$WORK/array.jsonl"
run_fails 1 "array.jsonl:2: expected a JSON object, found array" \
  import c "$WORK/base.fvecs" --format fvecs --payloads "$WORK/array.jsonl"
for i in 1 2 3 4 5; do echo '{}'; done >"$WORK/five.jsonl"
run_fails 1 "five.jsonl has more lines than" \
  import c "$WORK/base.fvecs" --format fvecs --payloads "$WORK/five.jsonl"

# Command line mistakes.
run_fails 1 'unknown command: "bogus"' bogus
run_fails 2 'unknown option "--bogus"' info --bogus
run_fails 2 'option "--limit" needs a value' search c --vector 1,2,3,4 --limit
run_fails 2 "--limit 0 is invalid" search c --vector 1,2,3,4 --limit 0
run_fails 2 "give exactly one of --vector, --queries and --like" search c
run_fails 2 "give exactly one of" search c --vector 1,2,3,4 --like 1
run_fails 2 "invalid at number 3 (counting from 1)" search c --vector 1,2,x,4
run_fails 2 "--truth applies only with --queries" \
  search c --vector 1,2,3,4 --truth "$WORK/base.fvecs"
run_fails 2 "--quiet applies only with --truth" search c --vector 1,2,3,4 --quiet
run_fails 2 'unknown distance "Hamming"' create d --dim 4 --distance Hamming
run_fails 2 "--dim and --distance must be given together" create d --dim 4
run_fails 2 '--vector "img:0:Dot" is invalid' create d --vector img:0:Dot
run_fails 2 "expected one collection name" create
run_fails 1 'collection "c" already exists' create c --dim 4 --distance Dot
run_fails 1 "contains '/'" create a/b --dim 4 --distance Dot
"$STRATA" >/dev/null 2>&1 && fail "no command must fail"

echo "cli errors passed"
