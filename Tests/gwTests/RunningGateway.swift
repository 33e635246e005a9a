import Foundation
import GatewayTestSupport
import Logging
import NIOCore
import NIOHTTP1

@testable import gw

/// A gateway started on 127.0.0.1 port 0 from a YAML file written to a temporary
/// directory (so that a reload can rewrite it).
struct RunningGateway {
    let gateway: Gateway
    let configPath: String
    let port: Int
    let adminPort: Int

    /// Replace the YAML file (then `reload()` or POST /admin/reload).
    func rewriteConfig(_ yaml: String) throws {
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// One request on a new connection to the main listener.
    func send(
        _ method: HTTPMethod = .GET, _ uri: String, headers: [(String, String)] = [], body: RequestBody = .none,
        keepBody: Bool = true, timeout: TimeAmount = .seconds(30)
    ) async throws -> TestResponse {
        try await TestClient.send(port: port, method, uri, headers: headers, body: body, keepBody: keepBody, timeout: timeout)
    }

    /// One request to the admin listener.
    func admin(_ method: HTTPMethod = .GET, _ uri: String) async throws -> TestResponse {
        try await TestClient.send(port: adminPort, method, uri)
    }

    func client() async throws -> TestClient {
        try await TestClient.connect(port: port)
    }
}

/// Write `yaml` to a file, build the gateway through `Gateway.build` (what `gw run`
/// calls), start it, run `body`, and always shut it down.
func withGateway(
    yaml: String, eventLoops: Int = 2, _ body: (RunningGateway) async throws -> Void
) async throws {
    let path = try writeConfig(yaml)
    let gateway = try Gateway.build(GatewayOptions(configFile: path, logLevel: .critical, eventLoops: eventLoops))
    do {
        try await gateway.start()
        let running = RunningGateway(
            gateway: gateway, configPath: path, port: try requirePort(gateway.port(of: "main")),
            adminPort: gateway.port(of: "admin") ?? 0)
        try await body(running)
    } catch {
        await gateway.shutdown(deadline: .seconds(2))
        throw error
    }
    await gateway.shutdown(deadline: .seconds(2))
}

struct MissingPort: Error {}

func requirePort(_ port: Int?) throws -> Int {
    guard let port, port > 0 else { throw MissingPort() }
    return port
}

/// Write YAML to a new temporary file; returns its path.
func writeConfig(_ yaml: String, name: String = "gw.yaml") throws -> String {
    let dir = FixturePlugins.makeTemporaryDirectory(prefix: "gw-config")
    let path = "\(dir)/\(name)"
    try yaml.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// A minimal config: listener "main" and admin on port 0, one upstream "up" and the
/// given routes (YAML list items, indented by two spaces under `routes:`).
func gatewayYAML(upstreamPort: Int, upstreamExtra: String = "", limits: String = "", routes: String) -> String {
    """
    version: 1
    listeners:
      - name: main
        address: 127.0.0.1:0
    admin:
      address: 127.0.0.1:0
    \(limits.isEmpty ? "" : "limits: \(limits)")
    upstreams:
      up:
        targets: ["127.0.0.1:\(upstreamPort)"]
    \(upstreamExtra.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
    routes:
    \(routes)
    """
}

/// One route to upstream "up" with the given filters (a YAML flow list, e.g.
/// `[{plugin: /x.so, config: {a: 1}}]`).
func proxyRoute(name: String = "proxy", prefix: String = "/", filters: String = "[]") -> String {
    """
      - name: \(name)
        match: {prefix: "\(prefix)"}
        upstream: up
        filters: \(filters)
    """
}

/// Several `proxyRoute`s, one per (name, prefix, filters), in order.
func proxyRoutes(_ routes: (name: String, prefix: String, filters: String)...) -> String {
    routes.map { proxyRoute(name: $0.name, prefix: $0.prefix, filters: $0.filters) }.joined(separator: "\n")
}

/// An upstream with `behaviour`, and a gateway whose config `yaml(upstreamPort)` builds
/// (by default: one catch-all route to it).
func withProxy(
    _ behaviour: TestUpstream.Behaviour = .echo,
    yaml: (Int) -> String = { gatewayYAML(upstreamPort: $0, routes: proxyRoute()) },
    _ body: (TestUpstream, RunningGateway) async throws -> Void
) async throws {
    try await withProxy(choosing: { _ in behaviour }, yaml: yaml, body)
}

func withProxy(
    choosing choose: @escaping @Sendable (HTTPRequestHead) -> TestUpstream.Behaviour,
    yaml: (Int) -> String = { gatewayYAML(upstreamPort: $0, routes: proxyRoute()) },
    _ body: (TestUpstream, RunningGateway) async throws -> Void
) async throws {
    try await withUpstream(choosing: choose) { upstream in
        try await withGateway(yaml: yaml(upstream.port)) { gw in try await body(upstream, gw) }
    }
}
