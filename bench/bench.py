#!/usr/bin/env python3
"""gw benchmark harness: gw (no filters, and with a three-filter chain) against nginx and HAProxy.

Python 3 standard library only, plus Debian's nginx, haproxy, wrk and taskset. Everything listens on
127.0.0.1 (ports 19000-19999), every load run is bounded in time, and every server is started here and
stopped here by its PID (SIGTERM, then SIGKILL of its process tree) in a `finally` block.

Normally started by bench/run.sh (which installs the tools and finds or builds gw). See bench/README.md.

Sections (each can be skipped with --skip):
  load       wrk -t1 -c64 / -c256 against every contender, warm-up discarded, N interleaved repeats
  streaming  1 MiB download and upload, and an SSE stream of 200 events, through each contender vs direct
  memory     gw idle RSS on its default config; RSS per idle keep-alive connection
  --soak S   wrk for S seconds against one contender (default gw-chain), RSS sampled every 10 s
"""

import argparse
import datetime
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "127.0.0.1"

# One port per role, in a range the test suites do not use.
PORTS = {
    "upstream": 19001,        # nginx, 1 worker: the fixed 100-byte JSON on /, a file on /big
    "stream": 19002,          # python asyncio upstream: /stream/sse, /stream/upload
    "nginx": 19101,           # nginx reverse proxy, 1 worker
    "nginx-fwd": 19103,       # the same, also doing gw's default per-request header work (a reference row)
    "nginx-chain": 19104,     # nginx-fwd plus the chain's work in nginx's terms (a reference row)
    "haproxy": 19201,         # HAProxy, nbthread 1
    "nio-floor": 19401,       # gw-nio-floor: SwiftNIO forwarding bytes 1:1, no HTTP (a reference row)
    "gw": 19301, "gw.admin": 19302,
    "gw-chain": 19311, "gw-chain.admin": 19312,
    "mem-gw": 19321, "mem-gw.admin": 19322,
    "mem-nginx": 19102,
    "mem-haproxy": 19202,
}
DEFAULT_CONFIG_PORTS = (8080, 9901, 8081)  # gw's embedded default config (Sources/gw/Config/DefaultConfig.swift)

# Exactly 100 bytes, the same body as the baseline's upstream.conf.
BODY = '{"id":"bench-0001","object":"test","status":"ok","message":"hello from the upstream","value":424242}'
assert len(BODY) == 100
# Sent by every client to every contender (wrk -H too), so the wrk settings are identical for all;
# only the auth filter of the gw chain looks at it.
API_KEY = "gwbench-0123456789abcdef0123456789abcdef"
AUTH_HEADER = ("Authorization", "Bearer " + API_KEY)

ALL_CONTENDERS = ["gw", "gw-chain", "nginx", "nginx-fwd", "nginx-chain", "haproxy", "nio-floor", "direct"]
DEFAULT_CONTENDERS = ["gw", "gw-chain", "nginx", "nginx-fwd", "nginx-chain", "haproxy", "nio-floor"]
# Load-test-only reference rows (not in the streaming or memory parts).
LOAD_ONLY = ("nio-floor", "nginx-fwd", "nginx-chain")
REFERENCE = "nginx"
LABELS = {
    "gw": "gw (no filters)",
    "gw-chain": "gw + 3 filters",
    "nginx": "nginx proxy (1 worker)",
    "nginx-fwd": "nginx + gw's default headers",
    "nginx-chain": "nginx + those + key, limit, header",
    "haproxy": "HAProxy (nbthread 1)",
    "nio-floor": "SwiftNIO floor (bytes 1:1, no HTTP)",
    "direct": "upstream direct (no proxy)",
}

# The three-filter chain when libgw_auth.so, libgw_rate_limit.so and libgw_transform.so sit next to gw.
# Their config schemas are documented in docs/plugins/NAME.md (issue 3); this is the harness's default
# and may need adjusting to them, or pass your own list with --chain-filters FILE.
# ${GW_PLUGIN_DIR} and ${GW_BENCH_API_KEY} are substituted.
DEFAULT_PLUGIN_CHAIN = """\
- plugin: ${GW_PLUGIN_DIR}/libgw_auth.so
  config:
    keys:
      - key: ${GW_BENCH_API_KEY}
        consumer: bench
- plugin: ${GW_PLUGIN_DIR}/libgw_rate_limit.so
  config:
    key: consumer
    limits:
      - requests: 1000000
        per: second
- plugin: ${GW_PLUGIN_DIR}/libgw_transform.so
  config:
    response:
      headers:
        add:
          x-bench-transform: "1"
"""
CHAIN_MARKER_PLUGINS = ("x-bench-transform", "1")

CLK_TCK = os.sysconf("SC_CLK_TCK")
STARTED = []          # every Server started, in order; stopped in reverse in the finally block
OUT_LOCK = threading.Lock()


def log(msg):
    with OUT_LOCK:
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ------------------------------------------------------------------------------------------------
# /proc accounting
# ------------------------------------------------------------------------------------------------

def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    return s[s.rfind(")") + 2:].split()  # fields from #3 (state) on


def tree_pids(root):
    """root and all its live descendants."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            ppid = int(_stat_fields(d)[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    out, i = [root], 0
    while i < len(out):
        out.extend(kids.get(out[i], []))
        i += 1
    return out


def tree_cpu_split(root):
    """(utime, stime) (all threads) of root and its descendants, in seconds."""
    user = system = 0
    for pid in tree_pids(root):
        try:
            f = _stat_fields(pid)
            user += int(f[11])     # field 14: utime
            system += int(f[12])   # field 15: stime
        except (OSError, IndexError, ValueError):
            pass
    return user / CLK_TCK, system / CLK_TCK


def tree_cpu_seconds(root):
    """utime+stime (all threads) of root and its descendants, in seconds."""
    return sum(tree_cpu_split(root))


def tree_rss_kib(root):
    """Sum of VmRSS over root and its descendants (shared pages count once per process)."""
    total = 0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except (OSError, ValueError):
            pass
    return total


def children_cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def self_cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def system_cpu_seconds():
    """user+nice+system time of the whole machine (all CPUs), from /proc/stat."""
    with open("/proc/stat") as f:
        v = f.readline().split()
    return (int(v[1]) + int(v[2]) + int(v[3])) / CLK_TCK


class RssSampler:
    """Samples the RSS of a process tree in a background thread."""

    def __init__(self, pid, interval):
        self.pid, self.interval = pid, interval
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), tree_rss_kib(self.pid)))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)
        self.samples.append((time.monotonic(), tree_rss_kib(self.pid)))

    def max_kib(self):
        return max(s for _, s in self.samples) if self.samples else 0


# ------------------------------------------------------------------------------------------------
# Processes
# ------------------------------------------------------------------------------------------------

def run_cmd(argv, timeout, check=False, **kw):
    """subprocess.run with a timeout, always."""
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                          check=check, **kw)


def find_tool(name):
    p = shutil.which(name)
    if p:
        return p
    for d in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        if os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    return None


def port_in_use(port):
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((HOST, port)) == 0


def port_bindable(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
            return True
        except OSError:
            return False


def wait_port(port, timeout, proc=None, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"{what} exited with status {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"{what}: nothing listening on {HOST}:{port} after {timeout:.0f} s")


class Server:
    def __init__(self, name, argv, port, cpu, logdir, admin_port=None):
        self.name, self.argv, self.port, self.cpu, self.admin_port = name, argv, port, cpu, admin_port
        self.logpath = os.path.join(logdir, f"{name}.log")
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid

    def start(self, ready_timeout=30):
        if port_in_use(self.port) or (self.admin_port and port_in_use(self.admin_port)):
            raise BenchError(f"{self.name}: port {self.port} (or its admin port) is already in use by another process")
        argv = (["taskset", "-c", str(self.cpu)] if self.cpu is not None else []) + self.argv
        with open(self.logpath, "ab") as logf:
            # Own session: a Ctrl-C reaches the harness only, which then stops this PID itself.
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        STARTED.append(self)
        log(f"started {self.name} pid {self.proc.pid}" + (f" on CPU {self.cpu}" if self.cpu is not None else "")
            + f": {' '.join(self.argv)}")
        try:
            wait_port(self.port, ready_timeout, self.proc, self.name)
            if self.admin_port:
                wait_port(self.admin_port, ready_timeout, self.proc, self.name + " admin")
                deadline = time.monotonic() + ready_timeout
                while True:
                    try:
                        status, _, body = http_request(self.admin_port, "/ready", auth=False)
                        if status == 200:
                            break
                        err = f"/ready answered {status} {body[:200]!r}"
                    except OSError as e:
                        err = str(e)
                    if time.monotonic() > deadline:
                        raise BenchError(f"{self.name}: http://{HOST}:{self.admin_port}/ready not 200: {err}")
                    time.sleep(0.1)
        except BaseException:
            self.dump_log()
            raise
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        pids = tree_pids(self.proc.pid)
        try:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log(f"{self.name} pid {self.proc.pid} ignored SIGTERM for 10 s; SIGKILL")
        except ProcessLookupError:
            pass
        # anything of its tree still running (e.g. nginx workers after a killed master)
        for pid in [self.proc.pid] + pids[1:]:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log(f"{self.name} pid {self.proc.pid} did not exit after SIGKILL")
        log(f"stopped {self.name} pid {self.proc.pid}")

    def dump_log(self, lines=30):
        try:
            with open(self.logpath, errors="replace") as f:
                tail = f.readlines()[-lines:]
        except OSError:
            return
        if tail:
            log(f"--- last lines of {self.logpath} ---\n" + "".join(tail).rstrip())


def stop_all():
    while STARTED:
        s = STARTED.pop()
        try:
            s.stop()
        except Exception as e:  # keep stopping the others
            log(f"error stopping {s.name}: {e}")


# ------------------------------------------------------------------------------------------------
# HTTP clients (raw socket, so SSE timing sees each read as it arrives)
# ------------------------------------------------------------------------------------------------

class RawHTTP:
    """A minimal HTTP/1.1 response reader over a blocking socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.last_fill_ns = 0

    def _fill(self):
        data = self.sock.recv(262144)
        self.last_fill_ns = time.monotonic_ns()
        if not data:
            raise EOFError("connection closed by peer")
        self.buf += data

    def read_until(self, sep, limit=1 << 20):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out = bytes(self.buf[:i])
                del self.buf[:i + len(sep)]
                return out
            if len(self.buf) > limit:
                raise BenchError("response head too large")
            self._fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_head(self):
        head = self.read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise BenchError(f"bad status line {head[0]!r}")
        headers = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        return int(parts[1]), headers

    def body_pieces(self, headers):
        """Yields the decoded body in pieces as it arrives; self.last_fill_ns is the arrival time of
        the read that completed the piece."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                size = int(self.read_until(b"\r\n").split(b";")[0].strip(), 16)
                if size == 0:
                    while self.read_until(b"\r\n"):   # trailers
                        pass
                    return
                while size:
                    if not self.buf:
                        self._fill()
                    take = min(size, len(self.buf))
                    piece = bytes(self.buf[:take])
                    del self.buf[:take]
                    size -= take
                    yield piece
                self.read_exact(2)
        elif "content-length" in headers:
            left = int(headers["content-length"])
            while left:
                if not self.buf:
                    self._fill()
                take = min(left, len(self.buf))
                piece = bytes(self.buf[:take])
                del self.buf[:take]
                left -= take
                yield piece
        else:  # delimited by close
            while True:
                if self.buf:
                    piece = bytes(self.buf)
                    self.buf.clear()
                    yield piece
                try:
                    self._fill()
                except EOFError:
                    return


def request_bytes(method, path, port, extra=(), body_len=None, auth=True):
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}"]
    if auth:
        lines.append(f"{AUTH_HEADER[0]}: {AUTH_HEADER[1]}")
    lines += [f"{k}: {v}" for k, v in extra]
    if body_len is not None:
        lines.append(f"Content-Length: {body_len}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def http_request(port, path="/", method="GET", body=None, auth=True, timeout=5, extra=()):
    """One request on a fresh connection: (status, headers, body bytes)."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(request_bytes(method, path, port, tuple(extra) + (("Connection", "close"),),
                                None if body is None else len(body), auth) + (body or b""))
        r = RawHTTP(s)
        status, headers = r.read_head()
        data = b"".join(r.body_pieces(headers)) if method != "HEAD" else b""
        return status, headers, data


# ------------------------------------------------------------------------------------------------
# The streaming upstream (python asyncio; run as: bench.py --stream-upstream PORT)
# ------------------------------------------------------------------------------------------------

def stream_upstream_main(port):
    import asyncio
    from urllib.parse import parse_qs, urlsplit

    async def read_body(reader, headers):
        n = 0
        if "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                size = int((await reader.readline()).split(b";")[0].strip(), 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    return n
                left = size
                while left:
                    chunk = await reader.read(min(left, 1 << 20))
                    if not chunk:
                        raise ConnectionError("eof in body")
                    left -= len(chunk)
                n += size
                await reader.readexactly(2)
        left = int(headers.get("content-length", "0") or 0)
        while left:
            chunk = await reader.read(min(left, 1 << 20))
            if not chunk:
                raise ConnectionError("eof in body")
            left -= len(chunk)
            n += len(chunk)
        return n

    def simple(status, body, ctype, keep):
        return (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                + ("" if keep else "Connection: close\r\n") + "\r\n").encode() + body

    async def handle(reader, writer):
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    continue
                method, target, version = line.decode("latin-1").split()
                headers = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                received = await read_body(reader, headers)
                keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
                url = urlsplit(target)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/stream/sse" and method == "GET":
                    n = int(q.get("n", "200"))
                    delay = int(q.get("delay_us", "5000")) / 1e6
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                                 b"X-Accel-Buffering: no\r\nTransfer-Encoding: chunked\r\n"
                                 + (b"" if keep else b"Connection: close\r\n") + b"\r\n")
                    await writer.drain()
                    for i in range(n):
                        if delay:
                            await asyncio.sleep(delay)
                        ev = f'data: {{"seq":{i},"t":{time.monotonic_ns()}}}\n\n'.encode()
                        writer.write(b"%x\r\n%s\r\n" % (len(ev), ev))
                        await writer.drain()
                    writer.write(b"0\r\n\r\n")
                elif url.path == "/stream/upload" and method in ("POST", "PUT"):
                    writer.write(simple("200 OK", json.dumps({"received": received}).encode(), "application/json", keep))
                else:
                    writer.write(simple("404 Not Found", b'{"error":"not found"}', "application/json", keep))
                await writer.drain()
                if not keep:
                    return
        except (ConnectionError, ValueError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def main():
        server = await asyncio.start_server(handle, HOST, port, backlog=4096, reuse_address=True)
        async with server:
            await server.serve_forever()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        asyncio.run(main())
    except (KeyboardInterrupt, SystemExit):
        pass


# ------------------------------------------------------------------------------------------------
# Configs
# ------------------------------------------------------------------------------------------------

def nginx_http_preamble(tmp):
    t = os.path.join(tmp, "nginx-tmp")
    return f"""    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 65s;
    client_max_body_size 0;
    client_body_temp_path {t}/client_body;
    proxy_temp_path {t}/proxy;
    fastcgi_temp_path {t}/fastcgi;
    uwsgi_temp_path {t}/uwsgi;
    scgi_temp_path {t}/scgi;"""


def upstream_conf(tmp, big_file):
    return f"""worker_processes 1;
daemon off;
pid {tmp}/run/upstream.pid;
error_log {tmp}/logs/upstream-error.log warn;
events {{ worker_connections 8192; }}
http {{
{nginx_http_preamble(tmp)}
    sendfile on;
    server {{
        listen {HOST}:{PORTS['upstream']} backlog=4096;
        location / {{
            default_type application/json;
            return 200 '{BODY}';
        }}
        location = /big {{
            default_type application/octet-stream;
            alias {big_file};
        }}
    }}
}}
"""


# What gw does to every proxied request by default (docs/decisions.md), in nginx's terms: a request id
# (the client's, else a new one: 32 hex digits, as gw's) sent upstream and answered with; the client's
# address appended to x-forwarded-for; x-forwarded-proto; x-forwarded-host from Host. The "nginx-fwd"
# row runs nginx with these, so the table also shows nginx doing the same work as gw; the targets stay
# against plain nginx.
NGINX_FORWARDING_MAP = """
    map $http_x_request_id $gw_request_id {
        "" $request_id;
        default $http_x_request_id;
    }"""
NGINX_FORWARDING = """
            proxy_set_header X-Request-Id $gw_request_id;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            add_header X-Request-Id $gw_request_id always;"""


# The bench's three-filter chain in nginx's terms, on top of NGINX_FORWARDING (gw-chain does both), for the
# "nginx-chain" reference row: the API key checked (401 without it) and removed before the request goes
# upstream, a per-consumer request limit that never trips (limit_req, 1,000,000 r/s), and the response
# headers gw-chain adds (x-bench-transform; rate_limit's three RateLimit fields, here with fixed values, since
# limit_req does not report them).
NGINX_CHAIN_HTTP = f"""
    map_hash_bucket_size 128;
    map $http_authorization $gw_consumer {{
        "Bearer {API_KEY}" bench;
        default "";
    }}
    limit_req_zone $gw_consumer zone=gwbench:1m rate=1000000r/s;"""
NGINX_CHAIN = """
            if ($gw_consumer = "") { return 401; }
            limit_req zone=gwbench burst=100000 nodelay;
            proxy_set_header Authorization "";
            add_header RateLimit-Limit 1000000;
            add_header RateLimit-Remaining 999999;
            add_header RateLimit-Reset 1;
            add_header x-bench-transform 1;"""


def nginx_proxy_conf(tmp, name, port, keepalive, worker_connections, forwarding=False, chain=False):
    return f"""worker_processes 1;
daemon off;
pid {tmp}/run/{name}.pid;
error_log {tmp}/logs/{name}-error.log warn;
events {{ worker_connections {worker_connections}; }}
http {{
{nginx_http_preamble(tmp)}{NGINX_CHAIN_HTTP if chain else ""}{NGINX_FORWARDING_MAP if forwarding or chain else ""}
    upstream backend {{
        server {HOST}:{PORTS['upstream']};
        keepalive {keepalive};
        keepalive_requests 1000000;
    }}
    upstream stream_backend {{
        server {HOST}:{PORTS['stream']};
        keepalive 64;
        keepalive_requests 1000000;
    }}
    server {{
        listen {HOST}:{port} backlog=4096;
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_max_temp_file_size 0;{NGINX_FORWARDING if forwarding or chain else ""}{NGINX_CHAIN if chain else ""}
        }}
        location /stream/ {{
            proxy_pass http://stream_backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_request_buffering off;
        }}
    }}
}}
"""


def haproxy_cfg(port, maxconn):
    return f"""global
    nbthread 1
    maxconn {maxconn}
    log stderr format raw local0 err

defaults
    mode http
    log global
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 65s

frontend fe
    bind {HOST}:{port}
    acl is_stream path_beg /stream/
    use_backend be_stream if is_stream
    default_backend be

backend be
    server up1 {HOST}:{PORTS['upstream']}

backend be_stream
    # SSE: without this HAProxy sends with MSG_MORE and the kernel may hold an event up to 200 ms
    option http-no-delay
    server st1 {HOST}:{PORTS['stream']}
"""


def gw_config(port, admin_port, filters_yaml):
    """filters_yaml: a YAML sequence (text) of filter entries, or '' for none."""
    def block(indent):
        if not filters_yaml.strip():
            return ""
        pad = " " * indent
        return f"{pad}filters:\n" + "".join(f"{pad}  {line}\n" if line.strip() else "\n"
                                           for line in filters_yaml.rstrip().splitlines())
    return f"""version: 1
listeners:
  - name: bench
    address: {HOST}:{port}
admin:
  address: {HOST}:{admin_port}
upstreams:
  backend:
    targets: [{HOST}:{PORTS['upstream']}]
    max_idle_per_loop: 1024
  stream:
    targets: [{HOST}:{PORTS['stream']}]
    max_idle_per_loop: 64
routes:
  - name: stream
    match:
      prefix: /stream/
    upstream: stream
{block(4)}  - name: main
    match:
      prefix: /
    upstream: backend
{block(4)}"""


# ------------------------------------------------------------------------------------------------
# wrk
# ------------------------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _to_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out):
    r = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise BenchError("wrk output has no Requests/sec line:\n" + out)
    r["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in ([\d.]+(?:us|ms|s|m|h)),", out)
    r["requests"] = int(m.group(1)) if m else None
    r["elapsed_s"] = _to_ms(m.group(2)) / 1e3 if m else None
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        r[f"p{pct}_ms"] = _to_ms(m.group(1)) if m else None
    m = re.search(r"^\s+Latency\s+(\S+)\s+(\S+)\s+(\S+)", out, re.M)
    r["lat_max_ms"] = _to_ms(m.group(3)) if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups()))) if m else {}
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    return r


def run_wrk(port, conns, seconds, cpu, path="/", scheme="http"):
    argv = (["taskset", "-c", str(cpu)] if cpu is not None else []) + [
        "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "--timeout", "5s",
        "-H", f"{AUTH_HEADER[0]}: {AUTH_HEADER[1]}", f"{scheme}://{HOST}:{port}{path}"]
    p = run_cmd(argv, timeout=seconds + 60)
    if p.returncode != 0:
        raise BenchError(f"wrk failed ({p.returncode}): {p.stderr.strip() or p.stdout.strip()}")
    return parse_wrk(p.stdout), p.stdout


# ------------------------------------------------------------------------------------------------
# Statistics and formatting
# ------------------------------------------------------------------------------------------------

def pct(values, q):
    """Percentile with linear interpolation (q in 0..100)."""
    v = sorted(values)
    if not v:
        return None
    k = (len(v) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def fnum(x, digits=0):
    if x is None:
        return "–"
    return f"{x:,.{digits}f}"


def fratio(x):
    return "–" if x is None else f"{x:.2f}×"


def ratio(a, b):
    return a / b if (a is not None and b) else None


def ratio_interval(runs, ref, key="rps", level=0.95, resamples=4000):
    """A bootstrap interval of mean(runs)/mean(ref) over the paired rounds (round i of each was
    measured back to back, so a round is resampled as a pair): how far the ratio of this run could
    move on a machine this noisy. Crude with four rounds, but it says whether a target is met
    clearly or only within the noise. Seeded: the same rounds give the same interval."""
    pairs = [(x[key], y[key]) for x, y in zip(runs, ref)]
    if len(pairs) < 2:
        return None
    rng = random.Random(20261208)
    stats = []
    for _ in range(resamples):
        sample = [pairs[rng.randrange(len(pairs))] for _ in pairs]
        den = sum(b for _, b in sample)
        if den:
            stats.append(sum(a for a, _ in sample) / den)
    stats.sort()
    lo = stats[int((1 - level) / 2 * len(stats))]
    hi = stats[min(len(stats) - 1, int((1 + level) / 2 * len(stats)))]
    return lo, hi


def md_table(header, rows, align=None):
    align = align or ["l"] + ["r"] * (len(header) - 1)
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------
# The benchmark
# ------------------------------------------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="gw-bench-")
        os.chmod(self.tmp, 0o755)   # nginx workers (user nobody) read /big from here
        for d in ("run", "logs", "nginx-tmp", "conf", "plugins"):
            os.makedirs(os.path.join(self.tmp, d), exist_ok=True)
        self.logdir = os.path.join(self.tmp, "logs")
        self.results_dir = os.path.join(ROOT, "bench-results")
        os.makedirs(self.results_dir, exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        self.jsonl_path = os.path.join(self.results_dir, f"bench-{stamp}.jsonl")
        self.md_path = os.path.join(self.results_dir, f"bench-{stamp}.md")
        self.jsonl = open(self.jsonl_path, "a")
        self.report = []      # markdown sections
        self.notes = []       # things the reader must know
        self.servers = {}     # contender -> Server
        self.upstreams = {}
        self.chain_kind = None
        self.fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self._placement()

    # -- setup --------------------------------------------------------------------------------------

    def _placement(self):
        a = self.args
        cpus = sorted(os.sched_getaffinity(0))
        self.placement = a.placement
        if self.placement != "unpinned" and len(cpus) < 2:
            self.notes.append(f"only {len(cpus)} CPU available: placement forced to unpinned")
            self.placement = "unpinned"
        if self.placement == "pinned-b":
            self.cpu_load, self.cpu_upstream, self.cpu_proxy = cpus[0], cpus[0], cpus[1]
            self.placement_text = (f"pinned-b: wrk, the upstreams and the Python clients on CPU {cpus[0]}; "
                                   f"the proxy under test alone on CPU {cpus[1]} (taskset)")
        elif self.placement == "pinned":
            self.cpu_load, self.cpu_upstream, self.cpu_proxy = cpus[0], cpus[1], cpus[1]
            self.placement_text = (f"pinned: wrk and the Python clients on CPU {cpus[0]}; the proxy under test "
                                   f"and the upstreams share CPU {cpus[1]} (taskset)")
        else:
            self.cpu_load = self.cpu_upstream = self.cpu_proxy = None
            self.placement_text = "unpinned: wrk, upstreams and proxy float over all CPUs"
        if self.cpu_load is not None:
            os.sched_setaffinity(0, {self.cpu_load})   # the harness's own clients run with wrk

    def emit(self, record):
        record = dict(record, ts=datetime.datetime.now().isoformat(timespec="seconds"), placement=self.placement)
        self.jsonl.write(json.dumps(record) + "\n")
        self.jsonl.flush()

    def versions(self):
        v = {}
        for name, argv in (("nginx", [self.nginx, "-v"]), ("haproxy", [self.haproxy, "-v"]) if self.haproxy else (None, None),
                           ("wrk", ["wrk", "-v"])):
            if not name:
                continue
            try:
                p = run_cmd(argv, timeout=10)
                v[name] = (p.stdout + p.stderr).strip().splitlines()[0]
            except (OSError, subprocess.SubprocessError, IndexError):
                v[name] = "?"
        try:
            rev = run_cmd(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], timeout=10).stdout.strip()
            dirty = run_cmd(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], timeout=10).stdout.strip()
            v["gw_checkout"] = rev + (" (with uncommitted changes)" if dirty else "")
        except (OSError, subprocess.SubprocessError):
            pass
        if self.gw_bin:
            v["gw_bin"] = self.gw_bin
            v["gw_bin_mtime"] = datetime.datetime.fromtimestamp(os.path.getmtime(self.gw_bin)).isoformat(timespec="seconds")
        return v

    def machine(self):
        model = "?"
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        model = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        mem = "?"
        try:
            with open("/proc/meminfo") as f:
                mem = f"{int(f.readline().split()[1]) / 1024 / 1024:.0f} GiB"
        except (OSError, ValueError, IndexError):
            pass
        return {"cpu": model, "cpus": os.cpu_count(), "memory": mem, "kernel": platform.release(),
                "python": platform.python_version()}

    def check_tools(self):
        self.nginx = find_tool("nginx")
        self.haproxy = find_tool("haproxy")
        missing = []
        if not self.nginx:
            missing.append("nginx")
        if not shutil.which("wrk") and "load" not in self.args.skip:
            missing.append("wrk")
        if "haproxy" in self.contenders and not self.haproxy:
            missing.append("haproxy")
        if self.placement != "unpinned" and not shutil.which("taskset"):
            missing.append("taskset")
        if missing:
            raise BenchError(f"missing tools: {', '.join(missing)} (bench/run.sh installs them with apt-get)")

    def raise_nofile(self):
        want = max(65536, 2 * self.args.idle_conns + 4096)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard < want:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
                soft, hard = want, want
            except (ValueError, OSError):
                pass
        target = hard if hard != resource.RLIM_INFINITY else want
        if soft < target:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            except (ValueError, OSError):
                pass
        self.fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        cap = self.fd_limit - 1000
        if self.args.idle_conns > cap:
            self.notes.append(f"--idle-conns {self.args.idle_conns} capped to {cap}: open-files limit is {self.fd_limit}")
            self.args.idle_conns = max(cap, 100)

    # -- servers ------------------------------------------------------------------------------------

    def write(self, name, text):
        path = os.path.join(self.tmp, "conf", name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def start_upstreams(self):
        big = os.path.join(self.tmp, "big.bin")
        size = self.args.body_mib * 1024 * 1024
        with open(big, "wb") as f:
            if size <= 64 << 20:
                f.write(os.urandom(size))
            else:
                f.truncate(size)   # sparse: no disk space for GiB-sized bodies
        self.big_size = size
        conf = self.write("upstream.conf", upstream_conf(self.tmp, big))
        up = Server("upstream-nginx", [self.nginx, "-p", os.path.join(self.tmp, "nginx-tmp"), "-e",
                                       os.path.join(self.logdir, "upstream-stderr.log"), "-c", conf],
                    PORTS["upstream"], self.cpu_upstream, self.logdir).start()
        self.upstreams["nginx"] = up
        st = Server("upstream-stream", [sys.executable, os.path.abspath(__file__), "--stream-upstream", str(PORTS["stream"])],
                    PORTS["stream"], self.cpu_upstream, self.logdir).start()
        self.upstreams["stream"] = st
        status, _, body = http_request(PORTS["upstream"], "/")
        if status != 200 or body.decode() != BODY:
            raise BenchError(f"upstream answered {status} {body[:200]!r}")

    def nginx_worker_connections(self, idle):
        return max(8192, min(self.fd_limit - 200, idle + 2048))

    def haproxy_maxconn(self, idle=0):
        return max(256, min(max(8000, idle + 500), (self.fd_limit - 200) // 2))

    def start_nginx(self, name, port, idle=0, forwarding=False, chain=False):
        keepalive = max(512, 2 * max(self.args.conns))   # >= connections: no upstream connection churn
        conf = self.write(f"{name}.conf", nginx_proxy_conf(self.tmp, name, port, keepalive, self.nginx_worker_connections(idle),
                                                           forwarding=forwarding, chain=chain))
        return Server(name, [self.nginx, "-p", os.path.join(self.tmp, "nginx-tmp"), "-e",
                             os.path.join(self.logdir, f"{name}-stderr.log"), "-c", conf],
                      port, self.cpu_proxy, self.logdir).start()

    def start_haproxy(self, name, port, idle=0):
        cfg = self.write(f"{name}.cfg", haproxy_cfg(port, self.haproxy_maxconn(idle)))
        return Server(name, [self.haproxy, "-db", "-f", cfg], port, self.cpu_proxy, self.logdir).start()

    def gw_check(self, cfg):
        try:
            p = run_cmd([self.gw_bin, "check", "--config", cfg], timeout=60)
        except subprocess.TimeoutExpired:
            raise BenchError(f"gw check --config {cfg} timed out")
        if p.returncode != 0:
            raise BenchError(f"gw check rejected {cfg}:\n{p.stdout}{p.stderr}\n--- config ---\n{open(cfg).read()}")

    def start_gw(self, name, port, admin, filters_yaml):
        cfg = self.write(f"{name}.yaml", gw_config(port, admin, filters_yaml))
        self.gw_check(cfg)
        argv = [self.gw_bin, "run", "--config", cfg, "--log-level", "warning"] + self.gw_loop_args() + self.args.gw_arg
        return Server(name, argv, port, self.cpu_proxy, self.logdir, admin_port=admin).start()

    def gw_loop_args(self):
        """Pinned to one CPU, gw gets one event loop, as nginx gets one worker and HAProxy one
        thread (two loops on one core only add context switches). --gw-arg=--event-loops=N wins."""
        if self.cpu_proxy is None or any(x.startswith("--event-loops") for x in self.args.gw_arg):
            return []
        return ["--event-loops", "1"]

    def chain_filters(self):
        """The filter list (YAML) for gw-chain, and how it was made."""
        plugin_dir = os.path.dirname(os.path.abspath(self.gw_bin))
        names = ("auth", "rate_limit", "transform")
        have = all(os.path.exists(os.path.join(plugin_dir, f"libgw_{n}.so")) for n in names)
        if self.args.chain_filters:
            with open(self.args.chain_filters) as f:
                text = f.read()
            kind = f"custom filter list from {self.args.chain_filters}"
            marker = None
        elif have and not self.args.chain_c_hello:
            text = DEFAULT_PLUGIN_CHAIN
            kind = "auth + rate_limit + transform (libgw_*.so next to gw)"
            marker = CHAIN_MARKER_PLUGINS
        else:
            so = self.build_c_hello()
            text = "".join(f"""- plugin: {so}
  name: hello{i}
  config:
    response_header: x-bench-f{i}
    response_value: "{i}"
""" for i in (1, 2, 3))
            kind = ("FALLBACK: 3 × C sample plugin sample-plugins/c-hello (each adds one response header)"
                    + ("" if have else f"; libgw_auth.so / libgw_rate_limit.so / libgw_transform.so not found in {plugin_dir}"))
            marker = ("x-bench-f3", "3")
            self.notes.append("gw-chain is " + kind)
        text = text.replace("${GW_PLUGIN_DIR}", plugin_dir).replace("${GW_BENCH_API_KEY}", API_KEY)
        return text, kind, marker

    def build_c_hello(self):
        out = os.path.join(self.tmp, "plugins", "libgw_sample_c.so")
        argv = ["cc", "-std=c11", "-O2", "-Wall", "-Wextra", "-shared", "-fPIC", "-fvisibility=hidden",
                "-I", os.path.join(ROOT, "Sources/PluginAPI/include"), "-o", out,
                os.path.join(ROOT, "sample-plugins/c-hello/hello.c")]
        p = run_cmd(argv, timeout=120)
        if p.returncode != 0:
            raise BenchError("building sample-plugins/c-hello failed:\n" + p.stdout + p.stderr)
        os.chmod(out, 0o755)   # gw refuses world-writable plugin files
        return out

    def start_contender(self, c):
        if c == "direct":
            return self.upstreams["nginx"]
        if c == "nginx":
            return self.start_nginx("nginx-proxy", PORTS["nginx"])
        if c == "nginx-fwd":
            return self.start_nginx("nginx-fwd", PORTS["nginx-fwd"], forwarding=True)
        if c == "nginx-chain":
            return self.start_nginx("nginx-chain", PORTS["nginx-chain"], chain=True)
        if c == "haproxy":
            return self.start_haproxy("haproxy", PORTS["haproxy"])
        if c == "nio-floor":
            # Benchmarks/NIOFloor: what NIO's channel layer alone costs per proxied request.
            argv = [self.nio_floor_bin, str(PORTS["nio-floor"]), str(PORTS["upstream"])]
            return Server("nio-floor", argv, PORTS["nio-floor"], self.cpu_proxy, self.logdir).start()
        if c == "gw":
            return self.start_gw("gw", PORTS["gw"], PORTS["gw.admin"], "")
        if c == "gw-chain":
            text, self.chain_kind, self.chain_marker = self.chain_filters()
            return self.start_gw("gw-chain", PORTS["gw-chain"], PORTS["gw-chain.admin"], text)
        raise ValueError(c)

    def verify_contender(self, c, srv):
        status, headers, body = http_request(srv.port, "/")
        if status != 200 or body.decode(errors="replace") != BODY:
            raise BenchError(f"{c}: GET / answered {status} {body[:200]!r}, expected 200 with the upstream body")
        if c == "gw-chain":
            name, value = self.chain_marker or (None, None)
            if name and headers.get(name) != value:
                msg = f"gw-chain: response lacks {name}: {value} (headers: {headers}); is the chain active?"
                if self.chain_kind.startswith("FALLBACK"):
                    raise BenchError(msg)
                self.notes.append("WARNING " + msg)
            if not self.chain_kind.startswith("FALLBACK"):
                st, _, _ = http_request(srv.port, "/", auth=False)
                if st not in (401, 403):
                    self.notes.append(f"WARNING gw-chain: a request without the API key got {st}, not 401: "
                                      "if the chain has an auth filter, it is not checking keys")

    # -- load ---------------------------------------------------------------------------------------

    def ours_cpu(self, extra=()):
        pids = {s.pid for s in list(self.upstreams.values()) + list(extra)}
        return (sum(tree_cpu_seconds(p) for p in pids)
                + self_cpu_seconds() + children_cpu_seconds())

    def wait_quiet(self):
        """Wait (up to --wait-quiet s) until other processes use < 10 % of a CPU over 1 s."""
        if self.args.wait_quiet <= 0:
            return
        servers = list(self.servers.values())
        deadline = time.monotonic() + self.args.wait_quiet
        said = False
        while True:
            s0, o0 = system_cpu_seconds(), self.ours_cpu(servers)
            time.sleep(1)
            busy = ((system_cpu_seconds() - s0) - (self.ours_cpu(servers) - o0)) * 100
            if busy < 10:
                return
            if time.monotonic() > deadline:
                log(f"machine still busy ({busy:.0f}% of a CPU used by other processes); measuring anyway")
                return
            if not said:
                log(f"other processes use {busy:.0f}% of a CPU; waiting up to {self.args.wait_quiet} s for quiet")
                said = True

    def measure(self, c, conns, seconds):
        srv = self.servers[c]
        self.wait_quiet()
        up = self.upstreams["nginx"]
        ours = lambda: self.ours_cpu([srv] if c != "direct" else [])
        user0, sys0_proxy = tree_cpu_split(srv.pid)
        ucpu0 = tree_cpu_seconds(up.pid) if c != "direct" else None
        wcpu0 = children_cpu_seconds()
        sys0, ours0 = system_cpu_seconds(), ours()
        t0 = time.monotonic()
        r, raw = run_wrk(srv.port, conns, seconds, self.cpu_load)
        wall = time.monotonic() - t0
        user1, sys1_proxy = tree_cpu_split(srv.pid)
        user = user1 - user0
        cpu = user + (sys1_proxy - sys0_proxy)
        wcpu = children_cpu_seconds() - wcpu0
        # CPU used by anything else on the machine (other jobs, kernel threads such as ksoftirqd): noise
        foreign = (system_cpu_seconds() - sys0) - (ours() - ours0)
        if not srv.alive():
            srv.dump_log()
            raise BenchError(f"{c} died during the run")
        n = r["requests"] or r["rps"] * seconds
        r.update(
            proxy_cpu_us_per_req=cpu / n * 1e6 if n else None,
            proxy_user_us_per_req=user / n * 1e6 if n else None,
            proxy_cpu_pct=cpu / wall * 100,
            upstream_cpu_us_per_req=((tree_cpu_seconds(up.pid) - ucpu0) / n * 1e6) if (n and ucpu0 is not None) else None,
            wrk_cpu_pct=wcpu / wall * 100,
            other_cpu_pct=max(0.0, foreign / wall * 100),
            rss_mib=tree_rss_kib(srv.pid) / 1024,
        )
        return r, raw

    def run_load(self):
        a = self.args
        order = list(self.contenders)
        self.load = {}   # (c, conns) -> list of results (per repeat index)
        for conns in a.conns:
            log(f"--- c={conns}: warm-up {a.warmup} s each (discarded)")
            for c in order:
                r, _ = run_wrk(self.servers[c].port, conns, a.warmup, self.cpu_load)
                if r["non2xx"] or any(r["socket_errors"].values()):
                    log(f"warm-up {c} c={conns}: non-2xx {r['non2xx']}, socket errors {r['socket_errors']}")
            for rep in range(a.repeats):
                rot = order[rep % len(order):] + order[:rep % len(order)]   # rotate: no fixed position
                for c in rot:
                    r, raw = self.measure(c, conns, a.duration)
                    r.update(contender=c, conns=conns, repeat=rep, duration_s=a.duration)
                    self.load.setdefault((c, conns), []).append(r)
                    self.emit(dict(kind="load", **r))
                    with open(os.path.join(self.logdir, "wrk-raw.log"), "a") as f:
                        f.write(f"### {c} c={conns} repeat={rep}\n{raw}\n")
                    flag = ""
                    if r["non2xx"] or any(r["socket_errors"].values()):
                        flag = f"  !! non-2xx {r['non2xx']}, socket errors {r['socket_errors']}"
                    log(f"c={conns} rep {rep + 1}/{a.repeats} {c:9s} {r['rps']:>10,.0f} req/s  p50 {r['p50_ms']:.2f} ms  "
                        f"p99 {r['p99_ms']:.2f} ms  {fnum(r['proxy_cpu_us_per_req'], 1)} µs/req  "
                        f"wrk {r['wrk_cpu_pct']:.0f}% CPU, other {r['other_cpu_pct']:.0f}%{flag}")
        self.report_load()

    def report_load(self):
        a = self.args
        rows, warn = [], []
        for conns in a.conns:
            ref = self.load.get((REFERENCE, conns))
            for c in self.contenders:
                runs = self.load.get((c, conns), [])
                if not runs:
                    continue
                rps = statistics.mean(r["rps"] for r in runs)
                p50 = statistics.median(r["p50_ms"] for r in runs)
                p99 = statistics.median(r["p99_ms"] for r in runs)
                cpu = statistics.mean(r["proxy_cpu_us_per_req"] for r in runs)
                user = statistics.mean(r.get("proxy_user_us_per_req") or 0.0 for r in runs)
                rss = runs[-1]["rss_mib"]
                ups = [r["upstream_cpu_us_per_req"] for r in runs if r["upstream_cpu_us_per_req"] is not None]
                wrkc = statistics.mean(r["wrk_cpu_pct"] for r in runs)
                other = max(r["other_cpu_pct"] for r in runs)
                if other > 15:
                    warn.append(f"{c} c={conns}: up to {other:.0f}% of a CPU used by other processes during a run: "
                                "the machine was not quiet, figures are noisy")
                if ref:
                    rrps = ratio(rps, statistics.mean(r["rps"] for r in ref))
                    rp99 = ratio(p99, statistics.median(r["p99_ms"] for r in ref))
                    rcpu = ratio(cpu, statistics.mean(r["proxy_cpu_us_per_req"] for r in ref))
                    per_round = "/".join(f"{ratio(x['rps'], y['rps']):.2f}" for x, y in zip(runs, ref))
                    interval = ratio_interval(runs, ref)
                else:
                    rrps = rp99 = rcpu = interval = None
                    per_round = "–"
                spread = (max(r["rps"] for r in runs) - min(r["rps"] for r in runs)) / rps * 100 if rps else 0
                errs = sum(r["non2xx"] + sum(r["socket_errors"].values()) for r in runs)
                if errs:
                    warn.append(f"{c} c={conns}: {errs} non-2xx responses or socket errors (see {self.jsonl_path})")
                rows.append([LABELS[c] + (" ⚠" if errs else ""), conns, fnum(rps), fnum(p50, 2), fnum(p99, 2), fnum(cpu, 1),
                             fnum(user, 1), fnum(rss, 1), fratio(rrps),
                             f"{interval[0]:.2f}–{interval[1]:.2f}" if interval else "–", fratio(rp99), fratio(rcpu), per_round,
                             f"{len(runs)} ({spread:.0f}%)", fnum(statistics.mean(ups), 1) if ups else "–", fnum(wrkc), fnum(other)])
                self.emit(dict(kind="load_summary", contender=c, conns=conns, rps=rps, p50_ms=p50, p99_ms=p99,
                               proxy_cpu_us_per_req=cpu, proxy_user_us_per_req=user, rss_mib=rss, rps_vs_nginx=rrps,
                               rps_vs_nginx_interval=list(interval) if interval else None, p99_vs_nginx=rp99,
                               cpu_vs_nginx=rcpu, runs=len(runs), spread_pct=spread))
        header = ["contender", "conns", "req/s", "p50 ms", "p99 ms", "CPU µs/req", "of it user", "RSS MiB", "req/s vs nginx",
                  "95 % interval", "p99 vs nginx", "CPU vs nginx", "req/s ratio per round", "runs (spread)", "upstream µs/req", "wrk CPU %", "other CPU % (max)"]
        text = [f"## Load: wrk -t1 -c{'|'.join(map(str, a.conns))} -d{a.duration}s --latency, keep-alive, GET / "
                f"(100-byte JSON)\n",
                f"Placement: {self.placement_text}. Warm-up {a.warmup} s per contender discarded; {a.repeats} measured "
                "runs each, interleaved (contender order rotated every round). req/s and CPU are means over the runs, "
                "p50/p99 medians, RSS after the last run. Ratios are against the nginx proxy measured in this same "
                "invocation; \"per round\" shows each round's req/s ratio, so drift shows, and the 95 % interval is a "
                "bootstrap over the paired rounds: a target inside it is met only within the noise. CPU µs/req is utime+stime of "
                "the proxy's process tree (all threads) from /proc, divided by the requests wrk completed; \"of it user\" is "
                "the utime part (the rest is the kernel's socket work). \"other CPU\" is "
                "machine-wide user+system time not used by the harness, wrk, the upstreams or the proxy (other jobs, "
                "kernel threads): above ~15 % the machine was not quiet.\n",
                md_table(header, rows)]
        if REFERENCE not in self.contenders:
            text.append("\n(no nginx contender in this run: no ratios)")
        if warn:
            text.append("\n" + "\n".join("⚠ " + w for w in warn))
        self.report.append("\n".join(text))

    # -- streaming ----------------------------------------------------------------------------------

    def stream_targets(self):
        t = [("direct", None)]
        for c in self.contenders:
            # The floor forwards to the load upstream only (it has no routes); the nginx-fwd and nginx-chain
            # reference rows are load rows only.
            if c != "direct" and c not in LOAD_ONLY:
                t.append((c, self.servers[c]))
        return t

    def download(self, port, path, size):
        with socket.create_connection((HOST, port), timeout=60) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            r = RawHTTP(s)
            times = []
            for i in range(self.args.stream_iters + 1):      # first one is a warm-up
                t0 = time.monotonic_ns()
                s.sendall(request_bytes("GET", path, port))
                status, headers = r.read_head()
                n = 0
                for piece in r.body_pieces(headers):
                    n += len(piece)
                t1 = time.monotonic_ns()
                if status != 200 or n != size:
                    raise BenchError(f"download via port {port}: status {status}, {n} bytes, expected {size}")
                if i:
                    times.append((t1 - t0) / 1e6)
            return times

    def upload(self, port, size):
        chunk = os.urandom(min(size, 1 << 20))
        with socket.create_connection((HOST, port), timeout=60) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            r = RawHTTP(s)
            times = []
            for i in range(self.args.stream_iters + 1):
                t0 = time.monotonic_ns()
                s.sendall(request_bytes("POST", "/stream/upload", port, (("Content-Type", "application/octet-stream"),), size))
                left = size
                while left:
                    part = chunk[:left] if left < len(chunk) else chunk
                    s.sendall(part)
                    left -= len(part)
                status, headers = r.read_head()
                body = b"".join(r.body_pieces(headers))
                t1 = time.monotonic_ns()
                try:
                    got = json.loads(body)["received"]
                except (ValueError, KeyError, TypeError):
                    got = None
                if status != 200 or got != size:
                    raise BenchError(f"upload via port {port}: status {status}, body {body[:200]!r}, expected received={size}")
                if i:
                    times.append((t1 - t0) / 1e6)
            return times

    def sse(self, port):
        a = self.args
        lat = []
        for _ in range(a.sse_streams):
            with socket.create_connection((HOST, port), timeout=30) as s:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.sendall(request_bytes("GET", f"/stream/sse?n={a.sse_events}&delay_us={int(a.sse_delay_ms * 1000)}", port,
                                        (("Accept", "text/event-stream"),)))
                r = RawHTTP(s)
                status, headers = r.read_head()
                if status != 200:
                    raise BenchError(f"SSE via port {port}: status {status}")
                pending = b""
                n = 0
                for piece in r.body_pieces(headers):
                    pending += piece
                    while b"\n\n" in pending:
                        ev, pending = pending.split(b"\n\n", 1)
                        for line in ev.split(b"\n"):
                            if line.startswith(b"data: "):
                                sent = json.loads(line[6:])["t"]
                                lat.append((r.last_fill_ns - sent) / 1e3)
                                n += 1
                if n != a.sse_events:
                    raise BenchError(f"SSE via port {port}: {n} events, expected {a.sse_events}")
        return lat

    def run_streaming(self):
        a = self.args
        size = self.big_size
        mib = size / (1 << 20)
        dl_rows, ul_rows, sse_rows = [], [], []
        base = {}
        for c, srv in self.stream_targets():
            port_big = srv.port if srv else PORTS["upstream"]
            port_stream = srv.port if srv else PORTS["stream"]
            label = LABELS[c] if srv else "direct (no proxy)"
            self.wait_quiet()
            log(f"streaming via {c}")
            with RssSampler(srv.pid, 0.02) if srv else _NullSampler() as smp:
                dl = self.download(port_big, "/big", size)
                dl_rss = smp.max_kib() / 1024
            with RssSampler(srv.pid, 0.02) if srv else _NullSampler() as smp:
                ul = self.upload(port_stream, size)
                ul_rss = smp.max_kib() / 1024
            lat = self.sse(port_stream)
            med_dl, med_ul = statistics.median(dl), statistics.median(ul)
            s50, s99, smax = pct(lat, 50), pct(lat, 99), max(lat)
            if c == "direct":
                base = dict(dl=med_dl, ul=med_ul, s50=s50, s99=s99, smax=smax)
            rec = dict(kind="stream", contender=c, body_bytes=size, download_ms=dl, upload_ms=ul,
                       download_ms_median=med_dl, upload_ms_median=med_ul, download_peak_rss_mib=dl_rss if srv else None,
                       upload_peak_rss_mib=ul_rss if srv else None, sse_events=len(lat), sse_delay_ms=a.sse_delay_ms,
                       sse_p50_us=s50, sse_p99_us=s99, sse_max_us=smax,
                       sse_added_p50_us=s50 - base["s50"], sse_added_p99_us=s99 - base["s99"],
                       sse_added_max_us=smax - base["smax"])
            self.emit(rec)
            rss = lambda x: fnum(x, 1) if srv else "–"
            dl_rows.append([label, fnum(med_dl, 2), fnum(min(dl), 2), fnum(mib / (med_dl / 1e3)),
                            fnum(med_dl - base["dl"], 2) if srv else "–", rss(dl_rss)])
            ul_rows.append([label, fnum(med_ul, 2), fnum(min(ul), 2), fnum(mib / (med_ul / 1e3)),
                            fnum(med_ul - base["ul"], 2) if srv else "–", rss(ul_rss)])
            sse_rows.append([label, len(lat), fnum(s50), fnum(s99), fnum(smax),
                             fnum(s50 - base["s50"]) if srv else "–", fnum(s99 - base["s99"]) if srv else "–",
                             fnum(smax - base["smax"]) if srv else "–"])
        hdr = lambda what: ["path", f"{what} ms (median)", "min ms", "MiB/s", "added ms vs direct", "proxy peak RSS MiB"]
        self.report.append("\n".join([
            f"## Streaming: {fnum(mib, 0)} MiB body, {a.stream_iters} transfers per path on one keep-alive "
            "connection (after 1 warm-up)\n",
            f"Download: GET /big (a {fnum(mib, 0)} MiB file served by the upstream nginx). Upload: POST /stream/upload "
            "with Content-Length to the Python upstream, which counts the bytes and answers {\"received\": N}. "
            "Time = request sent → last byte of the response read. Peak RSS sampled every 20 ms.\n",
            "### Download\n", md_table(hdr("download"), dl_rows), "",
            "### Upload\n", md_table(hdr("upload"), ul_rows), "",
            f"### SSE: {a.sse_streams} × {a.sse_events} events, one every {a.sse_delay_ms} ms\n",
            "The Python upstream stamps each event with time.monotonic_ns() just before writing it; the client takes "
            "time.monotonic_ns() after the read that completes the event (both processes share CLOCK_MONOTONIC). "
            "\"added\" = through the proxy minus direct, at the same percentile.\n",
            md_table(["path", "events", "p50 µs", "p99 µs", "max µs", "added p50 µs", "added p99 µs", "added max µs"],
                     sse_rows),
        ]))

    # -- memory -------------------------------------------------------------------------------------

    def idle_default_rss(self):
        busy = [p for p in DEFAULT_CONFIG_PORTS if not port_bindable(p)]
        if busy:
            self.report.append(f"## gw idle RSS, default config\n\nSkipped: ports {busy} of the default config are in use.")
            return
        srv = Server("gw-default", [self.gw_bin, "run"], 8080, self.cpu_proxy, self.logdir, admin_port=9901).start()
        try:
            time.sleep(2)
            rss = tree_rss_kib(srv.pid) / 1024
        finally:
            srv.stop()
            STARTED.remove(srv)
        self.emit(dict(kind="idle_rss_default", rss_mib=rss))
        self.report.append("## gw idle RSS, default config\n\n"
                           f"`gw run` (embedded default config), VmRSS 2 s after /ready: **{rss:.1f} MiB** (target < 40 MiB).")

    def hold_idle(self, name, port, n):
        """RSS of a freshly started proxy before/after n idle keep-alive connections (one request each)."""
        socks = []
        try:
            srv = self.mem_servers[name]
            for _ in range(5):   # warm the path and the upstream pool
                st, _, _ = http_request(port, "/")
            time.sleep(1)
            rss0 = tree_rss_kib(srv.pid)
            t0 = time.monotonic()
            for i in range(n):
                s = socket.create_connection((HOST, port), timeout=10)
                socks.append(s)
                s.sendall(request_bytes("GET", "/", port))
                r = RawHTTP(s)
                status, headers = r.read_head()
                body = b"".join(r.body_pieces(headers))
                if status != 200 or len(body) != len(BODY):
                    raise BenchError(f"idle-conns {name}: connection {i} got {status}")
            open_s = time.monotonic() - t0
            time.sleep(2)
            rss1 = tree_rss_kib(srv.pid)
            # prove the connections are still held: one more request on the first and the last
            for s in (socks[0], socks[-1]):
                s.sendall(request_bytes("GET", "/", port))
                r = RawHTTP(s)
                status, headers = r.read_head()
                b"".join(r.body_pieces(headers))
                if status != 200:
                    raise BenchError(f"idle-conns {name}: a held connection answered {status}")
        finally:
            for s in socks:
                s.close()
        time.sleep(1)
        rss2 = tree_rss_kib(srv.pid)
        return rss0, rss1, rss2, open_s

    def run_memory(self):
        a = self.args
        n = a.idle_conns
        if "gw" in self.contenders or "gw-chain" in self.contenders:
            self.idle_default_rss()
        self.mem_servers = {}
        targets = []
        if "gw" in self.contenders or "gw-chain" in self.contenders:
            targets.append(("gw", PORTS["mem-gw"]))
        if "nginx" in self.contenders:
            targets.append(("nginx", PORTS["mem-nginx"]))
        if "haproxy" in self.contenders:
            if self.haproxy_maxconn(n) < n + 10:
                self.notes.append(f"HAProxy skipped in the idle-connection test: maxconn {self.haproxy_maxconn(n)} "
                                  f"(open-files limit {self.fd_limit}) < {n}")
            else:
                targets.append(("haproxy", PORTS["mem-haproxy"]))
        rows = []
        for name, port in targets:
            log(f"idle connections: {n} to a fresh {name}")
            if name == "gw":
                srv = self.start_gw("mem-gw", port, PORTS["mem-gw.admin"], "")
            elif name == "nginx":
                srv = self.start_nginx("mem-nginx", port, idle=n)
            else:
                srv = self.start_haproxy("mem-haproxy", port, idle=n)
            self.mem_servers[name] = srv
            try:
                rss0, rss1, rss2, open_s = self.hold_idle(name, port, n)
            finally:
                srv.stop()
                STARTED.remove(srv)
            per = (rss1 - rss0) / n
            self.emit(dict(kind="idle_conns", contender=name, conns=n, rss_before_kib=rss0, rss_held_kib=rss1,
                           rss_after_close_kib=rss2, kib_per_conn=per, open_seconds=open_s))
            rows.append(["gw (fresh, no filters)" if name == "gw" else LABELS[name], n, fnum(rss0 / 1024, 1),
                         fnum(rss1 / 1024, 1), f"**{per:.1f}**", fnum(rss2 / 1024, 1)])
        if rows:
            self.report.append("\n".join([
                f"## RSS per idle keep-alive connection ({n} connections)\n",
                "A freshly started proxy; 5 warm-up requests; RSS; then N HTTP/1.1 keep-alive connections each make one "
                "request and stay open; RSS 2 s later (the first and last connection are then checked to still be "
                "open); all closed; RSS 1 s later. RSS is VmRSS summed over the process tree (nginx: master + worker). "
                "Target for gw: < 16 KiB per connection.\n",
                md_table(["proxy", "conns", "RSS before MiB", "RSS held MiB", "KiB / conn", "RSS after close MiB"], rows)]))

    # -- soak ---------------------------------------------------------------------------------------

    def run_soak(self):
        a = self.args
        c = a.soak_target
        srv = self.servers[c]
        conns = a.conns[0]
        log(f"soak: {a.soak} s of wrk -c{conns} against {c}, RSS every {a.soak_interval} s")
        argv = (["taskset", "-c", str(self.cpu_load)] if self.cpu_load is not None else []) + [
            "wrk", "-t1", f"-c{conns}", f"-d{a.soak}s", "--latency", "--timeout", "5s",
            "-H", f"{AUTH_HEADER[0]}: {AUTH_HEADER[1]}", f"http://{HOST}:{srv.port}/"]
        samples = [(0.0, tree_rss_kib(srv.pid))]
        cpu0 = tree_cpu_seconds(srv.pid)
        t0 = time.monotonic()
        wrk = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            while wrk.poll() is None:
                try:
                    wrk.wait(timeout=a.soak_interval)
                except subprocess.TimeoutExpired:
                    samples.append((time.monotonic() - t0, tree_rss_kib(srv.pid)))
                    log(f"soak t={samples[-1][0]:.0f}s RSS {samples[-1][1] / 1024:.1f} MiB")
                if time.monotonic() - t0 > a.soak + 60:
                    raise BenchError("soak: wrk did not finish in time")
            out, err = wrk.communicate(timeout=30)
        finally:
            if wrk.poll() is None:
                wrk.kill()
                wrk.wait(timeout=10)
        if wrk.returncode != 0:
            raise BenchError(f"soak: wrk failed: {err}")
        samples.append((time.monotonic() - t0, tree_rss_kib(srv.pid)))
        r = parse_wrk(out)
        n = r["requests"] or 1
        cpu_us = (tree_cpu_seconds(srv.pid) - cpu0) / n * 1e6
        mibs = [s / 1024 for _, s in samples]
        self.emit(dict(kind="soak", contender=c, seconds=a.soak, conns=conns, rss_samples=samples, **r,
                       proxy_cpu_us_per_req=cpu_us))
        self.report.append("\n".join([
            f"## Soak: {LABELS[c]}, wrk -t1 -c{conns} for {a.soak} s\n",
            md_table(["req/s", "p99 ms", "CPU µs/req", "errors", "RSS first MiB", "RSS min", "RSS max", "RSS last",
                      "samples"],
                     [[fnum(r["rps"]), fnum(r["p99_ms"], 2), fnum(cpu_us, 1),
                       r["non2xx"] + sum(r["socket_errors"].values()), fnum(mibs[0], 1), fnum(min(mibs), 1),
                       fnum(max(mibs), 1), fnum(mibs[-1], 1), len(mibs)]]),
            "\nRSS every {0} s (MiB): ".format(a.soak_interval) + ", ".join(f"{m:.1f}" for m in mibs)]))

    # -- main ---------------------------------------------------------------------------------------

    def run(self):
        a = self.args
        self.contenders = a.only
        self.gw_bin = None
        if any(c.startswith("gw") for c in self.contenders) or (a.soak and a.soak_target.startswith("gw")):
            self.gw_bin = a.gw_bin or os.environ.get("GW_BIN") or os.path.join(ROOT, ".build/pgo/release/gw")
            if not (os.path.isfile(self.gw_bin) and os.access(self.gw_bin, os.X_OK)):
                raise BenchError(f"gw binary not found at {self.gw_bin} (set GW_BIN, or run bench/run.sh which builds it)")
            self.gw_bin = os.path.abspath(self.gw_bin)
        if "nio-floor" in self.contenders:
            base = self.gw_bin or os.environ.get("GW_BIN") or os.path.join(ROOT, ".build/pgo/release/gw")
            self.nio_floor_bin = os.path.join(os.path.dirname(os.path.abspath(base)), "gw-nio-floor")
            if not os.access(self.nio_floor_bin, os.X_OK):
                self.notes.append(f"nio-floor skipped: {self.nio_floor_bin} not built "
                                  "(scripts/build-release.sh --pgo builds it with gw)")
                self.contenders = [c for c in self.contenders if c != "nio-floor"]
        self.check_tools()
        self.raise_nofile()
        meta = dict(kind="meta", argv=sys.argv[1:], contenders=self.contenders, placement_text=self.placement_text,
                    machine=self.machine(), versions=self.versions(), fd_limit=self.fd_limit)
        self.emit(meta)
        log(f"placement {self.placement_text}")
        log(f"results: {self.jsonl_path}; scratch: {self.tmp}")

        self.start_upstreams()
        started = list(self.contenders)
        if a.soak and a.soak_target not in started:
            started.append(a.soak_target)
        for c in started:
            self.servers[c] = self.start_contender(c)
            self.verify_contender(c, self.servers[c])
        if "load" not in a.skip:
            self.run_load()
        if "streaming" not in a.skip:
            self.run_streaming()
        if "memory" not in a.skip:
            self.run_memory()
        if a.soak:
            self.run_soak()

        m = meta["machine"]
        v = meta["versions"]
        head = [f"# gw benchmark, {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}\n",
                f"- Machine: {m['cpus']} × {m['cpu']}, {m['memory']}, kernel {m['kernel']}",
                f"- Placement: {self.placement_text}",
                "- Tools: " + ", ".join(f"{k} = {v[k]}" for k in ("nginx", "haproxy", "wrk") if k in v),
                f"- gw: {v.get('gw_bin', 'not run')}" + (f" (built {v['gw_bin_mtime']})" if "gw_bin_mtime" in v else "")
                + f", checkout {v.get('gw_checkout', '?')}",
                f"- Command: `bench/run.sh {' '.join(a.argv_for_report)}`",
                f"- Raw results: {os.path.relpath(self.jsonl_path, ROOT)}"]
        if self.chain_kind:
            head.append(f"- gw-chain: {self.chain_kind}")
        loops = ("1 event loop (pinned to one CPU)" if self.gw_loop_args() else
                 "the event loops given by --gw-arg, else System.coreCount")
        head.append(f"- gw runs {loops}; nginx 1 worker, "
                    "HAProxy nbthread 1; every proxy keeps ≥ connections idle upstream connections "
                    f"(nginx `keepalive {max(512, 2 * max(a.conns))}`, HAProxy `http-reuse always`).")
        for n in self.notes:
            head.append(f"- **Note:** {n}")
        text = "\n".join(head) + "\n\n" + "\n\n".join(self.report) + "\n"
        with open(self.md_path, "w") as f:
            f.write(text)
        print(text, flush=True)
        log(f"report: {self.md_path}")

    def close(self, ok):
        stop_all()
        self.jsonl.close()
        if ok and not self.args.keep_tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            log(f"scratch kept (configs, server logs, raw wrk output): {self.tmp}")


class _NullSampler:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def max_kib(self):
        return 0


# ------------------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="bench/run.sh", description="Benchmark gw against nginx and HAProxy on 127.0.0.1 (see bench/README.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--only", default=",".join(DEFAULT_CONTENDERS),
                   help=f"comma-separated contenders, from {','.join(ALL_CONTENDERS)} ('direct' = wrk straight at the upstream)")
    p.add_argument("--quick", action="store_true", help="3 s runs, 1 s warm-up, fewer streaming iterations")
    p.add_argument("-d", "--duration", type=int, default=None, help="seconds per measured wrk run (default 10, --quick 3)")
    p.add_argument("--warmup", type=int, default=None, help="seconds of discarded warm-up per contender and concurrency (default 3, --quick 1)")
    p.add_argument("-n", "--repeats", type=int, default=2, help="measured runs per contender and concurrency, interleaved")
    p.add_argument("--conns", default="64,256", help="wrk connection counts (wrk -c)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--placement", choices=["pinned-b", "pinned", "unpinned"], default="pinned-b",
                   help="pinned-b: wrk+upstreams on CPU 0, proxy alone on CPU 1; pinned: proxy+upstreams on CPU 1")
    g.add_argument("--unpinned", dest="placement", action="store_const", const="unpinned", help="same as --placement unpinned")
    p.add_argument("--skip", default="", help="comma-separated sections to skip: load,streaming,memory")
    p.add_argument("--body-mib", type=int, default=1, help="size of the streamed download/upload body in MiB")
    p.add_argument("--stream-iters", type=int, default=None, help="transfers per path (default 10, --quick 5; 2 when --body-mib >= 64)")
    p.add_argument("--sse-events", type=int, default=200)
    p.add_argument("--sse-delay-ms", type=float, default=5.0, help="delay between SSE events")
    p.add_argument("--sse-streams", type=int, default=None, help="SSE streams per path (default 3, --quick 1)")
    p.add_argument("--idle-conns", type=int, default=2000, help="idle keep-alive connections for the per-connection RSS test (max 10000)")
    p.add_argument("--soak", type=int, default=0, metavar="SECONDS", help="also run wrk this long against --soak-target, RSS every 10 s")
    p.add_argument("--soak-target", default="gw-chain", choices=ALL_CONTENDERS)
    p.add_argument("--soak-interval", type=int, default=10, help=argparse.SUPPRESS)
    p.add_argument("--chain-filters", metavar="FILE", help="YAML list of filter entries for gw-chain (overrides the default chain)")
    p.add_argument("--chain-c-hello", action="store_true", help="use 3 × sample-plugins/c-hello for gw-chain even if the real plugins exist")
    p.add_argument("--gw-bin", help="the gw executable (default $GW_BIN, else .build/pgo/release/gw)")
    p.add_argument("--gw-arg", action="append", default=[], help="extra argument for `gw run` (repeatable)")
    p.add_argument("--wait-quiet", type=int, default=30, metavar="SECONDS",
                   help="before each measured run, wait up to this long for other processes to use < 10%% of a CPU (0: never wait)")
    p.add_argument("--keep-tmp", action="store_true", help="keep the scratch directory (configs, logs, raw wrk output)")
    p.add_argument("--stream-upstream", type=int, metavar="PORT", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.stream_upstream:
        return a
    shown, skip = [], False   # the command for the report, without the --gw-bin run.sh always adds
    for x in argv:
        if skip:
            skip = False
        elif x == "--gw-bin":
            skip = True
        elif not x.startswith("--gw-bin="):
            shown.append(x)
    a.argv_for_report = shown
    a.only = [c.strip() for c in a.only.split(",") if c.strip()]
    bad = [c for c in a.only if c not in ALL_CONTENDERS]
    if bad or not a.only:
        p.error(f"--only: unknown contender(s) {bad}; choose from {ALL_CONTENDERS}")
    a.only = [c for c in ALL_CONTENDERS if c in a.only]   # canonical order
    a.skip = {s.strip() for s in a.skip.split(",") if s.strip()}
    if a.skip - {"load", "streaming", "memory"}:
        p.error(f"--skip: unknown section(s) {a.skip - {'load', 'streaming', 'memory'}}")
    a.conns = [int(x) for x in a.conns.split(",") if x.strip()]
    a.duration = a.duration or (3 if a.quick else 10)
    a.warmup = a.warmup if a.warmup is not None else (1 if a.quick else 3)
    if a.stream_iters is None:
        a.stream_iters = 2 if a.body_mib >= 64 else (5 if a.quick else 10)
    a.sse_streams = a.sse_streams or (1 if a.quick else 3)
    if not 1 <= a.idle_conns <= 10000:
        p.error("--idle-conns must be 1..10000")
    if a.repeats < 1 or a.duration < 1:
        p.error("--repeats and --duration must be >= 1")
    return a


def main(argv):
    a = parse_args(argv)
    if a.stream_upstream:
        stream_upstream_main(a.stream_upstream)
        return 0

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGINT, signal.default_int_handler)   # even when started in the background
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    bench = Bench(a)
    ok = False
    try:
        bench.run()
        ok = True
        return 0
    except KeyboardInterrupt:
        log("interrupted; stopping every server started")
        return 130
    except (BenchError, subprocess.TimeoutExpired, OSError) as e:
        log(f"ERROR: {e}")
        return 1
    finally:
        bench.close(ok)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
