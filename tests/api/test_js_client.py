"""Runs Qdrant's JavaScript gRPC client (js/flow.mjs) against two
servers: one without a key, one with an API key.  The client and its
dependencies are installed with `npm ci` from js/package-lock.json into
the build tree.  When npm cannot install them (without network access,
say), the test is skipped with exit code 77.

usage: test_js_client.py STRATA_BINARY SCRATCH_DIR STUBS_DIR JS_BUILD_DIR
"""
import os
import shutil
import subprocess
import sys

import harness

BINARY, SCRATCH, _STUBS, JS_DIR = sys.argv[1:5]
SOURCE = os.path.join(harness.SOURCE_DIR, "js")
SKIP = 77


def install():
    """Copies the package files into JS_DIR and runs `npm ci` when the
    lockfile changed since the last install."""
    os.makedirs(JS_DIR, exist_ok=True)
    for name in ["package.json", "package-lock.json", "flow.mjs"]:
        shutil.copyfile(os.path.join(SOURCE, name),
                        os.path.join(JS_DIR, name))
    lock = open(os.path.join(SOURCE, "package-lock.json"), "rb").read()
    stamp = os.path.join(JS_DIR, "node_modules", ".strata-lock")
    if os.path.exists(stamp) and open(stamp, "rb").read() == lock:
        return True
    result = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"],
                            cwd=JS_DIR, capture_output=True, text=True,
                            timeout=300)
    if result.returncode != 0:
        print("skipped: npm ci failed:\n" + result.stderr[-2000:])
        return False
    with open(stamp, "wb") as f:
        f.write(lock)
    return True


def main():
    if shutil.which("node") is None or shutil.which("npm") is None:
        print("skipped: node and npm are not installed")
        return SKIP
    if not install():
        return SKIP
    key = "js-test-key"
    with harness.Server(BINARY, SCRATCH) as main_server, \
            harness.Server(BINARY, SCRATCH, ["--api-key", key]) as keyed:
        result = subprocess.run(
            ["node", "flow.mjs", str(main_server.port), str(keyed.port), key],
            cwd=JS_DIR, timeout=120)
    for server in (main_server, keyed):
        if server.exit_code != 0:
            print("server exited with %s:\n%s" % (server.exit_code,
                                                   "".join(server.log)))
            return 1
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
