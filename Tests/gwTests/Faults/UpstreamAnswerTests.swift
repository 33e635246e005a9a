import GatewayTestSupport
import NIOCore
import Testing

@testable import gw

extension EndToEnd {
    /// Upstreams that answer more, less or other than was asked: what reaches the
    /// client, whether the connection is used again, and whether a request is sent twice.
    @Suite struct UpstreamAnswers {
        static let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        static let smuggled = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled"

        /// The upstream sends a second, unasked response right behind the first. The
        /// client pipelined its next request, so that request is started the moment
        /// the first one ends: on the same upstream connection, had it gone back to the
        /// pool, with the unasked response waiting as its answer.
        @Test func bytesAfterACompleteAnswerNeverBecomeTheNextRequestsAnswer() async throws {
            try await Faults.withUpstreams(1) { ups async throws in
                await ups[0].set(.raw(Self.ok + Self.smuggled, close: false))
                try await withGateway(yaml: Faults.yaml(ups), eventLoops: 1) { gw async throws in
                    let answer = try await RawConnection.exchange(
                        port: gw.port,
                        text: "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    #expect(answer.components(separatedBy: "HTTP/1.1 200 OK").count == 3, "two answers: \(answer)")
                    #expect(!answer.contains("smuggled"), "\(answer)")
                    #expect(ups[0].requests == 2)
                    #expect(ups[0].connections == 2, "the connection that sent unasked bytes was not used again")

                    // Not pipelined: the unasked bytes reach an idle connection, which is closed too.
                    let first = try await gw.send(.GET, "/c")
                    let second = try await gw.send(.GET, "/d")
                    #expect(first.text == "ok" && second.text == "ok", "\(first.text) \(second.text)")
                    #expect(ups[0].connections == 4)
                }
            }
        }

        /// A reused connection answers part of a head and closes: the upstream received
        /// the POST and its answer broke. That is not the keep-alive race (a close before
        /// any answer), so the POST is not sent again.
        @Test func aTruncatedHeadOnAReusedConnectionIsNotRetriedAsTheKeepAliveRace() async throws {
            try await Faults.withUpstreams(1) { ups async throws in
                await ups[0].set(.rawOnReusedConnections("HTTP/1.1 200 OK\r\nContent-Le"))
                try await withGateway(yaml: Faults.yaml(ups), eventLoops: 1) { gw async throws in
                    let warm = try await gw.send(.GET, "/warm", headers: [("x-test-id", "g0")])
                    #expect(warm.status == .ok)
                    let post = try await gw.send(.POST, "/orders", headers: [("x-test-id", "p1")], body: .string("{\"n\":1}"))
                    #expect(post.status == .badGateway, "\(post.text)")
                    #expect(post.header("x-gw-error") == "upstream_protocol_error")
                    #expect(ups[0].ids == ["g0", "p1"], "the POST reached the upstream once")
                }
            }
        }

        /// gw forwards no Upgrade, so a 101 is an answer nobody asked for; the bytes
        /// after it must not reach the client as if they were its response.
        @Test func anUnaskedSwitchingProtocolsIsABadGateway() async throws {
            try await Faults.withUpstreams(1) { ups async throws in
                await ups[0].set(
                    .raw("HTTP/1.1 101 Switching Protocols\r\nUpgrade: evil\r\nConnection: Upgrade\r\n\r\n" + Self.smuggled, close: true))
                try await withGateway(yaml: Faults.yaml(ups), eventLoops: 1) { gw async throws in
                    let response = try await gw.send(.GET, "/ws")
                    #expect(response.status == .badGateway, "\(response.text)")
                    #expect(response.header("x-gw-error") == "upstream_protocol_error")
                    #expect(!response.text.contains("smuggled"))
                }
            }
        }
    }
}
