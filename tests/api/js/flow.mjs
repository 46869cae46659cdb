// Drives strata serve with Qdrant's own gRPC client, @qdrant/js-client-grpc
// (pinned in package-lock.json).  The client gzips request messages of
// 1 KiB or more, so the large payload below also tests gzip.
//
// usage: node flow.mjs MAIN_PORT KEYED_PORT API_KEY
import assert from 'node:assert/strict';
import {
  QdrantClient, ConnectError, ConnectErrorCode, Distance, FieldType,
  UpdateStatus,
} from '@qdrant/js-client-grpc';

const [mainPort, keyedPort, apiKey] = process.argv.slice(2);

const warnings = [];
const originalWarn = console.warn;
console.warn = (...args) => { warnings.push(args.join(' ')); };

const num = (n) => ({ pointIdOptions: { case: 'num', value: BigInt(n) } });
const uuid = (s) => ({ pointIdOptions: { case: 'uuid', value: s } });
const idOf = (id) => (id.pointIdOptions.case === 'num'
  ? Number(id.pointIdOptions.value) : id.pointIdOptions.value);
const str = (s) => ({ kind: { case: 'stringValue', value: s } });
const int = (n) => ({ kind: { case: 'integerValue', value: BigInt(n) } });
const dense = (data) => ({
  vectorsOptions: { case: 'vector', value: { vector: { case: 'dense', value: { data } } } },
});
const nearest = (data) => ({
  variant: { case: 'nearest', value: { variant: { case: 'dense', value: { data } } } },
});
const withPayload = { selectorOptions: { case: 'enable', value: true } };

async function expectCode(promise, code, label) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof ConnectError, `${label}: ${e}`);
    assert.equal(e.code, code, `${label}: ${e.message}`);
    return e;
  }
  assert.fail(`${label}: expected an error`);
}

const UUID = '0a1b2c3d-0000-4000-8000-00000000abcd';
const BIG = 2n ** 62n + 1n;
const LONG_TEXT = 'gzip me '.repeat(400); // 3200 bytes: sent gzipped

async function mainFlow() {
  const client = new QdrantClient({ host: '127.0.0.1', port: Number(mainPort) });
  const collections = client.api('collections');
  const points = client.api('points');

  // The version check runs in the background on construction.
  const health = await client.api('service').healthCheck({});
  assert.equal(health.title, 'strata');
  assert.equal(health.version, '1.18.0');
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(warnings, [], 'the client warned about the server');

  await collections.create({
    collectionName: 'js',
    vectorsConfig: { config: { case: 'params', value: { size: 4n, distance: Distance.Dot } } },
  });
  const exists = await collections.collectionExists({ collectionName: 'js' });
  assert.equal(exists.result.exists, true);
  const list = await collections.list({});
  assert.deepEqual(list.collections.map((c) => c.name), ['js']);

  const upsert = await points.upsert({
    collectionName: 'js',
    wait: true,
    points: [
      { id: num(1), vectors: dense([1, 0, 0, 0]), payload: { city: str('Berlin'), big: int(BIG) } },
      { id: num(2), vectors: dense([0, 1, 0, 0]), payload: { city: str('London') } },
      { id: num(3), vectors: dense([0.5, 0.5, 0, 0]), payload: { city: str('Paris') } },
      { id: uuid(UUID), vectors: dense([0, 0, 1, 0]), payload: { text: str(LONG_TEXT) } },
    ],
  });
  assert.equal(upsert.result.status, UpdateStatus.Completed);

  const info = await collections.get({ collectionName: 'js' });
  assert.equal(info.result.pointsCount, 4n);
  assert.equal(info.result.config.params.vectorsConfig.config.value.size, 4n);
  assert.equal(info.result.config.params.vectorsConfig.config.value.distance, Distance.Dot);

  const search = await points.search({
    collectionName: 'js', vector: [1, 0, 0, 0], limit: 2n, withPayload,
  });
  assert.deepEqual(search.result.map((p) => idOf(p.id)), [1, 3]);
  assert.deepEqual(search.result.map((p) => p.score), [1, 0.5]);
  assert.equal(search.result[0].payload.big.kind.value, BIG);

  const query = await points.query({
    collectionName: 'js', query: nearest([0, 1, 0, 0]), limit: 1n,
  });
  assert.deepEqual(query.result.map((p) => idOf(p.id)), [2]);
  const byId = await points.query({
    collectionName: 'js',
    query: { variant: { case: 'nearest', value: { variant: { case: 'id', value: num(3) } } } },
    limit: 2n,
  });
  assert.deepEqual(byId.result.map((p) => idOf(p.id)).sort(), [1, 2]);

  const batch = await points.searchBatch({
    collectionName: 'js',
    searchPoints: [
      { collectionName: 'js', vector: [0, 0, 1, 0], limit: 1n },
      { collectionName: 'js', vector: [0, 1, 0, 0], limit: 1n },
    ],
  });
  assert.deepEqual(batch.result.map((r) => idOf(r.result[0].id)), [UUID, 2]);
  const queryBatch = await points.queryBatch({
    collectionName: 'js',
    queryPoints: [{ collectionName: 'js', query: nearest([1, 0, 0, 0]), limit: 1n }],
  });
  assert.deepEqual(queryBatch.result.map((r) => idOf(r.result[0].id)), [1]);

  // Scroll through every page, two points at a time.
  const seen = [];
  let offset;
  for (;;) {
    const page = await points.scroll({ collectionName: 'js', limit: 2, offset });
    seen.push(...page.result.map((p) => idOf(p.id)));
    if (!page.nextPageOffset) break;
    offset = page.nextPageOffset;
  }
  assert.deepEqual(seen, [1, 2, 3, UUID]);

  const got = await points.get({
    collectionName: 'js', ids: [uuid(UUID), num(9)], withPayload,
  });
  assert.equal(got.result.length, 1);
  assert.equal(got.result[0].payload.text.kind.value, LONG_TEXT);

  // Payload update by filter, then a payload index and a filtered count.
  const berlin = {
    must: [{
      conditionOneOf: {
        case: 'field',
        value: { key: 'city', match: { matchValue: { case: 'keyword', value: 'Berlin' } } },
      },
    }],
  };
  await points.setPayload({
    collectionName: 'js', wait: true, payload: { tag: str('capital') },
    pointsSelector: { pointsSelectorOneOf: { case: 'filter', value: berlin } },
  });
  await points.createFieldIndex({
    collectionName: 'js', wait: true, fieldName: 'tag', fieldType: FieldType.FieldTypeKeyword,
  });
  const tagged = await points.count({
    collectionName: 'js',
    filter: {
      must: [{
        conditionOneOf: {
          case: 'field',
          value: { key: 'tag', match: { matchValue: { case: 'keyword', value: 'capital' } } },
        },
      }],
    },
  });
  assert.equal(tagged.result.count, 1n);

  const count = await points.count({ collectionName: 'js', exact: true });
  assert.equal(count.result.count, 4n);
  await points.delete({
    collectionName: 'js', wait: true,
    points: { pointsSelectorOneOf: { case: 'points', value: { ids: [num(2)] } } },
  });
  const after = await points.count({ collectionName: 'js' });
  assert.equal(after.result.count, 3n);

  await expectCode(points.search({ collectionName: 'nope', vector: [1, 0, 0, 0], limit: 1n }),
    ConnectErrorCode.NotFound, 'missing collection');
  await expectCode(points.upsert({ collectionName: 'js', points: [{ id: num(7), vectors: dense([1, 2]) }] }),
    ConnectErrorCode.InvalidArgument, 'wrong dimension');
  await expectCode(points.upsert({ collectionName: 'js', points: [{ id: uuid('zzz'), vectors: dense([1, 0, 0, 0]) }] }),
    ConnectErrorCode.InvalidArgument, 'bad UUID');
  await expectCode(points.recommend({ collectionName: 'js', positive: [num(1)], limit: 1n }),
    ConnectErrorCode.Unimplemented, 'unknown method');

  const deleted = await collections.delete({ collectionName: 'js' });
  assert.equal(deleted.result, true);
}

async function keyedFlow() {
  const make = (key) => new QdrantClient({
    host: '127.0.0.1', port: Number(keyedPort), apiKey: key, https: false,
    checkCompatibility: false,
  });
  const good = make(apiKey);
  const reply = await good.api('collections').list({});
  assert.deepEqual(reply.collections, []);
  await expectCode(make(`${apiKey}x`).api('collections').list({}),
    ConnectErrorCode.Unauthenticated, 'wrong key');
  await expectCode(make(undefined).api('collections').list({}),
    ConnectErrorCode.Unauthenticated, 'no key');
}

try {
  await mainFlow();
  await keyedFlow();
  console.warn = originalWarn;
  console.log('js client flow: ok');
} catch (e) {
  console.warn = originalWarn;
  console.error(e);
  process.exit(1);
}
