"""Runs Optimizely Agent's acceptance suite against a target on loopback.

test.sh prepares everything (Agent's source, the venv, the binaries) and
calls this once per target:

    run.py --target serve --agent-src DIR --bin STICKYBUCKET [pytest args]
    run.py --target agent --agent-src DIR --bin OPTIMIZELY [--record] [pytest args]

It writes the acceptance project's datafile (tests/acceptance/datafile.py in
Agent's source) to JSON, serves it and takes events on a local HTTP server,
starts the target with that datafile under the suite's SDK key, runs pytest
with the expectations plugin (stickybucket_acceptance.py) and stops the
target. Nothing leaves loopback: Agent fetches the datafile through its
datafileURLTemplate from the local server, both send events to it.
"""

import argparse
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SDK_KEY = "KZbunNn9bVfBWLpZPq2XC4"  # tests/acceptance/test_acceptance/conftest.py
HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", choices=["serve", "agent"], required=True)
    ap.add_argument("--agent-src", required=True, help="Agent's extracted source")
    ap.add_argument("--bin", required=True, help="stickybucket or Agent's optimizely binary")
    ap.add_argument("--record", action="store_true",
                    help="agent: rewrite agent_passes.txt with what Agent passed")
    args, pytest_args = ap.parse_known_args()

    work = tempfile.mkdtemp(prefix="acceptance-")
    datafile = write_datafile(args.agent_src, work)
    local = LocalServer(datafile)
    target = None
    try:
        if args.target == "serve":
            target = start_serve(args.bin, datafile, local.url + "/events", work)
        else:
            target = start_agent(args.bin, local.url, work)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([HERE, args.agent_src])
        env["ACCEPTANCE_TARGET"] = args.target
        env["OPENAPI_YAML_PATH"] = os.path.join(args.agent_src, "api", "openapi-spec", "openapi.yaml")
        if args.record:
            env["ACCEPTANCE_RECORD"] = "1"
        # Agent's pytest.ini shows every local of a failing test (-l);
        # short tracebacks are enough here.
        cmd = [sys.executable, "-m", "pytest", "-p", "stickybucket_acceptance", "-q",
               "-o", "addopts=-rfEX --tb=short",
               "-o", "cache_dir=" + os.path.join(work, "pytest-cache"),
               os.path.join(args.agent_src, "tests", "acceptance", "test_acceptance"),
               "--host", target.url] + pytest_args
        print("run.py: %s on %s" % (args.target, target.url), flush=True)
        rc = subprocess.run(cmd, cwd=args.agent_src, env=env, timeout=600).returncode
        code = target.stop()
        # Agent exits 1 on SIGTERM ("context canceled"); serve exits 0
        # once it has stopped cleanly, and anything else is a failure.
        if args.target == "serve" and code != 0 and rc == 0:
            print("run.py: %s exited with status %s\n%s" % (args.target, code, target.log_tail()), file=sys.stderr)
            rc = 1
        elif rc != 0:
            print("run.py: the last lines %s logged:\n%s" % (args.target, target.log_tail()), file=sys.stderr)
        return rc
    finally:
        if target is not None:
            target.kill()
        local.close()
        shutil.rmtree(work, ignore_errors=True)


def write_datafile(agent_src, work):
    """The acceptance project's datafile, from datafile.py, as JSON."""
    sys.path.insert(0, os.path.join(agent_src, "tests", "acceptance"))
    try:
        from datafile import datafile  # noqa: E402  (Agent's module)
    finally:
        sys.path.pop(0)
    if datafile.get("sdkKey") != SDK_KEY:
        raise SystemExit("run.py: datafile.py's sdkKey is %r, the suite uses %r" % (datafile.get("sdkKey"), SDK_KEY))
    path = os.path.join(work, SDK_KEY + ".json")
    with open(path, "w") as f:
        json.dump(datafile, f)
    return path


class LocalServer:
    """Stands in for Optimizely's CDN and event endpoint, on loopback:
    serves /<SDK key>.json (Agent's datafileURLTemplate) for the suite's
    key and answers 403 for any other, as the CDN does for an unknown SDK
    key; takes events on /events."""

    def __init__(self, datafile):
        with open(datafile, "rb") as f:
            body = f.read()
        name = "/" + os.path.basename(datafile)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.split("?")[0] != name:
                    self.send_error(403)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(min(n, 16 << 20))
                self.send_response(204 if self.path == "/events" else 404)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Process:
    """A started target: its URL, its log, and how to stop it."""

    def __init__(self, cmd, env, log_path):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = None

    def log_tail(self, n=40):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-n:]).decode("utf-8", "replace")

    def stop(self, limit=15):
        """SIGTERM, then the exit status (killed after limit seconds)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(limit)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return "killed after %ds" % limit
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def wait_until(what, proc, ok, limit=60):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise SystemExit("run.py: %s exited (%s) before it was ready:\n%s" % (what, proc.proc.returncode, proc.log_tail()))
        got = ok()
        if got:
            return got
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("run.py: %s not ready within %ds:\n%s" % (what, limit, proc.log_tail()))


# serve's configuration for the suite: the in-memory store and, as Agent's
# configuration below, three operations per batch (test_batch_422 sends
# four) and overrides on (test_overrides.py); the rest comes from the
# command line.
SERVE_CONFIG = """environments:
  development:
    replication: {class: SimpleStrategy, replication_factor: 1}
server:
  batch_requests: {operations_limit: 3}
  overrides: {enabled: true}
"""


def start_serve(binary, datafile, events_url, work):
    """serve on the in-memory store, the datafile under the suite's key,
    events to the local server; its address from its "ready to serve"
    log line."""
    conf = os.path.join(work, "stickybucket.yaml")
    with open(conf, "w") as f:
        f.write(SERVE_CONFIG)
    cmd = [binary, "serve", "--config", conf, "--listen", "127.0.0.1:0", "--admin-listen", "off",
           "--datafile", "%s=%s" % (SDK_KEY, datafile), "--events-url", events_url]
    env = {k: v for k, v in os.environ.items() if not k.startswith("STICKYBUCKET_")}
    p = Process(cmd, env, os.path.join(work, "serve.log"))

    def ready():
        with open(p.log_path, "rb") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("msg") == "ready to serve":
                    return "http://" + rec["listen"][0]
        return None

    p.url = wait_until("serve", p, ready)
    return p


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


# Agent's configuration for the suite: what its Makefile's test-acceptance
# target sets (an in-memory profile service, three operations per batch),
# on loopback ports, the datafile and events on the local server, ODP off
# (the ODP tests are excluded: they need Optimizely's ODP and redis), and
# overrides on, as the repository's config.yaml has them
# (api.enableOverrides: true), for test_overrides.py.
AGENT_CONFIG = """log:
  level: info
server:
  host: 127.0.0.1
  batchRequests:
    operationsLimit: 3
api:
  port: "%(api)d"
  enableOverrides: true
admin:
  port: "%(admin)d"
webhook:
  port: "%(webhook)d"
client:
  datafileURLTemplate: "%(local)s/%%s.json"
  eventURL: "%(local)s/events"
  pollingInterval: 10m
  odp:
    disable: true
  userProfileService:
    default: "in-memory"
    services:
      in-memory:
        storageStrategy: "fifo"
"""


def start_agent(binary, local_url, work, attempts=3):
    """Agent on free loopback ports (it takes fixed ones: started again if
    another process took one first)."""
    for attempt in range(attempts):
        api, admin, webhook = free_ports(3)
        conf = os.path.join(work, "agent.yaml")
        with open(conf, "w") as f:
            f.write(AGENT_CONFIG % {"api": api, "admin": admin, "webhook": webhook, "local": local_url})
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPTIMIZELY_")}
        env["OPTIMIZELY_CONFIG_FILENAME"] = conf
        p = Process([binary], env, os.path.join(work, "agent-%d.log" % attempt))

        def healthy():
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/health" % admin, timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        try:
            wait_until("agent", p, healthy, limit=30)
        except SystemExit as e:
            p.kill()
            if attempt == attempts - 1:
                raise
            print("run.py: %s; trying again" % e, file=sys.stderr)
            continue
        p.url = "http://127.0.0.1:%d" % api
        return p


if __name__ == "__main__":
    sys.exit(main())
