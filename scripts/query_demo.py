#!/usr/bin/python3
"""Queries the server that scripts/demo.sh starts, over gRPC with Qdrant's
API: lists the collections, then finds the documentation chunks nearest
to chunk 5 of fiori-docs and prints their titles.

usage: /usr/bin/python3 scripts/query_demo.py [--address HOST:PORT] [--id N]

Needs Debian's python3-grpcio (for /usr/bin/python3), protobuf-compiler
and protobuf-compiler-grpc, which scripts/install-deps.sh installs.  The
Python stubs are generated from api/proto/ into a temporary directory on
each run.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import grpc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROTO_DIR = os.path.join(ROOT, "api", "proto")
PROTOS = ["common.proto", "qdrant.proto", "collections.proto", "points.proto"]


def generate_stubs(out_dir):
    subprocess.run(
        ["protoc", "-I" + PROTO_DIR, "-I/usr/include",
         "--python_out=" + out_dir, "--grpc_python_out=" + out_dir,
         "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin"]
        + [os.path.join(PROTO_DIR, p) for p in PROTOS],
        check=True)
    sys.path.insert(0, out_dir)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--address", default="127.0.0.1:6334",
                        help="server address (default 127.0.0.1:6334)")
    parser.add_argument("--id", type=int, default=5,
                        help="fiori-docs chunk to find neighbours of "
                             "(default 5)")
    args = parser.parse_args()

    stubs = tempfile.mkdtemp(prefix="strata-stubs-")
    try:
        generate_stubs(stubs)
        import collections_pb2 as cpb
        import collections_pb2_grpc as cgrpc
        import common_pb2 as common
        import points_pb2 as ppb
        import points_pb2_grpc as pgrpc

        with grpc.insecure_channel(args.address) as channel:
            listed = cgrpc.CollectionsStub(channel).List(
                cpb.ListCollectionsRequest(), timeout=10)
            print("collections:",
                  ", ".join(c.name for c in listed.collections))
            reply = pgrpc.PointsStub(channel).Query(ppb.QueryPoints(
                collection_name="fiori-docs",
                query=ppb.Query(nearest=ppb.VectorInput(
                    id=common.PointId(num=args.id))),
                limit=5,
                with_payload=ppb.WithPayloadSelector(
                    include=ppb.PayloadIncludeSelector(fields=["title"]))),
                timeout=10)
        print("chunks nearest to chunk %d of fiori-docs:" % args.id)
        for hit in reply.result:
            title = hit.payload["title"].string_value
            print("  %5d  %.4f  %s" % (hit.id.num, hit.score, title))
    except grpc.RpcError as err:
        print("query_demo: %s failed: %s: %s" % (
            args.address, err.code().name, err.details()), file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(stubs, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
