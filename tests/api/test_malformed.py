"""Hostile input to the gRPC server: garbage and truncated messages,
random bytes, huge repeated fields, deep nesting and oversized messages.
Each case must get an error status (never a crash or a hang), and the
server must keep serving: a HealthCheck after each group succeeds and
the process exits 0 on SIGTERM (under ASan, also free of leaks).

usage: test_malformed.py STRATA_BINARY SCRATCH_DIR STUBS_DIR
"""
import random
import sys
import unittest

import grpc

import harness

BINARY, SCRATCH, STUBS = sys.argv[1:4]
harness.load_stubs(STUBS)

import collections_pb2 as cpb  # noqa: E402
import collections_pb2_grpc as cgrpc  # noqa: E402
import common_pb2 as common  # noqa: E402
import points_pb2 as ppb  # noqa: E402
import points_pb2_grpc as pgrpc  # noqa: E402
import qdrant_pb2  # noqa: E402
import qdrant_pb2_grpc  # noqa: E402

METHODS = ["/qdrant.Points/Upsert", "/qdrant.Points/Search",
           "/qdrant.Points/Query", "/qdrant.Points/Get",
           "/qdrant.Points/Scroll", "/qdrant.Collections/Create",
           "/qdrant.Points/SearchBatch", "/qdrant.Points/Delete"]
# Statuses a correct server may return for arbitrary bytes.
ACCEPTABLE = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT,
              grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS}


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def nested_value(levels):
    """A qdrant.Value that is a list holding a list ... `levels` deep,
    built outside-in so that it costs O(levels)."""
    # From the inside: Value{} is empty; ListValue{values: v} and
    # Value{list_value: l} each add a tag and a length.
    headers = []
    size = 0
    for _ in range(levels):
        list_len = 1 + len(varint(size)) + size       # ListValue field 1
        headers.append(b"\x0a" + varint(size))
        value_len = 1 + len(varint(list_len)) + list_len  # Value field 7
        headers.append(b"\x3a" + varint(list_len))
        size = value_len
    return b"".join(reversed(headers)), size


def upsert_with_value(value_bytes):
    """UpsertPoints{collection "m", points: [{id: 1, payload: {"k": v}}]}
    with a hand-encoded payload value."""
    entry = b"\x0a\x01k" + b"\x12" + varint(len(value_bytes)) + value_bytes
    pid = b"\x0a\x02\x08\x01"  # id {num: 1}
    vec = ppb.Vectors(vector=ppb.Vector(
        dense=ppb.DenseVector(data=[1, 0]))).SerializeToString()
    point = pid + b"\x1a" + varint(len(entry)) + entry + \
        b"\x22" + varint(len(vec)) + vec
    return b"\x0a\x01m" + b"\x1a" + varint(len(point)) + point


class MalformedTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(BINARY, SCRATCH,
                                    ["--max-message-mb", "4"]).__enter__()
        cls.channel = grpc.insecure_channel(
            cls.server.address,
            options=[("grpc.max_send_message_length", 64 << 20)])
        cgrpc.CollectionsStub(cls.channel).Create(cpb.CreateCollection(
            collection_name="m", vectors_config=cpb.VectorsConfig(
                params=cpb.VectorParams(size=2, distance=cpb.Cosine))),
            timeout=10)
        pgrpc.PointsStub(cls.channel).Upsert(ppb.UpsertPoints(
            collection_name="m", wait=True, points=[
                ppb.PointStruct(id=common.PointId(num=i), vectors=ppb.Vectors(
                    vector=ppb.Vector(dense=ppb.DenseVector(data=[1, i]))))
                for i in range(20)]), timeout=10)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.__exit__(None, None, None)
        assert cls.server.exit_code == 0, "".join(cls.server.log)

    def raw(self, method, data):
        """Sends raw bytes; returns the status code."""
        call = self.channel.unary_unary(method)
        try:
            call(data, timeout=20)
            return grpc.StatusCode.OK
        except grpc.RpcError as e:
            return e.code()

    def assertAlive(self):
        reply = qdrant_pb2_grpc.QdrantStub(self.channel).HealthCheck(
            qdrant_pb2.HealthCheckRequest(), timeout=10)
        self.assertEqual(reply.title, "strata")

    def test_garbage(self):
        for data in [b"\xff\xff\xff\xff", b"\x0a\xff\xff\xff\xff\x0f",
                     b"\x0b", b"\x0a\x05ab", b"\x12\x80\x80\x80\x80\x80\x80"
                     b"\x80\x80\x80\x80\x01"]:
            for method in METHODS:
                self.assertEqual(self.raw(method, data),
                                 grpc.StatusCode.INVALID_ARGUMENT,
                                 (method, data))
        self.assertAlive()

    def test_truncated(self):
        full = ppb.SearchPoints(collection_name="m", vector=[1.0, 0.5],
                                limit=3).SerializeToString()
        self.assertEqual(self.raw("/qdrant.Points/Search", full),
                         grpc.StatusCode.OK)
        for cut in range(1, len(full)):
            code = self.raw("/qdrant.Points/Search", full[:cut])
            self.assertIn(code, ACCEPTABLE, cut)
        # Cut inside the packed vector: never a valid message.
        vector_start = full.index(b"\x12")  # field 2, length-delimited
        self.assertEqual(self.raw("/qdrant.Points/Search",
                                  full[:vector_start + 4]),
                         grpc.StatusCode.INVALID_ARGUMENT)
        self.assertAlive()

    def test_random_bytes(self):
        rng = random.Random(1234)
        for i in range(400):
            data = bytes(rng.randrange(256)
                         for _ in range(rng.randrange(1, 64)))
            method = METHODS[i % len(METHODS)]
            self.assertIn(self.raw(method, data), ACCEPTABLE, (method, data))
        self.assertAlive()

    def test_mutated_requests(self):
        # Valid requests with bytes changed, cut or inserted reach further
        # into the handlers than random bytes do.
        def num(n):
            return common.PointId(num=n)
        seeds = {
            "/qdrant.Points/Upsert": ppb.UpsertPoints(
                collection_name="m", wait=True, points=[ppb.PointStruct(
                    id=num(100 + i), vectors=ppb.Vectors(vector=ppb.Vector(
                        dense=ppb.DenseVector(data=[i, 1]))),
                    payload={"a": common.Value(integer_value=i),
                             "l": common.Value(list_value=common.ListValue(
                                 values=[common.Value(string_value="x")]))})
                    for i in range(3)]),
            "/qdrant.Points/Search": ppb.SearchPoints(
                collection_name="m", vector=[1, 2], limit=3, offset=1,
                score_threshold=0.1,
                with_payload=ppb.WithPayloadSelector(
                    include=ppb.PayloadIncludeSelector(fields=["a", "l"])),
                with_vectors=ppb.WithVectorsSelector(enable=True)),
            "/qdrant.Points/Query": ppb.QueryPoints(
                collection_name="m", limit=2,
                query=ppb.Query(nearest=ppb.VectorInput(id=num(1)))),
            "/qdrant.Points/Scroll": ppb.ScrollPoints(
                collection_name="m", limit=2, offset=num(1)),
            "/qdrant.Points/Count": ppb.CountPoints(
                collection_name="m", filter=common.Filter(must=[
                    common.Condition(field=common.FieldCondition(
                        key="a", match=common.Match(integer=1),
                        range=common.Range(gte=1)))])),
            "/qdrant.Collections/Create": cpb.CreateCollection(
                collection_name="mut", vectors_config=cpb.VectorsConfig(
                    params_map=cpb.VectorParamsMap(map={
                        "x": cpb.VectorParams(size=3, distance=cpb.Cosine)}))),
        }
        base = {m: msg.SerializeToString() for m, msg in seeds.items()}
        rng = random.Random(99)
        for i in range(2000):
            method = rng.choice(sorted(base))
            data = bytearray(base[method])
            for _ in range(rng.randint(1, 4)):
                pos = rng.randrange(len(data)) if data else 0
                op = rng.random()
                if op < 0.5 and data:
                    data[pos] = rng.randrange(256)
                elif op < 0.75 and data:
                    del data[pos:pos + rng.randint(1, 4)]
                else:
                    data[pos:pos] = bytes(rng.randrange(256)
                                          for _ in range(rng.randint(1, 4)))
            self.assertIn(self.raw(method, bytes(data)), ACCEPTABLE,
                          (method, bytes(data).hex()))
        self.assertAlive()

    def test_huge_repeated(self):
        points = pgrpc.PointsStub(self.channel)
        ids = [common.PointId(num=i % 40) for i in range(300000)]
        got = points.Get(ppb.GetPoints(collection_name="m", ids=ids),
                         timeout=30).result
        self.assertEqual(len(got), 20)  # repeated ids come back once
        with self.assertRaises(grpc.RpcError) as ctx:
            points.Search(ppb.SearchPoints(collection_name="m",
                                           vector=[0.5] * 500000, limit=1),
                          timeout=30)
        self.assertEqual(ctx.exception.code(),
                         grpc.StatusCode.INVALID_ARGUMENT)
        # A limit far beyond the collection is bounded by its size.
        hits = points.Search(ppb.SearchPoints(collection_name="m",
                                              vector=[1, 0],
                                              limit=2**63, offset=2**63),
                             timeout=30).result
        self.assertEqual(len(hits), 0)
        hits = points.Search(ppb.SearchPoints(collection_name="m",
                                              vector=[1, 0], limit=2**64 - 1),
                             timeout=30).result
        self.assertEqual(len(hits), 20)
        self.assertAlive()

    def test_too_large(self):
        big = ppb.SearchPoints(collection_name="m", vector=[0.5] * (2 << 20),
                               limit=1)  # 8 MiB > --max-message-mb 4
        with self.assertRaises(grpc.RpcError) as ctx:
            pgrpc.PointsStub(self.channel).Search(big, timeout=30)
        self.assertEqual(ctx.exception.code(),
                         grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertAlive()

    def test_gzip_bomb(self):
        # 8 MiB of zeros gzip to a few KiB; the limit applies inflated.
        channel = grpc.insecure_channel(
            self.server.address, compression=grpc.Compression.Gzip,
            options=[("grpc.max_send_message_length", 64 << 20)])
        big = ppb.SearchPoints(collection_name="m", vector=[0.0] * (2 << 20),
                               limit=1)
        with self.assertRaises(grpc.RpcError) as ctx:
            pgrpc.PointsStub(channel).Search(big, timeout=30)
        channel.close()
        self.assertEqual(ctx.exception.code(),
                         grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertAlive()

    def test_deep_nesting(self):
        for levels in [10000, 200000]:
            value, _ = nested_value(levels)
            code = self.raw("/qdrant.Points/Upsert", upsert_with_value(value))
            self.assertEqual(code, grpc.StatusCode.INVALID_ARGUMENT, levels)
        # Moderate nesting is accepted and comes back intact.
        value, _ = nested_value(20)
        self.assertEqual(self.raw("/qdrant.Points/Upsert",
                                  upsert_with_value(value)),
                         grpc.StatusCode.OK)
        got = pgrpc.PointsStub(self.channel).Get(ppb.GetPoints(
            collection_name="m", ids=[common.PointId(num=1)],
            with_payload=ppb.WithPayloadSelector(enable=True)),
            timeout=10).result[0]
        depth, v = 0, got.payload["k"]
        while v.WhichOneof("kind") == "list_value":
            depth += 1
            v = v.list_value.values[0]
        self.assertEqual(depth, 20)
        self.assertAlive()

    def test_invalid_utf8_name(self):
        data = cpb.GetCollectionInfoRequest(
            collection_name="xx").SerializeToString().replace(b"xx",
                                                               b"\xff\xfe")
        call = self.channel.unary_unary("/qdrant.Collections/Get")
        with self.assertRaises(grpc.RpcError) as ctx:
            call(data, timeout=10)
        self.assertEqual(ctx.exception.code(),
                         grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("UTF-8", ctx.exception.details())
        self.assertAlive()


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
