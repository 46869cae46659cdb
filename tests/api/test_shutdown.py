"""SIGTERM while calls are in flight: the calls already running finish
with OK, the process exits 0, and a new server on the same data directory
contains every point whose upsert was acknowledged.  Also: a batch whose
deadline passes while it runs is stopped by the server.

usage: test_shutdown.py STRATA_BINARY SCRATCH_DIR STUBS_DIR
"""
import random
import shutil
import sys
import tempfile
import threading
import time
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

DIM = 64
BASE_POINTS = 5000


def dense_point(pid, rng):
    return ppb.PointStruct(
        id=common.PointId(num=pid),
        vectors=ppb.Vectors(vector=ppb.Vector(dense=ppb.DenseVector(
            data=[rng.random() for _ in range(DIM)]))),
        payload={"pid": common.Value(integer_value=pid)})


class ShutdownTest(unittest.TestCase):
    def test_sigterm_in_flight(self):
        data_dir = tempfile.mkdtemp(prefix="shutdown-", dir=SCRATCH)
        rng = random.Random(7)
        try:
            self.run_flow(data_dir, rng)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)

    def run_flow(self, data_dir, rng):
        server = harness.Server(BINARY, SCRATCH, data_dir=data_dir,
                                args=["--threads", "4"])
        with server:
            channel = grpc.insecure_channel(server.address)
            points = pgrpc.PointsStub(channel)
            cgrpc.CollectionsStub(channel).Create(cpb.CreateCollection(
                collection_name="s", vectors_config=cpb.VectorsConfig(
                    params=cpb.VectorParams(size=DIM, distance=cpb.Dot))),
                timeout=10)
            for start in range(0, BASE_POINTS, 1000):
                points.Upsert(ppb.UpsertPoints(
                    collection_name="s",
                    points=[dense_point(i, rng)
                            for i in range(start, start + 1000)]),
                    timeout=60)

            # A SearchBatch slow enough (about a second) to be in flight
            # when the signal arrives.
            n_queries = 16
            while True:
                batch = ppb.SearchBatchPoints(collection_name="s", search_points=[
                    ppb.SearchPoints(vector=[rng.random() for _ in range(DIM)],
                                     limit=5,
                                     params=ppb.SearchParams(exact=True))
                    for _ in range(n_queries)])
                t0 = time.time()
                points.SearchBatch(batch, timeout=120)
                if time.time() - t0 > 0.8 or n_queries >= 8192:
                    break
                n_queries *= 2

            # Writers: each upserts fresh ids until the server goes away.
            acked = []
            lock = threading.Lock()
            stop = threading.Event()

            def writer(first):
                pid = first
                while not stop.is_set():
                    try:
                        points.Upsert(ppb.UpsertPoints(
                            collection_name="s",
                            points=[dense_point(pid, random.Random(pid))]),
                            timeout=30)
                    except grpc.RpcError:
                        return
                    with lock:
                        acked.append(pid)
                    pid += 1

            writers = [threading.Thread(target=writer,
                                        args=(1000000 * (k + 1),))
                       for k in range(3)]
            for w in writers:
                w.start()
            time.sleep(0.3)
            slow = points.SearchBatch.future(batch, timeout=120)
            time.sleep(0.2)
            code = server.stop(timeout=120)
            # The search was running when SIGTERM arrived: it completes.
            result = slow.result()
            self.assertEqual(len(result.result), n_queries)
            self.assertTrue(all(len(r.result) == 5 for r in result.result))
            stop.set()
            for w in writers:
                w.join(timeout=60)
            channel.close()
            self.assertEqual(code, 0, "".join(server.log))
            log = "".join(server.log)
            self.assertIn("stopping on SIGTERM", log)
            self.assertIn("stopped after", log)
            self.assertGreater(len(acked), 0)

        # Everything acknowledged is in the reopened database.
        with harness.Server(BINARY, SCRATCH, data_dir=data_dir) as again:
            channel = grpc.insecure_channel(again.address)
            points = pgrpc.PointsStub(channel)
            count = points.Count(ppb.CountPoints(collection_name="s"),
                                 timeout=30).result.count
            self.assertGreaterEqual(count, BASE_POINTS + len(acked))
            got = points.Get(ppb.GetPoints(
                collection_name="s",
                ids=[common.PointId(num=p) for p in acked]),
                timeout=60).result
            self.assertEqual(sorted(p.id.num for p in got), sorted(acked))
            channel.close()
        self.assertEqual(again.exit_code, 0, "".join(again.log))

    def test_deadline_stops_batch(self):
        rng = random.Random(11)
        with harness.Server(BINARY, SCRATCH) as server:
            channel = grpc.insecure_channel(server.address)
            points = pgrpc.PointsStub(channel)
            cgrpc.CollectionsStub(channel).Create(cpb.CreateCollection(
                collection_name="d", vectors_config=cpb.VectorsConfig(
                    params=cpb.VectorParams(size=DIM, distance=cpb.Dot))),
                timeout=10)
            points.Upsert(ppb.UpsertPoints(
                collection_name="d",
                points=[dense_point(i, rng) for i in range(5000)]),
                timeout=60)
            batch = ppb.SearchBatchPoints(collection_name="d", search_points=[
                ppb.SearchPoints(vector=[rng.random() for _ in range(DIM)],
                                 limit=3) for _ in range(20000)])
            with self.assertRaises(grpc.RpcError) as ctx:
                points.SearchBatch(batch, timeout=0.3)
            self.assertEqual(ctx.exception.code(),
                             grpc.StatusCode.DEADLINE_EXCEEDED)
            # The server noticed and stopped the batch part-way.
            deadline = time.time() + 30
            while time.time() < deadline and not any(
                    "SearchBatch failed: DEADLINE_EXCEEDED" in line
                    for line in server.log):
                time.sleep(0.05)
            log = "".join(server.log)
            self.assertIn("SearchBatch failed: DEADLINE_EXCEEDED", log)
            self.assertRegex(log, r"after \d+ of 20000 searches")
            channel.close()
        self.assertEqual(server.exit_code, 0)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
