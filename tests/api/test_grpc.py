"""End-to-end test of the gRPC server from Python grpcio: collections,
points, search and query on a small dataset with known results, then the
error statuses, gzip-compressed requests and API keys.

usage: test_grpc.py STRATA_BINARY SCRATCH_DIR STUBS_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
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

UUID = "6f1c1e9c-0000-4000-8000-000000000001"
BIG = 2**53 + 1  # not representable as a double


def num(n):
    return common.PointId(num=n)


def uuid(text):
    return common.PointId(uuid=text)


def value(x):
    """Python value -> qdrant.Value, ints as integer_value."""
    if x is None:
        return common.Value(null_value=common.NULL_VALUE)
    if isinstance(x, bool):
        return common.Value(bool_value=x)
    if isinstance(x, int):
        return common.Value(integer_value=x)
    if isinstance(x, float):
        return common.Value(double_value=x)
    if isinstance(x, str):
        return common.Value(string_value=x)
    if isinstance(x, list):
        return common.Value(list_value=common.ListValue(
            values=[value(v) for v in x]))
    return common.Value(struct_value=common.Struct(
        fields={k: value(v) for k, v in x.items()}))


def unvalue(v):
    kind = v.WhichOneof("kind")
    if kind == "null_value":
        return None
    if kind == "list_value":
        return [unvalue(x) for x in v.list_value.values]
    if kind == "struct_value":
        return {k: unvalue(x) for k, x in v.struct_value.fields.items()}
    return getattr(v, kind)


def payload_of(point):
    return {k: unvalue(v) for k, v in point.payload.items()}


def id_of(pid):
    return pid.num if pid.WhichOneof("point_id_options") == "num" else pid.uuid


def point(pid, vec, payload=None, dense_form=True):
    if dense_form:
        vector = ppb.Vector(dense=ppb.DenseVector(data=vec))
    else:
        vector = ppb.Vector(data=vec)
    return ppb.PointStruct(
        id=pid, vectors=ppb.Vectors(vector=vector),
        payload={k: value(v) for k, v in (payload or {}).items()})


DEMO_POINTS = [
    (num(1), [1, 0, 0, 0], {"city": "Berlin", "n": 1, "big": BIG}),
    (num(2), [0, 1, 0, 0], {"city": "London", "tags": ["a", "b"],
                            "nested": {"x": 1.5, "y": None, "z": True}}),
    (num(3), [0.5, 0.5, 0, 0], {"city": "Paris"}),
    (num(5), [0.9, 0.1, 0.2, 0.1], {"city": "Rome", "n": -7}),
    (uuid(UUID.upper()), [0, 0, 1, 0], {"city": "Oslo"}),
]


class GrpcTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(BINARY, SCRATCH).__enter__()
        cls.channel = grpc.insecure_channel(cls.server.address)
        cls.qdrant = qdrant_pb2_grpc.QdrantStub(cls.channel)
        cls.coll = cgrpc.CollectionsStub(cls.channel)
        cls.points = pgrpc.PointsStub(cls.channel)
        cls.coll.Create(cpb.CreateCollection(
            collection_name="demo",
            vectors_config=cpb.VectorsConfig(params=cpb.VectorParams(
                size=4, distance=cpb.Dot)),
            hnsw_config=cpb.HnswConfigDiff(m=16), shard_number=1),
            timeout=10)
        res = cls.points.Upsert(ppb.UpsertPoints(
            collection_name="demo", wait=True,
            points=[point(*p, dense_form=i % 2 == 0)
                    for i, p in enumerate(DEMO_POINTS)]), timeout=10)
        assert res.result.status == ppb.Completed

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.__exit__(None, None, None)
        # A clean SIGTERM shutdown exits 0; sanitizer findings do not.
        log = "".join(cls.server.log)
        assert cls.server.exit_code == 0, log
        # Log lines quote client input only as valid UTF-8.
        assert "\ufffd" not in log, log

    def assertStatus(self, code, fn, *args, text=None):
        with self.assertRaises(grpc.RpcError) as ctx:
            fn(*args, timeout=10)
        self.assertEqual(ctx.exception.code(), code,
                         ctx.exception.details())
        if text is not None:
            self.assertIn(text, ctx.exception.details())
        return ctx.exception

    # -- service and collections ------------------------------------

    def test_health_check(self):
        reply = self.qdrant.HealthCheck(qdrant_pb2.HealthCheckRequest(),
                                        timeout=10)
        self.assertEqual(reply.title, "strata")
        self.assertEqual(reply.version, "1.18.0")
        self.assertTrue(reply.commit.startswith("strata "))

    def test_collection_get(self):
        info = self.coll.Get(cpb.GetCollectionInfoRequest(
            collection_name="demo"), timeout=10).result
        self.assertEqual(info.status, cpb.Green)
        self.assertEqual(info.points_count, len(DEMO_POINTS))
        params = info.config.params.vectors_config.params
        self.assertEqual(params.size, 4)
        self.assertEqual(params.distance, cpb.Dot)

    def test_collection_list_exists_delete(self):
        self.coll.Create(cpb.CreateCollection(
            collection_name="temp",
            vectors_config=cpb.VectorsConfig(params=cpb.VectorParams(
                size=2, distance=cpb.Manhattan))), timeout=10)
        names = [c.name for c in self.coll.List(
            cpb.ListCollectionsRequest(), timeout=10).collections]
        self.assertIn("demo", names)
        self.assertIn("temp", names)
        exists = self.coll.CollectionExists(cpb.CollectionExistsRequest(
            collection_name="temp"), timeout=10)
        self.assertTrue(exists.result.exists)
        deleted = self.coll.Delete(cpb.DeleteCollection(
            collection_name="temp"), timeout=10)
        self.assertTrue(deleted.result)
        again = self.coll.Delete(cpb.DeleteCollection(
            collection_name="temp"), timeout=10)
        self.assertFalse(again.result)
        exists = self.coll.CollectionExists(cpb.CollectionExistsRequest(
            collection_name="temp"), timeout=10)
        self.assertFalse(exists.result.exists)

    def test_create_rejections(self):
        vc = cpb.VectorsConfig(params=cpb.VectorParams(size=4,
                                                       distance=cpb.Cosine))
        self.assertStatus(grpc.StatusCode.ALREADY_EXISTS, self.coll.Create,
                          cpb.CreateCollection(collection_name="demo",
                                               vectors_config=vc))
        sparse = cpb.SparseVectorConfig(map={"s": cpb.SparseVectorParams()})
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.coll.Create,
                          cpb.CreateCollection(collection_name="sp",
                                               vectors_config=vc,
                                               sparse_vectors_config=sparse),
                          text="sparse")
        multi = cpb.VectorsConfig(params=cpb.VectorParams(
            size=4, distance=cpb.Cosine,
            multivector_config=cpb.MultiVectorConfig()))
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.coll.Create,
                          cpb.CreateCollection(collection_name="mv",
                                               vectors_config=multi),
                          text="multivector")
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.coll.Create,
                          cpb.CreateCollection(collection_name="sh",
                                               vectors_config=vc,
                                               shard_number=3),
                          text="shard_number")
        # The engine cuts this name inside a UTF-8 sequence when it quotes
        # it; the status message must still be valid UTF-8.
        long_name = "a" + "\u00e9" * 150
        e = self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT,
                              self.coll.Create,
                              cpb.CreateCollection(collection_name=long_name,
                                                   vectors_config=vc))
        self.assertIn("bytes long", e.details())
        self.assertNotIn("\ufffd", e.details())  # no undecodable bytes
        raw = cpb.CreateCollection(
            collection_name="badvec", vectors_config=cpb.VectorsConfig(
                params_map=cpb.VectorParamsMap(map={"VV": cpb.VectorParams(
                    size=2, distance=cpb.Dot)}))).SerializeToString()
        call = self.channel.unary_unary("/qdrant.Collections/Create")
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, call,
                          raw.replace(b"VV", b"\xff\xfe"),
                          text="vector name")
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.coll.Create,
                          cpb.CreateCollection(collection_name="nodist",
                                               vectors_config=cpb.VectorsConfig(
                                                   params=cpb.VectorParams(
                                                       size=4))),
                          text="distance")

    # -- points ------------------------------------------------------

    def test_get_payloads_and_ids(self):
        got = self.points.Get(ppb.GetPoints(
            collection_name="demo", ids=[num(2), uuid(UUID), num(99), num(1)],
            with_payload=ppb.WithPayloadSelector(enable=True)),
            timeout=10).result
        self.assertEqual([id_of(p.id) for p in got], [2, UUID, 1])
        self.assertEqual(payload_of(got[0]), DEMO_POINTS[1][2])
        self.assertEqual(payload_of(got[2])["big"], BIG)
        self.assertEqual(got[2].payload["n"].WhichOneof("kind"),
                         "integer_value")
        self.assertEqual(got[0].payload["nested"].struct_value
                         .fields["x"].WhichOneof("kind"), "double_value")
        self.assertEqual(len(got[0].vectors.vector.dense.data), 0)

    def test_get_default_has_no_payload(self):
        got = self.points.Get(ppb.GetPoints(collection_name="demo",
                                            ids=[num(1)]), timeout=10).result
        self.assertEqual(len(got), 1)
        self.assertEqual(len(got[0].payload), 0)

    def test_payload_include_exclude(self):
        inc = self.points.Get(ppb.GetPoints(
            collection_name="demo", ids=[num(2)],
            with_payload=ppb.WithPayloadSelector(
                include=ppb.PayloadIncludeSelector(
                    fields=["city", "nested.x", "missing"]))),
            timeout=10).result[0]
        self.assertEqual(payload_of(inc), {"city": "London",
                                           "nested": {"x": 1.5}})
        exc = self.points.Get(ppb.GetPoints(
            collection_name="demo", ids=[num(2)],
            with_payload=ppb.WithPayloadSelector(
                exclude=ppb.PayloadExcludeSelector(
                    fields=["city", "nested.y"]))), timeout=10).result[0]
        self.assertEqual(payload_of(exc), {"tags": ["a", "b"],
                                           "nested": {"x": 1.5, "z": True}})

    def test_get_vectors(self):
        got = self.points.Get(ppb.GetPoints(
            collection_name="demo", ids=[num(5)],
            with_vectors=ppb.WithVectorsSelector(enable=True)),
            timeout=10).result[0]
        self.assertEqual(list(got.vectors.vector.dense.data),
                         [float(x) for x in
                          __import__("array").array("f", [0.9, 0.1, 0.2,
                                                          0.1])])

    def test_scroll_every_page(self):
        seen, offset, pages = [], None, 0
        while True:
            req = ppb.ScrollPoints(collection_name="demo", limit=2)
            if offset is not None:
                req.offset.CopyFrom(offset)
            res = self.points.Scroll(req, timeout=10)
            pages += 1
            seen += [id_of(p.id) for p in res.result]
            # Scroll returns payloads by default.
            self.assertTrue(all(len(p.payload) > 0 for p in res.result))
            if not res.HasField("next_page_offset"):
                break
            offset = res.next_page_offset
        self.assertEqual(seen, [1, 2, 3, 5, UUID])
        self.assertEqual(pages, 3)

    def test_count(self):
        res = self.points.Count(ppb.CountPoints(collection_name="demo",
                                                exact=True), timeout=10)
        self.assertEqual(res.result.count, len(DEMO_POINTS))

    def test_upsert_replace_and_delete(self):
        self.coll.Create(cpb.CreateCollection(
            collection_name="del",
            vectors_config=cpb.VectorsConfig(params=cpb.VectorParams(
                size=2, distance=cpb.Euclid))), timeout=10)
        self.points.Upsert(ppb.UpsertPoints(
            collection_name="del",
            points=[point(num(i), [i, 0], {"i": i}) for i in range(10)]),
            timeout=10)
        self.points.Upsert(ppb.UpsertPoints(
            collection_name="del", wait=False,
            points=[point(num(4), [40, 0], {"i": 40})]), timeout=10)
        res = self.points.Delete(ppb.DeletePoints(
            collection_name="del", wait=True,
            points=ppb.PointsSelector(points=ppb.PointsIdsList(
                ids=[num(2), num(3), num(77)]))), timeout=10)
        self.assertEqual(res.result.status, ppb.Completed)
        count = self.points.Count(ppb.CountPoints(collection_name="del"),
                                  timeout=10).result.count
        self.assertEqual(count, 8)
        got = self.points.Get(ppb.GetPoints(
            collection_name="del", ids=[num(2), num(4)],
            with_payload=ppb.WithPayloadSelector(enable=True)),
            timeout=10).result
        self.assertEqual([id_of(p.id) for p in got], [4])
        self.assertEqual(payload_of(got[0]), {"i": 40})
        # Euclid is the true distance, smaller first.
        hits = self.points.Search(ppb.SearchPoints(
            collection_name="del", vector=[0, 0], limit=3),
            timeout=10).result
        self.assertEqual([id_of(h.id) for h in hits], [0, 1, 5])
        self.assertEqual([h.score for h in hits], [0.0, 1.0, 5.0])

    # -- search and query -------------------------------------------

    def test_search(self):
        hits = self.points.Search(ppb.SearchPoints(
            collection_name="demo", vector=[1, 0, 0, 0], limit=3,
            with_payload=ppb.WithPayloadSelector(enable=True)),
            timeout=10).result
        self.assertEqual([id_of(h.id) for h in hits], [1, 5, 3])
        self.assertAlmostEqual(hits[0].score, 1.0, places=6)
        self.assertAlmostEqual(hits[1].score, 0.9, places=6)
        self.assertAlmostEqual(hits[2].score, 0.5, places=6)
        self.assertEqual(payload_of(hits[2]), {"city": "Paris"})

    def test_search_offset_threshold(self):
        hits = self.points.Search(ppb.SearchPoints(
            collection_name="demo", vector=[1, 0, 0, 0], limit=2, offset=1),
            timeout=10).result
        self.assertEqual([id_of(h.id) for h in hits], [5, 3])
        hits = self.points.Search(ppb.SearchPoints(
            collection_name="demo", vector=[1, 0, 0, 0], limit=10,
            score_threshold=0.5), timeout=10).result
        self.assertEqual([id_of(h.id) for h in hits], [1, 5])

    def test_search_batch(self):
        res = self.points.SearchBatch(ppb.SearchBatchPoints(
            collection_name="demo", search_points=[
                ppb.SearchPoints(vector=[0, 1, 0, 0], limit=1),
                ppb.SearchPoints(vector=[0, 0, 1, 0], limit=2)]),
            timeout=10).result
        self.assertEqual(len(res), 2)
        self.assertEqual([id_of(h.id) for h in res[0].result], [2])
        self.assertEqual([id_of(h.id) for h in res[1].result], [UUID, 5])

    def test_query_vector_and_id(self):
        q = ppb.Query(nearest=ppb.VectorInput(
            dense=ppb.DenseVector(data=[1, 0, 0, 0])))
        hits = self.points.Query(ppb.QueryPoints(
            collection_name="demo", query=q, limit=2, offset=1),
            timeout=10).result
        self.assertEqual([id_of(h.id) for h in hits], [5, 3])
        by_id = ppb.Query(nearest=ppb.VectorInput(id=num(1)))
        hits = self.points.Query(ppb.QueryPoints(
            collection_name="demo", query=by_id, limit=2,
            with_payload=ppb.WithPayloadSelector(
                include=ppb.PayloadIncludeSelector(fields=["city"]))),
            timeout=10).result
        self.assertEqual([id_of(h.id) for h in hits], [5, 3])
        self.assertEqual(payload_of(hits[0]), {"city": "Rome"})
        # No limit: Qdrant's default of 10 (here all five points).
        hits = self.points.Query(ppb.QueryPoints(
            collection_name="demo", query=q), timeout=10).result
        self.assertEqual(len(hits), 5)

    def test_query_batch(self):
        res = self.points.QueryBatch(ppb.QueryBatchPoints(
            collection_name="demo", query_points=[
                ppb.QueryPoints(query=ppb.Query(nearest=ppb.VectorInput(
                    dense=ppb.DenseVector(data=[0, 1, 0, 0]))), limit=1),
                ppb.QueryPoints(query=ppb.Query(nearest=ppb.VectorInput(
                    id=uuid(UUID))), limit=1)]), timeout=10).result
        self.assertEqual([id_of(h.id) for h in res[0].result], [2])
        self.assertEqual([id_of(h.id) for h in res[1].result], [5])

    def test_query_rejects_fusion(self):
        q = ppb.Query(fusion=ppb.RRF)
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.points.Query,
                          ppb.QueryPoints(collection_name="demo", query=q),
                          text="fusion")

    def test_named_vectors(self):
        self.coll.Create(cpb.CreateCollection(
            collection_name="named",
            vectors_config=cpb.VectorsConfig(params_map=cpb.VectorParamsMap(
                map={"img": cpb.VectorParams(size=2, distance=cpb.Cosine),
                     "txt": cpb.VectorParams(size=3, distance=cpb.Euclid)}))),
            timeout=10)
        pts = [
            ppb.PointStruct(id=num(1), vectors=ppb.Vectors(
                vectors=ppb.NamedVectors(vectors={
                    "img": ppb.Vector(dense=ppb.DenseVector(data=[2, 0])),
                    "txt": ppb.Vector(data=[0, 0, 0])}))),
            ppb.PointStruct(id=num(2), vectors=ppb.Vectors(
                vectors=ppb.NamedVectors(vectors={
                    "img": ppb.Vector(data=[0, 3]),
                    "txt": ppb.Vector(dense=ppb.DenseVector(
                        data=[3, 4, 0]))}))),
        ]
        self.points.Upsert(ppb.UpsertPoints(collection_name="named",
                                            points=pts, wait=True),
                           timeout=10)
        hits = self.points.Search(ppb.SearchPoints(
            collection_name="named", vector_name="txt", vector=[0, 0, 0],
            limit=2), timeout=10).result
        self.assertEqual([(id_of(h.id), h.score) for h in hits],
                         [(1, 0.0), (2, 5.0)])
        hits = self.points.Query(ppb.QueryPoints(
            collection_name="named", using="img",
            query=ppb.Query(nearest=ppb.VectorInput(
                dense=ppb.DenseVector(data=[0, 1]))),
            with_vectors=ppb.WithVectorsSelector(
                include=ppb.VectorsSelector(names=["img"]))),
            timeout=10).result
        self.assertEqual([id_of(h.id) for h in hits], [2, 1])
        self.assertAlmostEqual(hits[0].score, 1.0, places=6)
        named = hits[1].vectors.vectors.vectors
        self.assertEqual(list(named.keys()), ["img"])
        # Cosine vectors are stored normalised.
        self.assertEqual(list(named["img"].dense.data), [1.0, 0.0])
        info = self.coll.Get(cpb.GetCollectionInfoRequest(
            collection_name="named"), timeout=10).result
        vmap = info.config.params.vectors_config.params_map.map
        self.assertEqual(vmap["txt"].size, 3)
        self.assertEqual(vmap["txt"].distance, cpb.Euclid)
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.points.Search,
                          ppb.SearchPoints(collection_name="named",
                                           vector_name="nope",
                                           vector=[1, 2], limit=1),
                          text="nope")

    # -- errors ------------------------------------------------------

    def test_missing_collection(self):
        for fn, req in [
            (self.points.Search, ppb.SearchPoints(collection_name="nope",
                                                  vector=[1, 0, 0, 0],
                                                  limit=1)),
            (self.points.Upsert, ppb.UpsertPoints(collection_name="nope",
                                                  points=[])),
            (self.points.Count, ppb.CountPoints(collection_name="nope")),
            (self.coll.Get, cpb.GetCollectionInfoRequest(
                collection_name="nope")),
        ]:
            self.assertStatus(grpc.StatusCode.NOT_FOUND, fn, req)

    def test_wrong_dimension(self):
        e = self.assertStatus(
            grpc.StatusCode.INVALID_ARGUMENT, self.points.Upsert,
            ppb.UpsertPoints(collection_name="demo",
                             points=[point(num(50), [1, 2, 3])]))
        self.assertIn("expected 4, got 3", e.details())
        self.assertStatus(
            grpc.StatusCode.INVALID_ARGUMENT, self.points.Search,
            ppb.SearchPoints(collection_name="demo", vector=[1, 2], limit=1),
            text="expected 4, got 2")
        # Nothing of the failed batch was stored.
        got = self.points.Get(ppb.GetPoints(collection_name="demo",
                                            ids=[num(50)]), timeout=10)
        self.assertEqual(len(got.result), 0)

    def test_bad_uuid(self):
        for text in ["not-a-uuid", "123", "6f1c1e9c-0000-4000-8000-00000000000"]:
            self.assertStatus(
                grpc.StatusCode.INVALID_ARGUMENT, self.points.Upsert,
                ppb.UpsertPoints(collection_name="demo",
                                 points=[point(uuid(text), [1, 0, 0, 0])]),
                text="not a UUID")
        self.assertStatus(
            grpc.StatusCode.INVALID_ARGUMENT, self.points.Get,
            ppb.GetPoints(collection_name="demo", ids=[common.PointId()]))

    def test_filters(self):
        def keyword(key, value):
            return common.Condition(field=common.FieldCondition(
                key=key, match=common.Match(keyword=value)))
        paris = common.Filter(must=[keyword("city", "Paris")])
        hits = self.points.Search(ppb.SearchPoints(
            collection_name="demo", vector=[1, 0, 0, 0], limit=3,
            filter=paris), timeout=10).result
        self.assertEqual([id_of(h.id) for h in hits], [3])
        # n is 1 on point 1 and -7 on point 5; must_not drops Rome.
        numeric = common.Filter(
            must=[common.Condition(field=common.FieldCondition(
                key="n", range=common.Range(lte=1)))],
            must_not=[keyword("city", "Rome")])
        q = ppb.Query(nearest=ppb.VectorInput(
            dense=ppb.DenseVector(data=[1, 0, 0, 0])))
        hits = self.points.Query(ppb.QueryPoints(
            collection_name="demo", query=q, filter=numeric),
            timeout=10).result
        self.assertEqual([id_of(h.id) for h in hits], [1])
        either = common.Filter(should=[keyword("city", "Oslo"),
                                       keyword("city", "London")])
        page = self.points.Scroll(ppb.ScrollPoints(
            collection_name="demo", filter=either, limit=1), timeout=10)
        self.assertEqual([id_of(p.id) for p in page.result], [2])
        self.assertEqual(id_of(page.next_page_offset), UUID)
        n = self.points.Count(ppb.CountPoints(collection_name="demo",
                                              filter=either),
                              timeout=10).result.count
        self.assertEqual(n, 2)
        by_id = common.Filter(must=[common.Condition(
            has_id=common.HasIdCondition(has_id=[num(2), uuid(UUID)]))])
        n = self.points.Count(ppb.CountPoints(collection_name="demo",
                                              filter=by_id),
                              timeout=10).result.count
        self.assertEqual(n, 2)
        # An empty filter, or one of unset conditions, is no filter.
        for empty in [common.Filter(),
                      common.Filter(must=[common.Condition()])]:
            n = self.points.Count(ppb.CountPoints(collection_name="demo",
                                                  filter=empty),
                                  timeout=10).result.count
            self.assertEqual(n, len(DEMO_POINTS))
        # Invalid filters are reported with where they are.
        geo = common.Filter(should=[common.Condition(
            field=common.FieldCondition(key="loc",
                                        geo_radius=common.GeoRadius()))])
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.points.Scroll,
                          ppb.ScrollPoints(collection_name="demo",
                                           filter=geo),
                          text="filter.should[0]: geo conditions are not "
                               "supported")
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, self.points.Upsert,
                          ppb.UpsertPoints(collection_name="demo",
                                           update_filter=paris),
                          text="update_filter is not supported")

    def test_delete_by_filter(self):
        self.coll.Create(cpb.CreateCollection(
            collection_name="fdel",
            vectors_config=cpb.VectorsConfig(params=cpb.VectorParams(
                size=2, distance=cpb.Dot))), timeout=10)
        self.points.Upsert(ppb.UpsertPoints(
            collection_name="fdel", wait=True,
            points=[point(num(i), [1, i], {"even": i % 2 == 0})
                    for i in range(10)]), timeout=10)
        even = common.Filter(must=[common.Condition(
            field=common.FieldCondition(key="even",
                                        match=common.Match(boolean=True)))])
        self.points.Delete(ppb.DeletePoints(
            collection_name="fdel", wait=True,
            points=ppb.PointsSelector(filter=even)), timeout=10)
        left = self.points.Scroll(ppb.ScrollPoints(collection_name="fdel"),
                                  timeout=10).result
        self.assertEqual([id_of(p.id) for p in left], [1, 3, 5, 7, 9])
        # An empty filter matches every point, as in Qdrant.
        self.points.Delete(ppb.DeletePoints(
            collection_name="fdel", wait=True,
            points=ppb.PointsSelector(filter=common.Filter())), timeout=10)
        n = self.points.Count(ppb.CountPoints(collection_name="fdel"),
                              timeout=10).result.count
        self.assertEqual(n, 0)

    def test_payload_updates_and_indexes(self):
        self.coll.Create(cpb.CreateCollection(
            collection_name="pl",
            vectors_config=cpb.VectorsConfig(params=cpb.VectorParams(
                size=2, distance=cpb.Dot))), timeout=10)
        self.points.Upsert(ppb.UpsertPoints(
            collection_name="pl", wait=True,
            points=[point(num(i), [1, i], {"city": c, "n": i})
                    for i, c in enumerate(["Oslo", "Rome", "Oslo"])]),
            timeout=10)

        def payloads():
            got = self.points.Get(ppb.GetPoints(
                collection_name="pl", ids=[num(0), num(1), num(2)],
                with_payload=ppb.WithPayloadSelector(enable=True)),
                timeout=10).result
            return {id_of(p.id): payload_of(p) for p in got}

        def by_ids(*ids):
            return ppb.PointsSelector(points=ppb.PointsIdsList(
                ids=[num(i) for i in ids]))
        oslo = ppb.PointsSelector(filter=common.Filter(must=[
            common.Condition(field=common.FieldCondition(
                key="city", match=common.Match(keyword="Oslo")))]))

        # Set merges top-level keys; null removes one; key writes inside.
        res = self.points.SetPayload(ppb.SetPayloadPoints(
            collection_name="pl", wait=True, points_selector=by_ids(1),
            payload={"extra": value(True), "n": value(None)}), timeout=10)
        self.assertEqual(res.result.status, ppb.Completed)
        self.points.SetPayload(ppb.SetPayloadPoints(
            collection_name="pl", wait=True, points_selector=oslo,
            key="meta", payload={"k": value(7)}), timeout=10)
        self.assertEqual(payloads(), {
            0: {"city": "Oslo", "n": 0, "meta": {"k": 7}},
            1: {"city": "Rome", "extra": True},
            2: {"city": "Oslo", "n": 2, "meta": {"k": 7}}})

        self.points.DeletePayload(ppb.DeletePayloadPoints(
            collection_name="pl", wait=True, points_selector=oslo,
            keys=["meta.k", "n"]), timeout=10)
        self.points.OverwritePayload(ppb.SetPayloadPoints(
            collection_name="pl", wait=True, points_selector=by_ids(1),
            payload={"only": value("this")}), timeout=10)
        self.points.ClearPayload(ppb.ClearPayloadPoints(
            collection_name="pl", wait=True, points=by_ids(2)), timeout=10)
        self.assertEqual(payloads(), {0: {"city": "Oslo", "meta": {}},
                                      1: {"only": "this"}, 2: {}})

        # A payload index changes speed, not results.
        res = self.points.CreateFieldIndex(ppb.CreateFieldIndexCollection(
            collection_name="pl", wait=True, field_name="city",
            field_type=ppb.FieldTypeKeyword), timeout=10)
        self.assertEqual(res.result.status, ppb.Completed)
        n = self.points.Count(ppb.CountPoints(
            collection_name="pl", filter=oslo.filter), timeout=10)
        self.assertEqual(n.result.count, 1)
        self.assertStatus(grpc.StatusCode.ALREADY_EXISTS,
                          self.points.CreateFieldIndex,
                          ppb.CreateFieldIndexCollection(
                              collection_name="pl", field_name="city",
                              field_type=ppb.FieldTypeKeyword))
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT,
                          self.points.CreateFieldIndex,
                          ppb.CreateFieldIndexCollection(
                              collection_name="pl", field_name="loc",
                              field_type=ppb.FieldTypeGeo),
                          text="geo")
        self.points.DeleteFieldIndex(ppb.DeleteFieldIndexCollection(
            collection_name="pl", field_name="city"), timeout=10)
        self.assertStatus(grpc.StatusCode.NOT_FOUND,
                          self.points.DeleteFieldIndex,
                          ppb.DeleteFieldIndexCollection(
                              collection_name="pl", field_name="city"))
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT,
                          self.points.SetPayload,
                          ppb.SetPayloadPoints(collection_name="pl",
                                               payload={"a": value(1)}),
                          text="points selector is missing")

    def test_unknown_method(self):
        for path in ["/qdrant.Points/Recommend", "/qdrant.Points/Facet",
                     "/qdrant.Snapshots/Create", "/no.Such/Method"]:
            call = self.channel.unary_unary(path)
            self.assertStatus(grpc.StatusCode.UNIMPLEMENTED, call, b"")

    def test_invalid_utf8_payload(self):
        # Hand-built PointStruct whose payload string is the bytes c3 28.
        call = self.channel.unary_unary("/qdrant.Points/Upsert")
        good = ppb.UpsertPoints(collection_name="demo", points=[
            point(num(60), [1, 0, 0, 0], {"k": "XX"})]).SerializeToString()
        bad = good.replace(b"XX", b"\xc3\x28")
        self.assertStatus(grpc.StatusCode.INVALID_ARGUMENT, call, bad,
                          text="UTF-8")

    def test_gzip_request(self):
        channel = grpc.insecure_channel(
            self.server.address, compression=grpc.Compression.Gzip)
        points = pgrpc.PointsStub(channel)
        text = "compressible " * 500  # well above the 1 KiB gzip threshold
        points.Upsert(ppb.UpsertPoints(
            collection_name="demo", wait=True,
            points=[point(num(70), [0, 0, 0, 1], {"text": text})]),
            timeout=10)
        got = points.Get(ppb.GetPoints(
            collection_name="demo", ids=[num(70)],
            with_payload=ppb.WithPayloadSelector(enable=True)),
            timeout=10).result
        channel.close()
        self.assertEqual(payload_of(got[0]), {"text": text})
        self.points.Delete(ppb.DeletePoints(
            collection_name="demo", wait=True,
            points=ppb.PointsSelector(points=ppb.PointsIdsList(
                ids=[num(70)]))), timeout=10)


class ApiKeyTest(unittest.TestCase):
    def test_keys(self):
        with harness.Server(BINARY, SCRATCH,
                            ["--api-key", "admin-secret",
                             "--read-only-api-key", "reader"]) as server:
            channel = grpc.insecure_channel(server.address)
            coll = cgrpc.CollectionsStub(channel)
            health = qdrant_pb2_grpc.QdrantStub(channel)
            create = cpb.CreateCollection(
                collection_name="k", vectors_config=cpb.VectorsConfig(
                    params=cpb.VectorParams(size=2, distance=cpb.Dot)))
            list_req = cpb.ListCollectionsRequest()

            def status(fn, req, key):
                md = [("api-key", key)] if key is not None else None
                try:
                    fn(req, metadata=md, timeout=10)
                    return grpc.StatusCode.OK
                except grpc.RpcError as e:
                    return e.code()

            U = grpc.StatusCode.UNAUTHENTICATED
            self.assertEqual(status(health.HealthCheck,
                                    qdrant_pb2.HealthCheckRequest(), None), U)
            self.assertEqual(status(coll.List, list_req, None), U)
            self.assertEqual(status(coll.List, list_req, "admin-secreT"), U)
            self.assertEqual(status(coll.List, list_req, "admin-secret2"), U)
            self.assertEqual(status(coll.List, list_req, ""), U)
            self.assertEqual(status(coll.Create, create, "reader"),
                             grpc.StatusCode.PERMISSION_DENIED)
            self.assertEqual(status(coll.List, list_req, "reader"),
                             grpc.StatusCode.OK)
            self.assertEqual(status(coll.Create, create, "admin-secret"),
                             grpc.StatusCode.OK)
            points = pgrpc.PointsStub(channel)
            set_payload = ppb.SetPayloadPoints(
                collection_name="k", payload={"a": value(1)},
                points_selector=ppb.PointsSelector(
                    points=ppb.PointsIdsList(ids=[num(1)])))
            self.assertEqual(status(points.SetPayload, set_payload, "reader"),
                             grpc.StatusCode.PERMISSION_DENIED)
            self.assertEqual(status(points.SetPayload, set_payload,
                                    "admin-secret"), grpc.StatusCode.OK)
            channel.close()
            log = "".join(server.log)
            self.assertNotIn("admin-secret", log)
            self.assertNotIn("reader", log.replace("read-only", ""))

    def test_settings_precedence(self):
        # file < environment < flags
        with tempfile.NamedTemporaryFile("w", suffix=".json", dir=SCRATCH,
                                         delete=False) as f:
            json.dump({"api_key": "from-file", "threads": 2}, f)
        try:
            cases = [
                ([], {}, "from-file"),
                ([], {"STRATA_API_KEY": "from-env"}, "from-env"),
                (["--api-key", "from-flag"], {"STRATA_API_KEY": "from-env"},
                 "from-flag"),
            ]
            for flags, env, expected in cases:
                with harness.Server(BINARY, SCRATCH,
                                    ["--config", f.name] + flags,
                                    env=env) as server:
                    channel = grpc.insecure_channel(server.address)
                    health = qdrant_pb2_grpc.QdrantStub(channel)
                    for key in ["from-file", "from-env", "from-flag"]:
                        try:
                            health.HealthCheck(
                                qdrant_pb2.HealthCheckRequest(),
                                metadata=[("api-key", key)], timeout=10)
                            ok = True
                        except grpc.RpcError as e:
                            self.assertEqual(
                                e.code(), grpc.StatusCode.UNAUTHENTICATED)
                            ok = False
                        self.assertEqual(ok, key == expected, (flags, env,
                                                               key))
                    channel.close()
        finally:
            os.unlink(f.name)


class SettingsTest(unittest.TestCase):
    def run_serve(self, *args):
        return subprocess.run([BINARY, "serve", "--port", "0"] + list(args),
                              capture_output=True, text=True, timeout=60)

    def test_invalid_settings(self):
        tmp = tempfile.mkdtemp(prefix="settings-", dir=SCRATCH)
        config = os.path.join(tmp, "c.json")
        try:
            cases = [
                ('{"port": "x"}', [], 'port "x" is not an integer'),
                ('{"colour": 1}', [], 'unknown setting "colour"'),
                ('{"port": ', [], "cannot read configuration"),
                ("{}", ["--threads", "-1"], "threads"),
                ("{}", ["--max-message-mb", "0"], "max_message_mb"),
            ]
            for text, flags, message in cases:
                with open(config, "w") as f:
                    f.write(text)
                result = self.run_serve("--data", tmp, "--config", config,
                                        *flags)
                self.assertEqual(result.returncode, 2, (text, flags))
                self.assertIn(message, result.stderr)
            result = self.run_serve("--data", tmp, "--tls-key", config)
            self.assertEqual(result.returncode, 1)
            self.assertIn("TLS needs both", result.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_ipv6_loopback(self):
        try:
            server = harness.Server(BINARY, SCRATCH,
                                    ["--host", "::1"]).__enter__()
        except RuntimeError as e:
            self.skipTest("no IPv6 loopback: %s" % e)
        try:
            channel = grpc.insecure_channel("[::1]:%d" % server.port)
            reply = qdrant_pb2_grpc.QdrantStub(channel).HealthCheck(
                qdrant_pb2.HealthCheckRequest(), timeout=10)
            self.assertEqual(reply.title, "strata")
            channel.close()
        finally:
            server.__exit__(None, None, None)
        self.assertEqual(server.exit_code, 0)


class HnswTest(unittest.TestCase):
    def test_hnsw_settings_and_exact(self):
        with harness.Server(BINARY, SCRATCH) as server:
            channel = grpc.insecure_channel(server.address)
            coll = cgrpc.CollectionsStub(channel)
            points = pgrpc.PointsStub(channel)
            # Collection-wide m and ef_construct, a per-vector m, and a
            # 1 KB threshold so that the graph is used.
            coll.Create(cpb.CreateCollection(
                collection_name="h",
                hnsw_config=cpb.HnswConfigDiff(m=8, ef_construct=64,
                                               full_scan_threshold=1),
                vectors_config=cpb.VectorsConfig(params=cpb.VectorParams(
                    size=16, distance=cpb.Dot,
                    hnsw_config=cpb.HnswConfigDiff(m=12)))), timeout=10)
            info = coll.Get(cpb.GetCollectionInfoRequest(
                collection_name="h"), timeout=10).result
            h = info.config.params.vectors_config.params.hnsw_config
            self.assertEqual((h.m, h.ef_construct, h.full_scan_threshold),
                             (12, 64, 1))
            self.assertEqual(info.config.hnsw_config.m, 12)

            import random
            rng = random.Random(5)
            data = [[rng.uniform(-1, 1) for _ in range(16)]
                    for _ in range(2000)]
            points.Upsert(ppb.UpsertPoints(
                collection_name="h", wait=True,
                points=[point(num(i), v) for i, v in enumerate(data)]),
                timeout=60)
            info = coll.Get(cpb.GetCollectionInfoRequest(
                collection_name="h"), timeout=10).result
            self.assertEqual(info.points_count, 2000)
            self.assertLessEqual(info.indexed_vectors_count, 2000)

            # exact=True must return the brute-force top 10.
            import array
            as_f32 = [list(array.array("f", v)) for v in data]
            for _ in range(5):
                q = list(array.array("f", [rng.uniform(-1, 1)
                                           for _ in range(16)]))
                scores = sorted(((sum(a * b for a, b in zip(q, v)), i)
                                 for i, v in enumerate(as_f32)),
                                reverse=True)
                want = [i for _, i in scores[:10]]
                hits = points.Search(ppb.SearchPoints(
                    collection_name="h", vector=q, limit=10,
                    params=ppb.SearchParams(exact=True)), timeout=10).result
                self.assertEqual([id_of(x.id) for x in hits], want)
                approx = points.Query(ppb.QueryPoints(
                    collection_name="h", query=ppb.Query(
                        nearest=ppb.VectorInput(dense=ppb.DenseVector(
                            data=q))),
                    limit=10, params=ppb.SearchParams(hnsw_ef=256)),
                    timeout=10).result
                found = len(set(id_of(x.id) for x in approx) & set(want))
                self.assertGreaterEqual(found, 8)  # recall@10 of the graph

            # On a poor graph (m=2) the approximate search misses some
            # neighbours, so exact=True is seen to reach the engine.
            coll.Create(cpb.CreateCollection(
                collection_name="poor",
                hnsw_config=cpb.HnswConfigDiff(m=2, ef_construct=4,
                                               full_scan_threshold=1),
                vectors_config=cpb.VectorsConfig(params=cpb.VectorParams(
                    size=16, distance=cpb.Dot))), timeout=10)
            points.Upsert(ppb.UpsertPoints(
                collection_name="poor", wait=True,
                points=[point(num(i), v) for i, v in enumerate(data)]),
                timeout=60)
            misses = 0
            for _ in range(20):
                q = list(array.array("f", [rng.uniform(-1, 1)
                                           for _ in range(16)]))
                scores = sorted(((sum(a * b for a, b in zip(q, v)), i)
                                 for i, v in enumerate(as_f32)),
                                reverse=True)
                want = [i for _, i in scores[:10]]
                exact = points.Search(ppb.SearchPoints(
                    collection_name="poor", vector=q, limit=10,
                    params=ppb.SearchParams(exact=True)), timeout=10).result
                self.assertEqual([id_of(x.id) for x in exact], want)
                graph = points.Search(ppb.SearchPoints(
                    collection_name="poor", vector=q, limit=10,
                    params=ppb.SearchParams(hnsw_ef=10)), timeout=10).result
                misses += [id_of(x.id) for x in graph] != want
            self.assertGreater(misses, 0)

            # m out of the engine's range is rejected.
            with self.assertRaises(grpc.RpcError) as ctx:
                coll.Create(cpb.CreateCollection(
                    collection_name="badm",
                    hnsw_config=cpb.HnswConfigDiff(m=1),
                    vectors_config=cpb.VectorsConfig(params=cpb.VectorParams(
                        size=4, distance=cpb.Dot))), timeout=10)
            self.assertEqual(ctx.exception.code(),
                             grpc.StatusCode.INVALID_ARGUMENT)
            self.assertIn("m is 1", ctx.exception.details())
            channel.close()
        self.assertEqual(server.exit_code, 0)


class QuantizationTest(unittest.TestCase):
    """Scalar int8 quantization: create (collection-wide and per vector),
    the config returned by Get, search parameters, and rejections."""

    def scalar(self, **fields):
        return cpb.QuantizationConfig(scalar=cpb.ScalarQuantization(
            type=cpb.Int8, **fields))

    def test_quantization(self):
        import array
        import random
        with harness.Server(BINARY, SCRATCH) as server:
            channel = grpc.insecure_channel(server.address)
            coll = cgrpc.CollectionsStub(channel)
            points = pgrpc.PointsStub(channel)

            # Collection-wide config; a 1 KB threshold so that searches
            # walk the graph.
            coll.Create(cpb.CreateCollection(
                collection_name="q",
                hnsw_config=cpb.HnswConfigDiff(full_scan_threshold=1),
                quantization_config=self.scalar(quantile=0.95,
                                                always_ram=True),
                vectors_config=cpb.VectorsConfig(params=cpb.VectorParams(
                    size=16, distance=cpb.Dot))), timeout=10)
            info = coll.Get(cpb.GetCollectionInfoRequest(
                collection_name="q"), timeout=10).result
            for q in (info.config.quantization_config,
                      info.config.params.vectors_config.params
                      .quantization_config):
                self.assertEqual(q.WhichOneof("quantization"), "scalar")
                self.assertEqual(q.scalar.type, cpb.Int8)
                self.assertAlmostEqual(q.scalar.quantile, 0.95, places=6)
                self.assertTrue(q.scalar.always_ram)

            # Per vector: "a" with the default quantile, "b" without
            # quantization, so no collection-wide config comes back.
            coll.Create(cpb.CreateCollection(
                collection_name="qv",
                vectors_config=cpb.VectorsConfig(params_map=cpb.VectorParamsMap(
                    map={"a": cpb.VectorParams(
                        size=8, distance=cpb.Euclid,
                        quantization_config=self.scalar()),
                         "b": cpb.VectorParams(size=8,
                                               distance=cpb.Cosine)}))),
                timeout=10)
            info = coll.Get(cpb.GetCollectionInfoRequest(
                collection_name="qv"), timeout=10).result
            vectors = info.config.params.vectors_config.params_map.map
            a = vectors["a"].quantization_config.scalar
            self.assertEqual(a.type, cpb.Int8)
            self.assertAlmostEqual(a.quantile, 0.99, places=6)
            self.assertFalse(a.always_ram)
            self.assertFalse(vectors["b"].HasField("quantization_config"))
            self.assertFalse(info.config.HasField("quantization_config"))

            rng = random.Random(11)
            data = [list(array.array("f", [rng.uniform(-1, 1)
                                           for _ in range(16)]))
                    for _ in range(2000)]
            points.Upsert(ppb.UpsertPoints(
                collection_name="q", wait=True,
                points=[point(num(i), v) for i, v in enumerate(data)]),
                timeout=60)

            def search(q, **params):
                return points.Search(ppb.SearchPoints(
                    collection_name="q", vector=q, limit=10,
                    params=ppb.SearchParams(**params)), timeout=10).result

            found = estimated = 0
            for _ in range(10):
                q = list(array.array("f", [rng.uniform(-1, 1)
                                           for _ in range(16)]))
                exact = {id_of(x.id): x.score
                         for x in search(q, exact=True)}
                # Rescored scores are exact dot products.
                rescored = search(q, quantization=ppb.QuantizationSearchParams(
                    rescore=True, oversampling=2.0))
                self.assertEqual(len(rescored), 10)
                for x in rescored:
                    want = sum(a * b for a, b in zip(q, data[id_of(x.id)]))
                    self.assertAlmostEqual(x.score, want, places=4)
                found += len(set(id_of(x.id) for x in rescored) &
                             set(exact))
                # Without rescoring the scores are estimates from codes.
                raw = search(q, quantization=ppb.QuantizationSearchParams(
                    rescore=False))
                estimated += sum(
                    abs(x.score - sum(a * b for a, b in
                                      zip(q, data[id_of(x.id)]))) > 1e-3
                    for x in raw)
                # Ignoring the codes walks the float vectors: exact scores.
                ignored = search(q, quantization=ppb.QuantizationSearchParams(
                    ignore=True, rescore=False))
                for x in ignored:
                    want = sum(a * b for a, b in zip(q, data[id_of(x.id)]))
                    self.assertAlmostEqual(x.score, want, places=4)
                # Query takes the same parameters.
                queried = points.Query(ppb.QueryPoints(
                    collection_name="q", query=ppb.Query(
                        nearest=ppb.VectorInput(dense=ppb.DenseVector(
                            data=q))),
                    limit=10, params=ppb.SearchParams(
                        quantization=ppb.QuantizationSearchParams(
                            rescore=True))), timeout=10).result
                self.assertEqual(len(queried), 10)
            self.assertGreaterEqual(found, 90)  # recall@10 over 10 queries
            self.assertGreater(estimated, 0)

            def rejected(request, text):
                with self.assertRaises(grpc.RpcError) as ctx:
                    coll.Create(request, timeout=10)
                self.assertEqual(ctx.exception.code(),
                                 grpc.StatusCode.INVALID_ARGUMENT,
                                 ctx.exception.details())
                self.assertIn(text, ctx.exception.details())
                exists = coll.CollectionExists(cpb.CollectionExistsRequest(
                    collection_name=request.collection_name), timeout=10)
                self.assertFalse(exists.result.exists)

            vc = cpb.VectorsConfig(params=cpb.VectorParams(
                size=4, distance=cpb.Dot))
            rejected(cpb.CreateCollection(
                collection_name="pq", vectors_config=vc,
                quantization_config=cpb.QuantizationConfig(
                    product=cpb.ProductQuantization())),
                "product quantization is not supported")
            rejected(cpb.CreateCollection(
                collection_name="bq", vectors_config=cpb.VectorsConfig(
                    params=cpb.VectorParams(
                        size=4, distance=cpb.Dot,
                        quantization_config=cpb.QuantizationConfig(
                            binary=cpb.BinaryQuantization())))),
                "binary quantization is not supported")
            rejected(cpb.CreateCollection(
                collection_name="uq", vectors_config=vc,
                quantization_config=cpb.QuantizationConfig(
                    scalar=cpb.ScalarQuantization())),
                "type 0 is not supported")
            rejected(cpb.CreateCollection(
                collection_name="q15", vectors_config=vc,
                quantization_config=self.scalar(quantile=1.5)),
                "quantile 1.5 is invalid")
            rejected(cpb.CreateCollection(
                collection_name="q0", vectors_config=vc,
                quantization_config=self.scalar(quantile=0)),
                "quantile 0 is invalid")
            with self.assertRaises(grpc.RpcError) as ctx:
                search([0.0] * 16, quantization=ppb.QuantizationSearchParams(
                    oversampling=0.5))
            self.assertEqual(ctx.exception.code(),
                             grpc.StatusCode.INVALID_ARGUMENT)
            self.assertIn("oversampling 0.5 is invalid",
                          ctx.exception.details())
            channel.close()
        self.assertEqual(server.exit_code, 0)


class OnDiskTest(unittest.TestCase):
    """VectorParams.on_disk: set on Create, returned by Get, kept across a
    restart, the same search results as a collection on the heap, and a
    directory per collection that Delete removes."""

    def params(self, **fields):
        return cpb.VectorParams(
            size=16, distance=cpb.Euclid,
            quantization_config=cpb.QuantizationConfig(
                scalar=cpb.ScalarQuantization(type=cpb.Int8)),
            **fields)

    def test_on_disk(self):
        import array
        import random
        data_dir = tempfile.mkdtemp(prefix="api-ondisk-", dir=SCRATCH)
        collections_dir = os.path.join(data_dir, "collections")
        rng = random.Random(17)
        data = [list(array.array("f", [rng.uniform(-1, 1)
                                       for _ in range(16)]))
                for _ in range(2000)]
        queries = [list(array.array("f", [rng.uniform(-1, 1)
                                          for _ in range(16)]))
                   for _ in range(5)]
        try:
            with harness.Server(BINARY, SCRATCH,
                                data_dir=data_dir) as server:
                channel = grpc.insecure_channel(server.address)
                coll = cgrpc.CollectionsStub(channel)
                points = pgrpc.PointsStub(channel)
                # Ids 1, 2 and 3 in the order of creation.
                for name, params in (("disk", self.params(on_disk=True)),
                                     ("heap", self.params())):
                    coll.Create(cpb.CreateCollection(
                        collection_name=name,
                        hnsw_config=cpb.HnswConfigDiff(full_scan_threshold=1),
                        vectors_config=cpb.VectorsConfig(params=params)),
                        timeout=10)
                coll.Create(cpb.CreateCollection(
                    collection_name="named",
                    vectors_config=cpb.VectorsConfig(
                        params_map=cpb.VectorParamsMap(map={
                            "a": cpb.VectorParams(size=4, distance=cpb.Dot,
                                                  on_disk=True),
                            "b": cpb.VectorParams(size=4, distance=cpb.Dot,
                                                  on_disk=False)}))),
                    timeout=10)
                self.check_flags(coll)
                # The files have no names: one empty directory per
                # collection with an on_disk vector.
                self.assertEqual(sorted(os.listdir(collections_dir)),
                                 ["c1", "c3"])
                for sub in ("c1", "c3"):
                    self.assertEqual(
                        os.listdir(os.path.join(collections_dir, sub)), [])

                for name in ("disk", "heap"):
                    points.Upsert(ppb.UpsertPoints(
                        collection_name=name, wait=True,
                        points=[point(num(i), v)
                                for i, v in enumerate(data)]), timeout=60)
                before = self.compare(points, queries)
                channel.close()
            self.assertEqual(server.exit_code, 0)
            self.assertEqual(sorted(os.listdir(collections_dir)),
                             ["c1", "c3"])

            with harness.Server(BINARY, SCRATCH,
                                data_dir=data_dir) as server:
                channel = grpc.insecure_channel(server.address)
                coll = cgrpc.CollectionsStub(channel)
                points = pgrpc.PointsStub(channel)
                self.check_flags(coll)
                self.assertEqual(self.compare(points, queries), before)
                coll.Delete(cpb.DeleteCollection(collection_name="disk"),
                            timeout=10)
                self.assertEqual(os.listdir(collections_dir), ["c3"])
                channel.close()
            self.assertEqual(server.exit_code, 0)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)

    def check_flags(self, coll):
        def get(name):
            return coll.Get(cpb.GetCollectionInfoRequest(
                collection_name=name), timeout=10).result.config.params

        disk = get("disk").vectors_config.params
        self.assertTrue(disk.HasField("on_disk"))
        self.assertTrue(disk.on_disk)
        self.assertFalse(get("heap").vectors_config.params.HasField(
            "on_disk"))
        named = get("named").vectors_config.params_map.map
        self.assertTrue(named["a"].on_disk)
        # The engine stores no difference between false and unset.
        self.assertFalse(named["b"].HasField("on_disk"))

    def compare(self, points, queries):
        """Searches both collections (graph on int8 codes, graph on
        floats, exact); asserts equal ids and scores and returns them."""
        results = []
        for q in queries:
            for params in (ppb.SearchParams(),
                           ppb.SearchParams(
                               quantization=ppb.QuantizationSearchParams(
                                   ignore=True)),
                           ppb.SearchParams(exact=True)):
                got = {}
                for name in ("disk", "heap"):
                    hits = points.Search(ppb.SearchPoints(
                        collection_name=name, vector=q, limit=10,
                        params=params), timeout=10).result
                    got[name] = [(id_of(x.id), x.score) for x in hits]
                self.assertEqual(len(got["disk"]), 10)
                self.assertEqual(got["disk"], got["heap"])
                results.append(got["disk"])
        return results


class InvalidNamesTest(unittest.TestCase):
    def test_names_not_utf8(self):
        # The engine refuses names that are not UTF-8, so a collection
        # created through the command-line tool never reaches clients
        # with an undecodable name.
        data_dir = tempfile.mkdtemp(prefix="names-", dir=SCRATCH)
        try:
            subprocess.run([BINARY.encode(), b"create", b"--data",
                            data_dir.encode(), b"good", b"--dim", b"2",
                            b"--distance", b"Dot"], check=True)
            bad = subprocess.run([BINARY.encode(), b"create", b"--data",
                                  data_dir.encode(), b"bad\xff", b"--dim",
                                  b"2", b"--distance", b"Dot"],
                                 capture_output=True)
            self.assertNotEqual(bad.returncode, 0)
            self.assertIn(b"not valid UTF-8", bad.stderr)
            with harness.Server(BINARY, SCRATCH, data_dir=data_dir) as s:
                channel = grpc.insecure_channel(s.address)
                coll = cgrpc.CollectionsStub(channel)
                names = [c.name for c in coll.List(
                    cpb.ListCollectionsRequest(), timeout=10).collections]
                self.assertEqual(names, ["good"])
                channel.close()
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)


@unittest.skipIf(shutil.which("openssl") is None, "openssl is not installed")
class TlsTest(unittest.TestCase):
    def test_tls(self):
        tmp = tempfile.mkdtemp(prefix="tls-", dir=SCRATCH)
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        try:
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                 "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                 "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                check=True, capture_output=True)
            with harness.Server(BINARY, SCRATCH, ["--tls-cert", cert,
                                                  "--tls-key", key]) as s:
                self.assertIn("(TLS)", "".join(s.log))
                with open(cert, "rb") as f:
                    creds = grpc.ssl_channel_credentials(
                        root_certificates=f.read())
                channel = grpc.secure_channel(s.address, creds)
                reply = qdrant_pb2_grpc.QdrantStub(channel).HealthCheck(
                    qdrant_pb2.HealthCheckRequest(), timeout=10)
                self.assertEqual(reply.title, "strata")
                channel.close()
                plain = grpc.insecure_channel(s.address)
                with self.assertRaises(grpc.RpcError) as ctx:
                    qdrant_pb2_grpc.QdrantStub(plain).HealthCheck(
                        qdrant_pb2.HealthCheckRequest(), timeout=5)
                self.assertIn(ctx.exception.code(),
                              [grpc.StatusCode.UNAVAILABLE,
                               grpc.StatusCode.DEADLINE_EXCEEDED])
                plain.close()
            self.assertEqual(s.exit_code, 0)
            # A certificate without its key is a configuration error.
            with self.assertRaises(RuntimeError):
                with harness.Server(BINARY, SCRATCH, ["--tls-cert", cert]):
                    pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
