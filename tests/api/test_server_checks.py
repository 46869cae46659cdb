"""Checks of two server edges: Upsert of points without a vector, and
`strata serve` on a port that another server holds.

usage: test_server_checks.py STRATA_BINARY SCRATCH_DIR STUBS_DIR
"""
import re
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

UUID = "6f1c1e9c-0000-4000-8000-0000000000aa"
# The format of strata_server_log: UTC time, then "strata: ".
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z strata: ")


def dense(pid, vec):
    return ppb.PointStruct(id=pid, vectors=ppb.Vectors(
        vector=ppb.Vector(dense=ppb.DenseVector(data=vec))))


class UpsertWithoutVectorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.Server(BINARY, SCRATCH).__enter__()
        cls.channel = grpc.insecure_channel(cls.server.address)
        cls.points = pgrpc.PointsStub(cls.channel)
        cgrpc.CollectionsStub(cls.channel).Create(cpb.CreateCollection(
            collection_name="v", vectors_config=cpb.VectorsConfig(
                params=cpb.VectorParams(size=2, distance=cpb.Dot))),
            timeout=10)
        cls.points.Upsert(ppb.UpsertPoints(
            collection_name="v", wait=True,
            points=[dense(common.PointId(num=1), [1, 0])]), timeout=10)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.__exit__(None, None, None)
        assert cls.server.exit_code == 0, "".join(cls.server.log)

    def upsert_error(self, points):
        with self.assertRaises(grpc.RpcError) as ctx:
            self.points.Upsert(ppb.UpsertPoints(
                collection_name="v", wait=True, points=points), timeout=10)
        return ctx.exception

    def count(self):
        return self.points.Count(ppb.CountPoints(collection_name="v"),
                                 timeout=10).result.count

    def test_point_without_vectors_field(self):
        err = self.upsert_error([ppb.PointStruct(
            id=common.PointId(num=7),
            payload={"a": common.Value(integer_value=1)})])
        self.assertEqual(err.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("point 7 has no vector", err.details())

    def test_empty_vectors_message(self):
        err = self.upsert_error([ppb.PointStruct(
            id=common.PointId(uuid=UUID), vectors=ppb.Vectors())])
        self.assertEqual(err.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("point %s has no vector" % UUID, err.details())

    def test_batch_stores_nothing(self):
        # The batch fails whole: the valid point before the bad one is
        # not stored either.
        before = self.count()
        err = self.upsert_error([
            dense(common.PointId(num=2), [0, 1]),
            ppb.PointStruct(id=common.PointId(num=3))])
        self.assertEqual(err.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("point 3 has no vector", err.details())
        self.assertEqual(self.count(), before)
        got = self.points.Get(ppb.GetPoints(
            collection_name="v", ids=[common.PointId(num=2)]), timeout=10)
        self.assertEqual(len(got.result), 0)

    def test_point_with_vector_still_accepted(self):
        self.points.Upsert(ppb.UpsertPoints(
            collection_name="v", wait=True,
            points=[dense(common.PointId(num=4), [0.5, 0.5])]), timeout=10)
        got = self.points.Get(ppb.GetPoints(
            collection_name="v", ids=[common.PointId(num=4)]), timeout=10)
        self.assertEqual(len(got.result), 1)


class BusyPortTest(unittest.TestCase):
    def test_busy_port_logs_one_line(self):
        tmp = tempfile.mkdtemp(prefix="busy-", dir=SCRATCH)
        try:
            with harness.Server(BINARY, SCRATCH) as first:
                proc = subprocess.run(
                    [BINARY, "serve", "--data", tmp, "--port",
                     str(first.port)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                    text=True, errors="replace", timeout=60)
            self.assertNotEqual(proc.returncode, 0, proc.stderr)
            lines = proc.stderr.splitlines()
            self.assertGreater(len(lines), 0)
            # Every line is ours; gRPC core's own format ("E1204
            # 18:00:00.000 chttp2_server.cc:...]") must not appear.
            for line in lines:
                self.assertRegex(line, LOG_LINE)
            expected = ("cannot listen on 127.0.0.1:%d: Address already in "
                        "use" % first.port)
            self.assertIn(expected, lines[0])
            self.assertIn("choose another address with --host and --port",
                          lines[0])
            self.assertEqual(len(lines), 1, proc.stderr)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
