#!/usr/bin/env python3
"""Instructions per proxied request, counted by valgrind's callgrind: a measure of gw's own CPU
work that does not move with the machine's noise, unlike wrk's requests/s on a shared VM.

Two workarounds make valgrind 3.19 (Debian 12) run a Swift 6 binary: gw and its plugins are copied
with their debug info stripped (valgrind cannot read Swift's DWARF 5; the symbol table stays, so
function names do), and a one-function LD_PRELOAD shim gives libdispatch's sigsuspend a writable copy
of its signal mask (valgrind edits the mask in place, and libdispatch's is in read-only memory).

For each case (gw with no filters, gw with the bench's three-filter chain) it starts the bench's
nginx upstream, then gw under `valgrind --tool=callgrind --instr-atstart=no` with one event loop,
sends a warm-up, switches collection on (`callgrind_control -i on`), sends a fixed number of
keep-alive requests (a small client here), dumps the counts and prints instructions (Ir) per request, user space
only (the kernel's socket work is not counted). With --top N it also lists the N functions with
the most inclusive instructions per request, from callgrind_annotate. With --cache-sim callgrind
also simulates the caches (32 KiB L1s as on this machine's CPU, no prefetching, no kernel code) and
the L1 instruction- and data-cache misses per request are printed: a request's code that does not fit
in the L1 instruction cache is fetched again on every request, which instruction counts alone miss.

Usage (normally through `make bench-instructions`):
  python3 bench/instructions.py --gw-bin .build/pgo/release/gw [--requests 20000] [--conns 16] [--top 30]

Every server is started here and stopped here; everything listens on 127.0.0.1 (the bench's ports).
"""

import argparse
import os
import re
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the load bench's configs, ports and server handling)

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gw-bin", default=os.path.join(bench.ROOT, ".build/pgo/release/gw"))
    p.add_argument("--requests", type=int, default=20000, help="measured requests per case")
    p.add_argument("--warmup", type=int, default=3000, help="requests before counting starts")
    p.add_argument("--conns", type=int, default=16, help="keep-alive connections")
    p.add_argument("--only", default="gw,gw-chain",
                   help="cases: gw, gw-chain, nio-floor (SwiftNIO forwarding bytes 1:1, the bench's reference row), "
                        "nginx (the bench's nginx proxy), nginx-fwd (the same doing gw's default header work), "
                        "nginx-chain (nginx-fwd plus the chain's work in nginx's terms)")
    p.add_argument("--top", type=int, default=0, help="list the N costliest functions (inclusive Ir)")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory (callgrind.out files)")
    p.add_argument("--cache-sim", action="store_true",
                   help="simulate the caches too; print L1 instruction and data misses per request (about 2x slower)")
    p.add_argument("--dump-instr", action="store_true",
                   help="count per instruction too (callgrind --dump-instr=yes), for callgrind_annotate on addresses")
    return p.parse_args(argv)


def run_count(port, conns, count):
    """Send `count` GET / requests over `conns` keep-alive connections, each waiting for its
    response before the next (as wrk does); every answer must be a 200 with a Content-Length body.
    wrk cannot do this: it always runs for its whole -d duration."""
    request = bench.request_bytes("GET", "/", port)
    socks = []
    for _ in range(conns):
        s = socket.create_connection((bench.HOST, port), timeout=120)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        socks.append(s)
    sel = selectors.DefaultSelector()
    pending = {}
    sent = done = 0
    try:
        for s in socks:
            if sent < count:
                s.sendall(request)
                sent += 1
                pending[s] = bytearray()
                sel.register(s, selectors.EVENT_READ)
        deadline = time.monotonic() + 1800
        while done < count:
            if time.monotonic() > deadline:
                raise bench.BenchError(f"{done} of {count} responses after 30 minutes")
            for key, _ in sel.select(timeout=60):
                s = key.fileobj
                chunk = s.recv(65536)
                if not chunk:
                    raise bench.BenchError("gw closed a keep-alive connection")
                buf = pending[s]
                buf += chunk
                while True:
                    end = buf.find(b"\r\n\r\n")
                    if end < 0:
                        break
                    head = bytes(buf[:end]).decode("latin-1")
                    if not head.startswith("HTTP/1.1 200"):
                        raise bench.BenchError(f"unexpected answer: {head.splitlines()[0]!r}")
                    m = re.search(r"(?im)^content-length:\s*(\d+)", head)
                    if not m:
                        raise bench.BenchError("answer without Content-Length")
                    total = end + 4 + int(m.group(1))
                    if len(buf) < total:
                        break
                    del buf[:total]
                    done += 1
                    if sent < count:
                        s.sendall(request)
                        sent += 1
    finally:
        sel.close()
        for s in socks:
            s.close()
    return done


def callgrind_control(*args):
    p = subprocess.run(["callgrind_control", *args], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise bench.BenchError(f"callgrind_control {' '.join(args)} failed: {p.stderr.strip() or p.stdout.strip()}")


def totals(path):
    """The dump's totals by event name (Ir, and I1mr, D1mr, D1mw... with the cache simulation)."""
    events = ["Ir"]
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("events:"):
                events = line.split()[1:]
            elif line.startswith("summary:") or line.startswith("totals:"):
                return dict(zip(events, (int(x) for x in line.split()[1:])))
    raise bench.BenchError(f"{path}: no summary line")


def total_ir(path):
    return totals(path)["Ir"]


def top_functions(path, requests, n):
    p = subprocess.run(["callgrind_annotate", "--inclusive=yes", f"--threshold=100", path],
                       capture_output=True, text=True, timeout=300)
    rows = []
    for line in p.stdout.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)", line)
        if not m:
            continue
        ir = int(m.group(1).replace(",", ""))
        name = m.group(2)
        if "PROGRAM TOTALS" in name:
            continue
        rows.append((ir, name))
        if len(rows) >= n:
            break
    return [(ir / requests, name) for ir, name in rows]


SHIM_C = r"""
#define _GNU_SOURCE
#include <signal.h>
#include <unistd.h>
#include <sys/syscall.h>
int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, 8);
}
"""


def prepare_binaries(gw_bin, tmp):
    """Debug-stripped copies of gw and its plugins, and the sigsuspend shim (see the module doc)."""
    src = os.path.dirname(os.path.abspath(gw_bin))
    out = os.path.join(tmp, "bin")
    os.makedirs(out, exist_ok=True)
    names = ["gw"] + sorted(n for n in os.listdir(src) if n.startswith("libgw_") and n.endswith(".so"))
    if os.path.exists(os.path.join(src, "gw-nio-floor")):
        names.append("gw-nio-floor")
    for name in names:
        p = subprocess.run(["objcopy", "--strip-debug", os.path.join(src, name), os.path.join(out, name)],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise bench.BenchError(f"objcopy {name}: {p.stderr.strip()}")
    shim_c = os.path.join(tmp, "sigsuspend_shim.c")
    with open(shim_c, "w") as f:
        f.write(SHIM_C)
    shim = os.path.join(tmp, "sigsuspend_shim.so")
    p = subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", shim, shim_c], capture_output=True, text=True)
    if p.returncode != 0:
        raise bench.BenchError(f"cc sigsuspend shim: {p.stderr.strip()}")
    return os.path.join(out, "gw"), shim


def measure(case, args, tmp, logdir):
    port = bench.PORTS[case]
    admin = bench.PORTS.get(case + ".admin")
    filters = ""
    if case == "gw-chain":
        plugin_dir = os.path.dirname(args.gw_bin)
        for name in ("auth", "rate_limit", "transform"):
            if not os.path.exists(os.path.join(plugin_dir, f"libgw_{name}.so")):
                raise bench.BenchError(f"libgw_{name}.so not found next to {args.gw_bin}")
        filters = (bench.DEFAULT_PLUGIN_CHAIN.replace("${GW_PLUGIN_DIR}", plugin_dir)
                   .replace("${GW_BENCH_API_KEY}", bench.API_KEY))
    shim = [f"LD_PRELOAD={args.shim}"]
    if case == "nio-floor":
        floor = os.path.join(os.path.dirname(args.gw_bin), "gw-nio-floor")
        if not os.path.exists(floor):
            raise bench.BenchError(f"gw-nio-floor not found next to {args.gw_bin}")
        command = [floor, str(port), str(bench.PORTS["upstream"])]
    elif case in ("nginx", "nginx-fwd", "nginx-chain"):
        # The bench's nginx proxy in one process (no master), so callgrind sees the worker's work.
        text = bench.nginx_proxy_conf(tmp, case, port, 512, 8192, forwarding=case == "nginx-fwd", chain=case == "nginx-chain")
        text = text.replace("daemon off;", "daemon off;\nmaster_process off;", 1)
        cfg = os.path.join(tmp, "conf", f"{case}.conf")
        with open(cfg, "w") as f:
            f.write(text)
        command = [args.nginx, "-p", os.path.join(tmp, "nginx-tmp"), "-e", os.path.join(logdir, f"{case}-stderr.log"),
                   "-c", cfg]
        shim = []
    else:
        cfg = os.path.join(tmp, "conf", f"{case}.yaml")
        with open(cfg, "w") as f:
            f.write(bench.gw_config(port, admin, filters))
        command = [args.gw_bin, "run", "--config", cfg, "--log-level", "warning", "--event-loops", "1"]
    out = os.path.join(tmp, f"callgrind.out.{case}")
    argv = ["env", *shim,
            "valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
            *(["--dump-instr=yes"] if args.dump_instr else []), *(["--cache-sim=yes"] if args.cache_sim else []),
            *command]
    server = bench.Server(case, argv, port, None, logdir, admin_port=admin).start(ready_timeout=300)
    try:
        run_count(port, args.conns, args.warmup)
        callgrind_control("-i", "on", str(server.pid))
        t0 = time.monotonic()
        served = run_count(port, args.conns, args.requests)
        callgrind_control("-d", str(server.pid))
        elapsed = time.monotonic() - t0
    finally:
        server.stop()
        if server in bench.STARTED:
            bench.STARTED.remove(server)
    dumps = sorted(p for p in os.listdir(tmp) if p.startswith(f"callgrind.out.{case}"))
    # The dump asked for holds the measured phase; the one written at exit holds nothing (collection
    # was still on, but only shutdown followed) or is ignored.
    dumped = [os.path.join(tmp, p) for p in dumps if p != f"callgrind.out.{case}"]
    if not dumped:
        raise bench.BenchError(f"{case}: callgrind wrote no dump ({dumps})")
    path = dumped[0]
    ir = total_ir(path)
    return served, ir, elapsed, path


def main(argv):
    args = parse_args(argv)
    for tool in ("valgrind", "callgrind_control", "callgrind_annotate", "objcopy", "cc"):
        if not shutil.which(tool):
            print(f"instructions: {tool} not found (apt-get install valgrind binutils gcc)", file=sys.stderr)
            return 1
    nginx = args.nginx = bench.find_tool("nginx")
    tmp = tempfile.mkdtemp(prefix="gw-ir-")
    for d in ("conf", "logs", "run", "nginx-tmp"):
        os.makedirs(os.path.join(tmp, d), exist_ok=True)
    logdir = os.path.join(tmp, "logs")
    ok = False
    try:
        args.gw_bin, args.shim = prepare_binaries(args.gw_bin, tmp)
        big = os.path.join(tmp, "big.bin")
        open(big, "wb").close()
        conf = os.path.join(tmp, "conf", "upstream.conf")
        with open(conf, "w") as f:
            f.write(bench.upstream_conf(tmp, big))
        bench.Server("upstream-nginx", [nginx, "-p", os.path.join(tmp, "nginx-tmp"), "-e",
                                        os.path.join(logdir, "upstream-stderr.log"), "-c", conf],
                     bench.PORTS["upstream"], None, logdir).start()
        results = []
        for case in args.only.split(","):
            served, ir, elapsed, path = measure(case, args, tmp, logdir)
            results.append((case, served, ir))
            print(f"{case:10s} {served:7d} requests  {ir / served:10,.0f} Ir/request  ({elapsed:.0f} s under callgrind)",
                  flush=True)
            if args.cache_sim:
                counts = totals(path)
                print(f"{'':10s} L1 misses per request: instructions {counts.get('I1mr', 0) / served:,.0f}, "
                      f"data {(counts.get('D1mr', 0) + counts.get('D1mw', 0)) / served:,.0f}", flush=True)
            for per, name in top_functions(path, served, args.top) if args.top else []:
                print(f"    {per:10,.0f}  {name[:150]}")
        if len(results) >= 2:
            (_, s0, i0), (_, s1, i1) = results[:2]
            print(f"difference {i1 / s1 - i0 / s0:10,.0f} Ir/request  ({results[1][0]} minus {results[0][0]})")
        ok = True
        return 0
    except bench.BenchError as e:
        print(f"instructions: ERROR: {e}", file=sys.stderr)
        return 1
    finally:
        bench.stop_all()
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"instructions: scratch directory kept: {tmp}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
