#!/usr/bin/env python3
"""A/B of two gw builds under load, interleaved: the way to see a few percent on a VM whose
absolute req/s drift by tens of percent between minutes.

For each round and each build (order alternating per round) it starts gw (one event loop, alone on
CPU 1) with no filters or with the bench's three-filter chain, warms up, runs wrk -c64 on CPU 0
(with the bench's nginx upstream there too), and records req/s and gw's CPU µs per request (from
/proc). Prints each round and the medians. The plugins of each build are the ones next to its gw.
With --tls, wrk connects over TLS (gw's listener with a self-signed certificate made by the
openssl CLI; the upstream stays plain): what a build does with the TLS code.

  python3 bench/ab.py --a OLD/gw --b NEW/gw [--chain] [--tls] [--rounds 6] [--seconds 6]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", required=True, help="gw binary A (plugins next to it)")
    p.add_argument("--b", required=True, help="gw binary B")
    p.add_argument("--chain", action="store_true", help="with auth + rate_limit + transform")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--seconds", type=int, default=6)
    p.add_argument("--conns", type=int, default=64)
    p.add_argument("--tls", action="store_true", help="TLS from wrk to gw")
    args = p.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="gw-ab-")
    for d in ("conf", "logs", "run", "nginx-tmp"):
        os.makedirs(os.path.join(tmp, d), exist_ok=True)
    logdir = os.path.join(tmp, "logs")
    try:
        big = os.path.join(tmp, "big.bin")
        open(big, "wb").close()
        conf = os.path.join(tmp, "conf", "upstream.conf")
        with open(conf, "w") as f:
            f.write(bench.upstream_conf(tmp, big))
        bench.Server("upstream-nginx", [bench.find_tool("nginx"), "-p", os.path.join(tmp, "nginx-tmp"), "-e",
                                        os.path.join(logdir, "upstream-stderr.log"), "-c", conf],
                     bench.PORTS["upstream"], 0, logdir).start()
        tls_line = ""
        if args.tls:
            cert, key = os.path.join(tmp, "conf", "cert.pem"), os.path.join(tmp, "conf", "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-keyout", key,
                            "-out", cert, "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
            tls_line = f'    tls: {{certificate: "{cert}", private_key: "{key}"}}\n'
        scheme = "https" if args.tls else "http"
        results = {"A": [], "B": []}
        port, admin = bench.PORTS["gw"], bench.PORTS["gw.admin"]
        for r in range(args.rounds):
            for name in (("A", "B") if r % 2 == 0 else ("B", "A")):
                binary = os.path.abspath(args.a if name == "A" else args.b)
                filters = ""
                if args.chain:
                    filters = (bench.DEFAULT_PLUGIN_CHAIN.replace("${GW_PLUGIN_DIR}", os.path.dirname(binary))
                               .replace("${GW_BENCH_API_KEY}", bench.API_KEY))
                cfg = os.path.join(tmp, "conf", f"gw-{name}.yaml")
                with open(cfg, "w") as f:
                    listener = f"    address: {bench.HOST}:{port}\n"
                    f.write(bench.gw_config(port, admin, filters).replace(listener, listener + tls_line, 1))
                server = bench.Server(f"gw-{name}", [binary, "run", "--config", cfg, "--log-level", "warning",
                                                     "--event-loops", "1"], port, 1, logdir, admin_port=admin).start()
                try:
                    bench.run_wrk(port, args.conns, 2, 0, scheme=scheme)
                    cpu0 = bench.tree_cpu_seconds(server.pid)
                    stats, _ = bench.run_wrk(port, args.conns, args.seconds, 0, scheme=scheme)
                    cpu = bench.tree_cpu_seconds(server.pid) - cpu0
                finally:
                    server.stop()
                    bench.STARTED.remove(server)
                if stats["non2xx"] or any(stats["socket_errors"].values()):
                    raise bench.BenchError(f"gw-{name}: errors in the run: {stats}")
                rps = stats["rps"]
                us = cpu / stats["requests"] * 1e6 if stats["requests"] else float("nan")
                results[name].append((rps, us))
                print(f"round {r + 1} {name}: {rps:9,.0f} req/s  {us:5.1f} µs CPU/req  p99 {stats.get('p99_ms', float('nan')):.2f} ms",
                      flush=True)
                time.sleep(1)
        for name in ("A", "B"):
            rps = [x for x, _ in results[name]]
            us = [y for _, y in results[name]]
            print(f"{name}: median {statistics.median(rps):,.0f} req/s, {statistics.median(us):.1f} µs CPU/req "
                  f"(req/s {min(rps):,.0f}–{max(rps):,.0f})")
        wins = sum(1 for a, b in zip(results["A"], results["B"]) if b[0] > a[0])
        print(f"B faster than A in {wins} of {args.rounds} rounds")
        return 0
    finally:
        bench.stop_all()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
