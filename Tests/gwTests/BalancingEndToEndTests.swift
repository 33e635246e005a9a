import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Testing

@testable import gw

extension EndToEnd {
    /// Balancing across several real upstream servers.
    @Suite struct Balancing {
        /// Start `count` echo upstreams, run `body`, stop them.
        static func withUpstreams(_ count: Int, _ body: ([TestUpstream]) async throws -> Void) async throws {
            var upstreams: [TestUpstream] = []
            do {
                for _ in 0..<count { upstreams.append(try await TestUpstream.start(.echo)) }
                try await body(upstreams)
            } catch {
                for upstream in upstreams { await upstream.stop() }
                throw error
            }
            for upstream in upstreams { await upstream.stop() }
        }

        static func yaml(_ upstreams: [TestUpstream], extra: String) -> String {
            """
            listeners:
              - name: main
                address: 127.0.0.1:0
            admin: off
            upstreams:
              pool:
                targets: [\(upstreams.map { "\"127.0.0.1:\($0.port)\"" }.joined(separator: ", "))]
                \(extra)
            routes:
              - name: all
                upstream: pool
            """
        }

        @Test func roundRobinSpreadsRequestsOverTheTargets() async throws {
            try await Self.withUpstreams(3) { upstreams in
                try await withGateway(yaml: Self.yaml(upstreams, extra: "balance: round_robin")) { gw in
                    for _ in 0..<9 { _ = try await gw.send(.GET, "/") }
                    #expect(upstreams.map(\.requestCount) == [3, 3, 3])
                }
            }
        }

        @Test func consistentHashOnAHeaderKeepsAUserOnOneTarget() async throws {
            try await Self.withUpstreams(3) { upstreams in
                try await withGateway(yaml: Self.yaml(upstreams, extra: "balance: consistent_hash\n    hash_on: {header: x-user}")) { gw in
                    for user in ["ann", "bob", "cyd", "dee", "eve", "fay"] {
                        let before = upstreams.map(\.requestCount)
                        for _ in 0..<4 { _ = try await gw.send(.GET, "/", headers: [("x-user", user)]) }
                        let added = zip(upstreams.map(\.requestCount), before).map { $0 - $1 }
                        #expect(added.sorted() == [0, 0, 4], "\(user): \(added)")
                    }
                    #expect(upstreams.filter { $0.requestCount > 0 }.count >= 2, "six users spread over the targets")
                }
            }
        }

        /// A route without filters hashes the value the upstream gets: gw's request id
        /// (random when the client sends none), not the client's missing one.
        @Test func hashingOnAHeaderGwWritesUsesGwsValue() async throws {
            try await Self.withUpstreams(3) { upstreams in
                try await withGateway(yaml: Self.yaml(upstreams, extra: "balance: consistent_hash\n    hash_on: {header: x-request-id}")) { gw in
                    for _ in 0..<30 { _ = try await gw.send(.GET, "/") }
                    #expect(upstreams.filter { $0.requestCount > 0 }.count >= 2, "\(upstreams.map(\.requestCount))")
                    // A client's own id still keeps it on one target.
                    let before = upstreams.map(\.requestCount)
                    for _ in 0..<4 { _ = try await gw.send(.GET, "/", headers: [("x-request-id", "trace-42")]) }
                    let added = zip(upstreams.map(\.requestCount), before).map { $0 - $1 }
                    #expect(added.sorted() == [0, 0, 4], "\(added)")
                }
            }
        }

        @Test func weightedBalancingFollowsTheWeights() async throws {
            try await Self.withUpstreams(2) { upstreams in
                let yaml = """
                    listeners:
                      - name: main
                        address: 127.0.0.1:0
                    admin: off
                    upstreams:
                      pool:
                        balance: weighted
                        targets:
                          - {address: "127.0.0.1:\(upstreams[0].port)", weight: 3}
                          - {address: "127.0.0.1:\(upstreams[1].port)", weight: 1}
                    routes:
                      - name: all
                        upstream: pool
                    """
                try await withGateway(yaml: yaml) { gw in
                    for _ in 0..<8 { _ = try await gw.send(.GET, "/") }
                    #expect(upstreams.map(\.requestCount) == [6, 2])
                }
            }
        }
    }
}
