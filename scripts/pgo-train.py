#!/usr/bin/env python3
"""The training run of gw's profile-guided build (scripts/build-release.sh --pgo).

Runs an instrumented gw (built with -ir-profile-generate) under a fixed mix of the traffic a
gateway serves, then stops it with SIGTERM so that it writes its execution counts
(LLVM_PROFILE_FILE). The compiler then lays out and inlines the code by these counts: the
request path's code together and its rare branches out of the way.

The mix, over keep-alive connections from several threads, every answer checked (a training
run that trains error paths would teach the compiler the wrong things, and a broken
instrumented build must not pass silently):
  - plain proxying: GET and a POST with a 4 KiB body (most of the requests);
  - a route with the built-in filter chain: auth (API key), rate_limit, transform;
  - the AI API with the built-in mock provider, plain and streamed (SSE);
  - an event stream proxied through a plain route.

The upstream is a second gw process answering from `direct_response` routes and its own mock
AI provider; its counts go to a scratch directory that is thrown away. Everything listens on
127.0.0.1; nothing outside this machine is needed.

Usage: pgo-train.py --gw-bin INSTRUMENTED_GW --profile-dir DIR [--seconds 15]
"""

import argparse
import http.client
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

HOST = "127.0.0.1"
API_KEY = "gwtrain-0123456789abcdef0123456789abcdef"
SMALL_BODY = '{"id":"train-0001","object":"test","status":"ok","message":"hello from the upstream","value":424242}'


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# The AI API with gw's built-in mock provider, the first route of both configs.
AI = """ai:
  providers:
    mock: {type: mock}
  models:
    - name: gpt-4o-mini
      deployments: [{provider: mock, model: mock}]
routes:
  - name: ai
    match:
      prefix: /v1/
    ai: {}
"""


def preamble(name, port, admin_port):
    """A config's version, its one listener and its admin address."""
    return f"version: 1\nlisteners:\n  - name: {name}\n    address: {HOST}:{port}\nadmin:\n  address: {HOST}:{admin_port}\n"


def upstream_config(port, admin_port):
    return preamble("upstream", port, admin_port) + f"""{AI}  - name: answer
    match:
      prefix: /
    direct_response:
      status: 200
      content_type: application/json
      body: '{SMALL_BODY}'
"""


def gateway_config(port, admin_port, upstream_port, plugin_dir):
    def plugin(name):
        return os.path.join(plugin_dir, f"libgw_{name}.so")
    return preamble("main", port, admin_port) + f"""upstreams:
  backend:
    targets: [{HOST}:{upstream_port}]
{AI}  - name: chain
    match:
      prefix: /chain/
    upstream: backend
    filters:
      - plugin: {plugin("auth")}
        config:
          keys:
            - key: {API_KEY}
              consumer: train
      - plugin: {plugin("rate_limit")}
        config:
          key: consumer
          limits:
            - requests: 1000000
              per: second
      - plugin: {plugin("transform")}
        config:
          response:
            headers:
              add:
                x-train: "1"
  - name: proxied-ai
    match:
      prefix: /upstream-ai/
    upstream: backend
    rewrite:
      path: /v1/$1
  - name: main
    match:
      prefix: /
    upstream: backend
"""


def start(gw_bin, config_path, profile_pattern, log_path):
    env = dict(os.environ, LLVM_PROFILE_FILE=profile_pattern)
    log = open(log_path, "wb")
    return subprocess.Popen([gw_bin, "run", "--config", config_path, "--log-level", "warning"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)


def wait_ready(admin_port, proc, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"pgo-train: {what} exited with status {proc.returncode} before it was ready")
        try:
            c = http.client.HTTPConnection(HOST, admin_port, timeout=2)
            c.request("GET", "/ready")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"pgo-train: {what} not ready within {timeout} s")


CHAT = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]})
CHAT_STREAM = json.dumps({"model": "gpt-4o-mini", "stream": True,
                          "messages": [{"role": "user", "content": "stream a reply"}]})
UPLOAD = "x" * 4096


def one(conn, method, path, body=None, headers=None, expect=200, contains=None):
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != expect:
        raise RuntimeError(f"{method} {path}: {resp.status} {data[:200]!r}")
    if contains is not None and contains not in data:
        raise RuntimeError(f"{method} {path}: answer lacks {contains!r}: {data[:200]!r}")


def worker(port, stop_at, counts, errors, index):
    auth = {"Authorization": "Bearer " + API_KEY}
    json_type = {"Content-Type": "application/json"}
    n = 0
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        while time.monotonic() < stop_at:
            step = n % 20
            if step < 8:
                one(conn, "GET", f"/items/{n % 97}?q={index}")
            elif step < 15:
                one(conn, "GET", f"/chain/items/{n % 89}", headers=auth)
            elif step == 15:
                one(conn, "POST", "/upload", body=UPLOAD, headers={"Content-Type": "application/octet-stream"})
            elif step == 16:
                one(conn, "GET", "/chain/denied", expect=401)
            elif step == 17:
                one(conn, "POST", "/v1/chat/completions", body=CHAT, headers=json_type, contains=b"choices")
            elif step == 18:
                one(conn, "POST", "/v1/chat/completions", body=CHAT_STREAM, headers=json_type, contains=b"[DONE]")
            else:
                one(conn, "POST", "/upstream-ai/chat/completions", body=CHAT_STREAM, headers=json_type,
                    contains=b"[DONE]")
            n += 1
    except Exception as e:  # noqa: BLE001 - reported below, the run fails
        errors.append(f"worker {index}: {e}")
    counts[index] = n


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gw-bin", required=True, help="the instrumented gw; its plugins are beside it")
    p.add_argument("--profile-dir", required=True, help="where the gateway's .profraw files go")
    p.add_argument("--seconds", type=float, default=15)
    p.add_argument("--threads", type=int, default=8)
    args = p.parse_args(argv)

    gw_bin = os.path.abspath(args.gw_bin)
    plugin_dir = os.path.dirname(gw_bin)
    os.makedirs(args.profile_dir, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="gw-pgo-train-")
    procs = []
    try:
        up_port, up_admin, gw_port, gw_admin = free_port(), free_port(), free_port(), free_port()
        up_conf = os.path.join(scratch, "upstream.yaml")
        gw_conf = os.path.join(scratch, "gateway.yaml")
        with open(up_conf, "w") as f:
            f.write(upstream_config(up_port, up_admin))
        with open(gw_conf, "w") as f:
            f.write(gateway_config(gw_port, gw_admin, up_port, plugin_dir))
        upstream = start(gw_bin, up_conf, os.path.join(scratch, "upstream-%p.profraw"),
                         os.path.join(scratch, "upstream.log"))
        procs.append(upstream)
        wait_ready(up_admin, upstream, "the upstream gw")
        gateway = start(gw_bin, gw_conf, os.path.join(os.path.abspath(args.profile_dir), "%m-%p.profraw"),
                        os.path.join(scratch, "gateway.log"))
        procs.append(gateway)
        wait_ready(gw_admin, gateway, "the gateway")

        counts = [0] * args.threads
        errors = []
        stop_at = time.monotonic() + args.seconds
        threads = [threading.Thread(target=worker, args=(gw_port, stop_at, counts, errors, i))
                   for i in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            for e in errors:
                print(f"pgo-train: {e}", file=sys.stderr)
            with open(os.path.join(scratch, "gateway.log"), "rb") as f:
                sys.stderr.write(f.read()[-4000:].decode("utf-8", "replace"))
            return 1
        gateway.send_signal(signal.SIGTERM)
        if gateway.wait(timeout=30) != 0:
            print(f"pgo-train: the gateway exited with status {gateway.returncode}", file=sys.stderr)
            return 1
        written = [n for n in os.listdir(args.profile_dir) if n.endswith(".profraw")]
        if not written:
            print("pgo-train: the gateway wrote no profile (is the binary instrumented?)", file=sys.stderr)
            return 1
        print(f"pgo-train: {sum(counts)} requests in {args.seconds:.0f} s over {args.threads} connections; "
              f"{len(written)} profile files in {args.profile_dir}")
        return 0
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
