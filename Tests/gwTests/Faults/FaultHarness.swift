import Foundation
import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import gw

/// Helpers of the fault-injection suite: fault upstreams, a config around them,
/// concurrent load with its outcomes, and polling the admin health view.
enum Faults {
    /// Start `count` fault upstreams named a, b, c..., run `body`, stop them.
    static func withUpstreams(_ count: Int, _ body: ([FaultUpstream]) async throws -> Void) async throws {
        var upstreams: [FaultUpstream] = []
        do {
            for i in 0..<count { upstreams.append(try await FaultUpstream.start(name: String(UnicodeScalar(UInt8(97 + i))))) }
            try await body(upstreams)
        } catch {
            for upstream in upstreams { await upstream.stop() }
            throw error
        }
        for upstream in upstreams { await upstream.stop() }
    }

    /// Listener "main" and admin on port 0; upstream "pool" over `upstreams` with
    /// `upstream` lines added; one catch-all route "all" with `route` lines added.
    static func yaml(
        _ upstreams: [FaultUpstream], upstream: String = "", route: String = "", extraUpstreams: String = "", priorities: [Int]? = nil
    ) -> String {
        let targets = upstreams.enumerated().map { i, u in
            "      - {address: \"127.0.0.1:\(u.port)\", priority: \(priorities?[i] ?? 0)}"
        }.joined(separator: "\n")
        return """
            listeners:
              - name: main
                address: 127.0.0.1:0
            admin:
              address: 127.0.0.1:0
            upstreams:
              pool:
                targets:
            \(targets)
            \(indent(upstream, 4))
            \(extraUpstreams)
            routes:
              - name: all
                match: {prefix: "/"}
                upstream: pool
            \(indent(route, 4))
            """
    }

    static func indent(_ text: String, _ spaces: Int) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { String(repeating: " ", count: spaces) + $0 }.joined(separator: "\n")
    }

    /// What one client request ended as.
    struct Outcome: Sendable {
        var status: Int
        /// `x-gw-error`, "upstream_<status>" for an upstream's own error, "ok", or "client_error: ...".
        var cause: String
        var upstream: String?
        var body: String
    }

    /// `count` requests with at most `concurrency` in flight, each on its own connection,
    /// carrying `x-test-id: <prefix>-<i>`.
    static func load(
        _ gw: RunningGateway, count: Int, concurrency: Int = 8, method: HTTPMethod = .GET, path: String = "/work",
        body: RequestBody = .none, prefix: String = "r", timeout: TimeAmount = .seconds(10)
    ) async -> [Outcome] {
        await withTaskGroup(of: Outcome.self) { group in
            var outcomes: [Outcome] = []
            var next = 0
            func add() {
                let i = next
                next += 1
                group.addTask {
                    do {
                        let response = try await gw.send(method, path, headers: [("x-test-id", "\(prefix)-\(i)")], body: body, timeout: timeout)
                        let cause = response.header("x-gw-error") ?? (response.status.code >= 400 ? "upstream_\(response.status.code)" : "ok")
                        return Outcome(status: Int(response.status.code), cause: cause, upstream: response.header("x-upstream"), body: response.text)
                    } catch {
                        return Outcome(status: 0, cause: "client_error: \(error)", upstream: nil, body: "")
                    }
                }
            }
            for _ in 0..<min(concurrency, count) { add() }
            for await outcome in group {
                outcomes.append(outcome)
                if next < count { add() }
            }
            return outcomes
        }
    }

    static func causes(_ outcomes: [Outcome]) -> [String: Int] {
        outcomes.reduce(into: [:]) { $0[$1.cause, default: 0] += 1 }
    }

    /// Poll `condition` every 20 ms for up to `timeout`; the time it took, or nil.
    static func eventually(timeout: Duration = .seconds(5), _ condition: () async throws -> Bool) async throws -> Duration? {
        let clock = ContinuousClock()
        let start = clock.now
        while clock.now - start < timeout {
            if try await condition() { return clock.now - start }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    /// The admin view of upstream `name`'s targets, by port.
    static func targets(_ gw: RunningGateway, upstream name: String = "pool") async throws -> [Int: [String: Any]] {
        let answer = try await gw.admin(.GET, "/admin/upstreams")
        let upstreams = try #require(try answer.json()["upstreams"] as? [[String: Any]])
        let upstream = try #require(upstreams.first { $0["name"] as? String == name })
        let targets = try #require(upstream["targets"] as? [[String: Any]])
        var byPort: [Int: [String: Any]] = [:]
        for target in targets {
            if let address = target["address"] as? String, let port = address.split(separator: ":").last.flatMap({ Int($0) }) {
                byPort[port] = target
            }
        }
        return byPort
    }

    static func health(_ gw: RunningGateway, _ upstream: FaultUpstream, in name: String = "pool") async throws -> String? {
        try await targets(gw, upstream: name)[upstream.port]?["health"] as? String
    }

    /// Wait (up to 5 s) until every target passed a few checks and is healthy.
    static func waitUntilHealthy(_ gw: RunningGateway, _ upstreams: [FaultUpstream]) async throws {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            var ready = true
            for upstream in upstreams {
                let state = try await health(gw, upstream)
                if upstream.healthChecks < 3 || state != "healthy" { ready = false }
            }
            if ready { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("targets did not all become healthy within 5 s")
    }

    /// Fast health checks for tests: every 50 ms, two results to change state.
    static let fastChecks = "health_check: {path: /health, interval: 50ms, timeout: 100ms, healthy_threshold: 2, unhealthy_threshold: 2}"
}
