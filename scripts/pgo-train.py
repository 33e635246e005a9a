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
  - an event stream proxied through a plain route;
  - TLS on both sides: a quarter of the connections come in over a TLS listener, and one
    route's upstream is reached over TLS. Code the training never runs is compiled as cold
    code (for size), which TLS must not be in a production build.

The upstream is a second gw process answering from `direct_response` routes and its own mock
AI provider; its counts go to a scratch directory that is thrown away. Everything listens on
127.0.0.1; nothing outside this machine is needed but the openssl CLI, which makes the
self-signed certificate both gateways' TLS listeners use.

Usage: pgo-train.py --gw-bin INSTRUMENTED_GW --profile-dir DIR [--seconds 15]
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
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


def preamble(name, port, tls_port, cert, admin_port):
    """A config's version, its plain and TLS listeners and its admin address."""
    return f"""version: 1
listeners:
  - name: {name}
    address: {HOST}:{port}
  - name: {name}-tls
    address: {HOST}:{tls_port}
    tls: {{certificate: "{cert.certificate}", private_key: "{cert.private_key}"}}
admin:
  address: {HOST}:{admin_port}
"""


class Certificate:
    """A self-signed certificate for 127.0.0.1, made with the openssl CLI."""

    def __init__(self, directory):
        self.certificate = os.path.join(directory, "cert.pem")
        self.private_key = os.path.join(directory, "key.pem")
        done = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                               "-keyout", self.private_key, "-out", self.certificate,
                               "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                              capture_output=True)
        if done.returncode != 0:
            raise SystemExit("pgo-train: openssl could not make a certificate: "
                             + done.stderr.decode("utf-8", "replace"))


def upstream_config(ports, cert):
    return preamble("upstream", ports["up"], ports["up_tls"], cert, ports["up_admin"]) + f"""{AI}  - name: answer
    match:
      prefix: /
    direct_response:
      status: 200
      content_type: application/json
      body: '{SMALL_BODY}'
"""


def gateway_config(ports, cert, plugin_dir):
    def plugin(name):
        return os.path.join(plugin_dir, f"libgw_{name}.so")
    return preamble("main", ports["gw"], ports["gw_tls"], cert, ports["gw_admin"]) + f"""upstreams:
  backend:
    targets: [{HOST}:{ports["up"]}]
  backend-tls:
    targets: [{HOST}:{ports["up_tls"]}]
    tls: true
    tls_verify: false
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
  - name: tls-upstream
    match:
      prefix: /tls-upstream/
    upstream: backend-tls
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


def worker(ports, cert, stop_at, counts, errors, index):
    auth = {"Authorization": "Bearer " + API_KEY}
    json_type = {"Content-Type": "application/json"}
    n = 0
    try:
        if index % 4 == 3:
            conn = http.client.HTTPSConnection(HOST, ports["gw_tls"], timeout=10,
                                               context=ssl.create_default_context(cafile=cert.certificate))
        else:
            conn = http.client.HTTPConnection(HOST, ports["gw"], timeout=10)
        while time.monotonic() < stop_at:
            step = n % 20
            if step < 7:
                one(conn, "GET", f"/items/{n % 97}?q={index}")
            elif step == 7:
                one(conn, "GET", f"/tls-upstream/items/{n % 97}")
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
        ports = {name: free_port() for name in ("up", "up_tls", "up_admin", "gw", "gw_tls", "gw_admin")}
        cert = Certificate(scratch)
        up_conf = os.path.join(scratch, "upstream.yaml")
        gw_conf = os.path.join(scratch, "gateway.yaml")
        with open(up_conf, "w") as f:
            f.write(upstream_config(ports, cert))
        with open(gw_conf, "w") as f:
            f.write(gateway_config(ports, cert, plugin_dir))
        upstream = start(gw_bin, up_conf, os.path.join(scratch, "upstream-%p.profraw"),
                         os.path.join(scratch, "upstream.log"))
        procs.append(upstream)
        wait_ready(ports["up_admin"], upstream, "the upstream gw")
        gateway = start(gw_bin, gw_conf, os.path.join(os.path.abspath(args.profile_dir), "%m-%p.profraw"),
                        os.path.join(scratch, "gateway.log"))
        procs.append(gateway)
        wait_ready(ports["gw_admin"], gateway, "the gateway")

        counts = [0] * args.threads
        errors = []
        stop_at = time.monotonic() + args.seconds
        threads = [threading.Thread(target=worker, args=(ports, cert, stop_at, counts, errors, i))
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
