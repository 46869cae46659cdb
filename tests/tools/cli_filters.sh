#!/usr/bin/env bash
# Filters, payload indexes, payload updates and explain through the CLI,
# on five points whose payloads are known.
. "$(dirname "$0")/lib.sh"

cat >"$WORK/points.jsonl" <<'POINTS'
{"id": 1, "vector": [0, 0], "payload": {"city": "Oslo", "n": 1}}
{"id": 2, "vector": [1, 0], "payload": {"city": "Rome", "n": 2}}
{"id": 3, "vector": [0, 1], "payload": {"city": "Oslo", "n": 3}}
{"id": 4, "vector": [1, 1], "payload": {"city": "Lima", "n": 4}}
{"id": 5, "vector": [2, 2], "payload": {"city": "Oslo", "n": 5}}
POINTS
oslo='{"must": {"key": "city", "match": {"value": "Oslo"}}}'

for command in index payload; do
  run "$command" --help
  expect_line "usage: strata $command"
done
run create c --dim 2 --distance Euclid
run import c "$WORK/points.jsonl" --format jsonl

# Filtered count, scroll and search, before and after indexing the field.
for indexed in no yes; do
  run count c --filter "$oslo"
  expect_out "3"
  run scroll c --filter "$oslo" --limit 2
  expect_out '{"id":1,"payload":{"city": "Oslo", "n": 1}}
{"id":3,"payload":{"city": "Oslo", "n": 3}}
{"next_page_offset":5}'
  run search c --vector 1,1 --limit 2 --filter "$oslo"
  expect_out "1 3 1
2 1 1.41421"
  run search c --vector 1,1 --filter "$oslo" --explain
  expect_line '"strategy":"exact_filtered"'
  expect_line '"matching":3'
  if [ "$indexed" = no ]; then
    run index create c city keyword
    expect_out "created index on city"
  fi
done
expect_line '"indexes_used":["city"]'
run info c
expect_line "payload index city: keyword"
run_fails 1 "already has a payload index" index create c city keyword
run_fails 1 "unknown payload index type" index create c n geo
run_fails 2 "--filter is invalid" count c --filter '{"must": 1}'
run_fails 2 "--explain applies only" search c --queries x --format fvecs --explain

# Payload updates by ids and by filter; the index follows them.
run payload set c '{"city": "Paris"}' --ids 3
expect_out "updated 1 points"
run count c --filter "$oslo"
expect_out "2"
run payload set c '{"x": 1}' --key meta --filter "$oslo"
expect_out "updated 2 points"
run payload delete c n meta --ids 1
run payload clear c --ids 2
run payload overwrite c '{"a": 1}' --ids 4
run get c 1 2 4
expect_out '{"id":1,"payload":{"city":"Oslo"}}
{"id":2,"payload":{}}
{"id":4,"payload":{"a": 1}}'
run_fails 1 "payload must be a JSON object" payload set c '[1]' --ids 1
run_fails 2 "exactly one of --ids and --filter" payload clear c

# Delete by filter; the index definition survives until dropped.
run delete c --filter "$oslo"
expect_out "deleted 2 points"
run count c
expect_out "3"
run index drop c city
run_fails 1 "has no payload index" index drop c city
