#!/usr/bin/env python3
"""gw fault scenarios under load: requests sent, successes, failures by cause, recovery time.

Python 3 standard library only. Everything listens on 127.0.0.1: fault upstreams on ephemeral ports, gw on
19401 (admin 19402). Each scenario starts its own gw process from a generated config, drives concurrent load
(one connection per request) while a fault is switched on and off, and stops gw by its PID in a `finally`.
Bounded: every scenario lasts a few seconds, every request has a 5 s timeout; the whole run takes < 2 minutes.

Usage: python3 bench/faults.py --gw-bin .build/release/gw [--only one_host_down,...] [--json out.json]
"""

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HOST = "127.0.0.1"
GW_PORT, ADMIN_PORT = 19401, 19402
TIMEOUT = 5.0


class FaultServer:
    """An HTTP/1.1 upstream whose failure mode can be switched while it runs."""

    def __init__(self, name):
        self.name, self.mode, self.arg = name, "healthy", None
        self.requests = 0
        self.health_checks = 0
        self.server = None
        self.port = 0
        self.started = time.monotonic()

    async def start(self, port=0):
        self.server = await asyncio.start_server(self.handle, HOST, port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def set(self, mode, arg=None):
        if mode == "refuse" and self.server:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        elif mode != "refuse" and self.server is None:
            for _ in range(50):
                try:
                    await self.start(self.port)
                    break
                except OSError:
                    await asyncio.sleep(0.02)
        self.mode, self.arg = mode, arg

    async def stop(self):
        if self.server:
            self.server.close()
            self.server = None

    async def handle(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "/"
                length = 0
                for line in lines[1:]:
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                if length:
                    await reader.readexactly(length)
                if path == "/health":
                    self.health_checks += 1
                else:
                    self.requests += 1
                if not await self.answer(writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def answer(self, writer):
        """Answer one request per the mode; False closes the connection."""
        mode, arg = self.mode, self.arg
        if mode == "flap":
            mode = "healthy" if int((time.monotonic() - self.started) / arg) % 2 == 0 else "status"
            arg = 503
        if mode == "hang":
            await asyncio.sleep(3600)
        if mode == "slow":
            await asyncio.sleep(arg)
        if mode == "reset_mid_body":
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n" + b"x" * 100)
            await writer.drain()
            writer.transport.abort()
            return False
        if mode == "garbage":
            writer.write(b"NOT HTTP\r\n\r\n")
            await writer.drain()
            return False
        status = arg if mode in ("status", "slow_status") else 200
        if mode == "slow_status":
            await asyncio.sleep(0.05)
        body = f"{status} {self.name}".encode()
        writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: {len(body)}\r\nx-upstream: {self.name}\r\n\r\n".encode() + body)
        await writer.drain()
        return True


async def one_request(path="/work"):
    """One GET on a new connection: (status, cause)."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, GW_PORT), TIMEOUT)
    except Exception:
        return 0, "connect_error"
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
        length = int(headers.get("content-length", "0"))
        await asyncio.wait_for(reader.readexactly(length), TIMEOUT)
        if "x-gw-error" in headers:
            return status, headers["x-gw-error"]
        return status, "ok" if status < 400 else f"upstream_{status}"
    except asyncio.IncompleteReadError:
        return 0, "truncated_response"
    except asyncio.TimeoutError:
        return 0, "client_timeout"
    except Exception as error:
        return 0, type(error).__name__
    finally:
        writer.close()


class Load:
    """`concurrency` clients sending requests back to back until stopped."""

    def __init__(self, concurrency):
        self.concurrency, self.outcomes, self.running = concurrency, [], True

    async def client(self):
        while self.running:
            started = time.monotonic()
            status, cause = await one_request()
            self.outcomes.append((started, status, cause))

    async def run(self, seconds):
        tasks = [asyncio.create_task(self.client()) for _ in range(self.concurrency)]
        await asyncio.sleep(seconds)
        self.running = False
        await asyncio.gather(*tasks)


def admin_targets():
    with urllib.request.urlopen(f"http://{HOST}:{ADMIN_PORT}/admin/upstreams", timeout=2) as answer:
        data = json.load(answer)
    pool = next(u for u in data["upstreams"] if u["name"] == "pool")
    return {int(t["address"].rsplit(":", 1)[1]): t for t in pool["targets"]}


async def wait_for(condition, limit=10.0):
    """Seconds until `condition()` holds (polled every 10 ms), or None."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        try:
            if await condition():
                return time.monotonic() - start
        except Exception:
            pass
        await asyncio.sleep(0.01)
    return None


def config(servers, upstream="", route=""):
    targets = "\n".join(f'      - "{HOST}:{s.port}"' for s in servers)
    return f"""listeners:
  - name: main
    address: {HOST}:{GW_PORT}
admin:
  address: {HOST}:{ADMIN_PORT}
upstreams:
  pool:
    targets:
{targets}
{upstream}
routes:
  - name: all
    match: {{prefix: "/"}}
    upstream: pool
{route}
"""


CHECKS = "    health_check: {path: /health, interval: 200ms, timeout: 200ms, healthy_threshold: 2, unhealthy_threshold: 2}"
EJECT = "    outlier_detection: {consecutive_local_failures: 3, consecutive_5xx: 3, base_ejection_time: 1s, max_ejection_percent: 50}"


async def readmitted(server):
    """The host takes requests again (its count grows)."""
    before = server.requests

    async def check():
        if server.requests > before:
            return True
        await one_request()  # traffic of its own, in case the load has ended
        return server.requests > before
    return check


async def scenario_one_host_down(s):
    await asyncio.sleep(0.5)
    await s[1].set("refuse")
    await asyncio.sleep(2.0)
    await s[1].set("healthy")
    return await wait_for(await readmitted(s[1]))


async def scenario_all_hosts_down(s):
    await asyncio.sleep(0.5)
    for x in s:
        await x.set("status", 503)
    await asyncio.sleep(2.0)
    await s[0].set("healthy")
    return await wait_for(lambda: _ok())


async def _ok():
    return (await one_request())[0] == 200


async def scenario_hanging_host(s):
    await asyncio.sleep(0.5)
    await s[1].set("hang")
    await asyncio.sleep(2.0)
    await s[1].set("healthy")
    return await wait_for(await readmitted(s[1]))


async def scenario_reset_mid_stream(s):
    await asyncio.sleep(0.5)
    await s[1].set("reset_mid_body")
    await asyncio.sleep(2.0)
    await s[1].set("healthy")
    return await wait_for(await readmitted(s[1]))


async def scenario_flapping_host(s):
    await asyncio.sleep(0.5)
    await s[1].set("flap", 0.3)
    await asyncio.sleep(2.5)
    await s[1].set("healthy")
    return await wait_for(await readmitted(s[1]))


async def scenario_retry_budget(s):
    await asyncio.sleep(0.5)
    for x in s:
        await x.set("slow_status", 503)
    await asyncio.sleep(2.0)
    for x in s:
        await x.set("healthy")
    return await wait_for(lambda: _ok())


async def scenario_circuit_breaker(s):
    await asyncio.sleep(0.5)
    await s[0].set("slow", 0.2)
    await asyncio.sleep(2.0)
    await s[0].set("healthy")
    return await wait_for(lambda: _ok())


async def scenario_reload_during_faults(s, cfg_path, text):
    await asyncio.sleep(0.3)
    await s[1].set("refuse")
    for i in range(6):
        with open(cfg_path, "w") as f:
            f.write(text.replace("name: all", f"name: all{i}"))
        request = urllib.request.Request(f"http://{HOST}:{ADMIN_PORT}/admin/reload", method="POST")
        await asyncio.get_running_loop().run_in_executor(None, lambda: urllib.request.urlopen(request, timeout=5).read())
        await asyncio.sleep(0.3)
    await s[1].set("healthy")
    return await wait_for(await readmitted(s[1]))


SCENARIOS = {
    # name: (hosts, upstream config, route config, concurrency, seconds of load, runner, what recovery measures)
    "one_host_down": (3, EJECT, "", 16, 4.0, scenario_one_host_down, "host serves again"),
    "all_hosts_down": (3, CHECKS, "", 16, 4.0, scenario_all_hosts_down, "first 200"),
    "hanging_host": (3, EJECT + "\n    circuit_breakers: {retry_budget: {min_concurrency: 16}}", "    retries: {per_try_timeout: 300ms}", 16, 4.0,
                     scenario_hanging_host, "host serves again"),
    "reset_mid_stream": (3, EJECT, "", 16, 4.0, scenario_reset_mid_stream, "host serves again"),
    "flapping_host": (3, CHECKS + "\n" + EJECT, "", 16, 4.0, scenario_flapping_host, "host serves again"),
    "retry_budget": (3, "    outlier_detection: off", "", 32, 4.0, scenario_retry_budget, "first 200"),
    "circuit_breaker": (1, "    circuit_breakers: {max_requests: 8}", "", 32, 4.0, scenario_circuit_breaker, "first 200"),
    "reload_during_faults": (3, CHECKS, "", 16, 4.0, scenario_reload_during_faults, "host serves again"),
}


async def run_scenario(name, gw_bin, tmp):
    hosts, upstream, route, concurrency, seconds, runner, measures = SCENARIOS[name]
    servers = [FaultServer(chr(97 + i)) for i in range(hosts)]
    for s in servers:
        await s.start()
    text = config(servers, upstream, route)
    cfg_path = os.path.join(tmp, f"{name}.yaml")
    with open(cfg_path, "w") as f:
        f.write(text)
    log = open(os.path.join(tmp, f"{name}.log"), "w")
    gw = subprocess.Popen([gw_bin, "run", "--config", cfg_path, "--log-level", "error"], stdout=log, stderr=log)
    try:
        if await wait_for(lambda: _ok(), limit=15) is None:
            raise RuntimeError(f"{name}: gw did not start (log: {log.name})")
        load = Load(concurrency)
        load_task = asyncio.create_task(load.run(seconds))
        if name == "reload_during_faults":
            recovery = await runner(servers, cfg_path, text)
        else:
            recovery = await runner(servers)
        await load_task
        causes = {}
        for _, _, cause in load.outcomes:
            causes[cause] = causes.get(cause, 0) + 1
        sent = len(load.outcomes)
        tries = sum(s.requests for s in servers) - 1  # minus the start-up probe
        return {
            "scenario": name, "sent": sent, "ok": causes.pop("ok", 0), "failures": causes,
            "upstream_tries": tries, "recovery_s": None if recovery is None else round(recovery, 3), "recovery": measures,
        }
    finally:
        gw.send_signal(signal.SIGTERM)
        try:
            gw.wait(timeout=5)
        except subprocess.TimeoutExpired:
            gw.kill()
            gw.wait()
        log.close()
        for s in servers:
            await s.stop()


def table(results):
    lines = [
        "| scenario | sent | ok | failures by cause | upstream tries / sent | recovery |",
        "|---|---:|---:|---|---:|---|",
    ]
    for r in results:
        failures = ", ".join(f"{k} {v}" for k, v in sorted(r["failures"].items(), key=lambda kv: -kv[1])) or "none"
        recovery = "—" if r["recovery_s"] is None else f"{r['recovery_s'] * 1000:.0f} ms ({r['recovery']})"
        ratio = r["upstream_tries"] / max(1, r["sent"])
        lines.append(f"| {r['scenario']} | {r['sent']} | {r['ok']} | {failures} | {ratio:.2f} | {recovery} |")
    return "\n".join(lines)


def quiet_cancellations(loop, context):
    if not isinstance(context.get("exception"), asyncio.CancelledError):
        loop.default_exception_handler(context)


async def main():
    asyncio.get_running_loop().set_exception_handler(quiet_cancellations)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gw-bin", required=True)
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--json")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="gw-faults-") as tmp:
        for name in args.only.split(","):
            started = time.monotonic()
            result = await run_scenario(name, args.gw_bin, tmp)
            results.append(result)
            print(f"faults: {name} done in {time.monotonic() - started:.1f}s", file=sys.stderr)
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    asyncio.run(main())
