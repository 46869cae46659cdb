"""Starts a `strata serve` process for the API tests and generates the
Python gRPC stubs from api/proto/ into the build tree.

Every test gets its own server on 127.0.0.1 with a free port (port 0,
read back from the start log line) and its own data directory, and the
server is always killed when the test ends.
"""
import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

SOURCE_DIR = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(SOURCE_DIR, "..", "..", "api", "proto")
PROTOS = ["common.proto", "qdrant.proto", "collections.proto", "points.proto"]


def load_stubs(parent_dir):
    """Generates the stubs with protoc and grpc_python_plugin into a new
    directory under parent_dir and puts it on sys.path.  Each test process
    gets its own directory, because ctest -j runs the tests at once."""
    os.makedirs(parent_dir, exist_ok=True)
    out_dir = tempfile.mkdtemp(prefix="stubs-", dir=parent_dir)
    atexit.register(shutil.rmtree, out_dir, True)
    subprocess.run(
        ["protoc", "-I" + PROTO_DIR, "-I/usr/include",
         "--python_out=" + out_dir,
         "--grpc_python_out=" + out_dir,
         "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin"]
        + [os.path.join(PROTO_DIR, p) for p in PROTOS],
        check=True)
    if out_dir not in sys.path:
        sys.path.insert(0, out_dir)


_running = []


@atexit.register
def _kill_leftovers():
    """Kills servers that a failed test left running."""
    for server in list(_running):
        server.kill()


class Server:
    """A running `strata serve`; use as a context manager."""

    def __init__(self, binary, scratch, args=(), env=None, data_dir=None):
        self.binary = binary
        self.scratch = scratch
        self.args = list(args)
        self.env = dict(os.environ)
        for name in ["STRATA_DATA", "STRATA_HOST", "STRATA_PORT",
                     "STRATA_API_KEY", "STRATA_READ_ONLY_API_KEY"]:
            self.env.pop(name, None)
        self.env.update(env or {})
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="api-",
                                                     dir=scratch)
        self.proc = None
        self.exit_code = None
        self.port = None
        self.log = []

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        # Stop with SIGTERM, so that sanitizer builds check the shutdown
        # path for leaks; kill only if that hangs.
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.stop(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--data", self.data_dir, "--port", "0",
             "--threads", "2"] + self.args,
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True, errors="replace")
        _running.append(self)
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.append(line)
            match = re.search(r"port (\d+)", line)
            if "started" in line and match:
                self.port = int(match.group(1))
                break
        if self.port is None:
            self.kill()
            raise RuntimeError("server did not start:\n" + "".join(self.log))
        # Keep reading the log so the pipe never fills.
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stderr:
            self.log.append(line)

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Sends `sig` and returns the exit code."""
        self.proc.send_signal(sig)
        self.exit_code = self.proc.wait(timeout=timeout)
        return self.exit_code

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        if self in _running:
            _running.remove(self)
