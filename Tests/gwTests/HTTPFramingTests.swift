import Foundation
import GatewayTestSupport
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import gw

extension EndToEnd {
    /// What gw accepts from clients (llhttp, strict, driven by `RequestDecoder`): every
    /// ambiguous or malformed framing is refused before anything reaches an upstream.
    @Suite struct RequestFraming {
        /// Refused on the head: the upstream never even sees a connection.
        @Test(arguments: [
            ("CL and TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            ("TE and CL", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
            ("CL list", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello"),
            ("CL sign", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello"),
            ("CL overflow", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
            ("TE not chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
            ("TE chunked not last", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"),
            ("TE in HTTP/1.0", "POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            ("obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n 2\r\n\r\n"),
            ("space before colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n"),
            ("NUL in a value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u{0}b\r\n\r\n"),
            ("bare CR", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"),
            ("bare LF", "GET / HTTP/1.1\nHost: x\n\n"),
            ("space in the target", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("HTTP/2.0 request line", "GET / HTTP/2.0\r\nHost: x\r\n\r\n"),
            ("HTTP/1.2", "GET / HTTP/1.2\r\nHost: x\r\n\r\n"),
        ])
        func anAmbiguousHeadGets400AndNeverReachesTheUpstream(_ name: String, _ bytes: String) async throws {
            try await withProxy(.echo) { upstream, gw in
                let answer = try await RawConnection.exchange(port: gw.port, text: bytes)
                #expect(answer.hasPrefix("HTTP/1.1 400 "), "\(name): \(answer)")
                #expect(answer.contains("\"bad_request\""), "\(name)")
                #expect(answer.lowercased().contains("connection: close"), "\(name)")
                #expect(upstream.connectionCount == 0, "\(name)")
            }
        }

        /// RFC 9112 §3.2: an HTTP/1.1 request without Host, with two Host lines or with a
        /// Host that is no host[:port] gets 400; which host it meant is not guessed (two
        /// hops reading different Host lines is request smuggling's and cache poisoning's
        /// way in).
        @Test(arguments: [
            ("no Host in HTTP/1.1", "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n"),
            ("two Host lines", "GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n"),
            ("two Host lines, same value", "GET / HTTP/1.1\r\nHost: a.test\r\nhost: a.test\r\n\r\n"),
            ("Host list", "GET / HTTP/1.1\r\nHost: a.test, b.test\r\n\r\n"),
            ("Host with a path", "GET / HTTP/1.1\r\nHost: a.test/admin\r\n\r\n"),
            ("Host with userinfo", "GET / HTTP/1.1\r\nHost: user@a.test\r\n\r\n"),
            ("Host with a query", "GET / HTTP/1.1\r\nHost: a.test?x\r\n\r\n"),
            ("Host with a space", "GET / HTTP/1.1\r\nHost: a .test\r\n\r\n"),
            ("Host port not a number", "GET / HTTP/1.1\r\nHost: a.test:8x\r\n\r\n"),
            ("Host unclosed bracket", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"),
            ("Host list without a space", "GET / HTTP/1.1\r\nHost: evil.test,shop.example.test\r\n\r\n"),
            ("Host sub-delims", "GET / HTTP/1.1\r\nHost: a;b=c.test\r\n\r\n"),
            ("port without a host", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n"),
            ("port above 65535", "GET / HTTP/1.1\r\nHost: a.test:65536\r\n\r\n"),
        ])
        func aRequestWithoutOneValidHostGets400(_ name: String, _ bytes: String) async throws {
            try await withProxy(.echo) { upstream, gw in
                let answer = try await RawConnection.exchange(port: gw.port, text: bytes)
                #expect(answer.hasPrefix("HTTP/1.1 400 "), "\(name): \(answer)")
                #expect(answer.contains("\"bad_host\""), "\(name): \(answer)")
                #expect(upstream.connectionCount == 0, "\(name)")
            }
        }

        @Test(arguments: [
            ("HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n"),
            ("name and port", "GET / HTTP/1.1\r\nHost: shop.example.test:8443\r\nConnection: close\r\n\r\n"),
            ("IPv6 literal", "GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\nConnection: close\r\n\r\n"),
            ("IPv4", "GET / HTTP/1.1\r\nHost: 192.0.2.1\r\nConnection: close\r\n\r\n"),
            ("empty port", "GET / HTTP/1.1\r\nHost: a.test:\r\nConnection: close\r\n\r\n"),
            ("percent-encoded name", "GET / HTTP/1.1\r\nHost: caf%C3%A9.test\r\nConnection: close\r\n\r\n"),
            ("whitespace around the value", "GET / HTTP/1.1\r\nHost: a.test:8080 \t\r\nConnection: close\r\n\r\n"),
            ("empty Host", "GET / HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n"),
            ("highest port", "GET / HTTP/1.1\r\nHost: a.test:65535\r\nConnection: close\r\n\r\n"),
        ])
        func aValidHostIsAccepted(_ name: String, _ bytes: String) async throws {
            try await withProxy(.echo) { upstream, gw in
                let answer = try await RawConnection.exchange(port: gw.port, text: bytes)
                #expect(answer.hasPrefix("HTTP/1.1 200 ") || answer.hasPrefix("HTTP/1.0 200 "), "\(name): \(answer)")
                #expect(upstream.requestCount == 1, "\(name)")
                // Sent trimmed; an empty Host makes no x-forwarded-host.
                let forwardedHost = upstream.lastRequest?.header("x-forwarded-host")
                if name == "whitespace around the value" { #expect(forwardedHost == "a.test:8080") }
                if name == "empty Host" { #expect(forwardedHost == nil) }
            }
        }

        /// Refused in the body: the upstream never gets a complete request.
        @Test(arguments: [
            ("chunk size 0x", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n"),
            ("chunk size sign", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n"),
            ("chunk size overflow", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nabc\r\n0\r\n\r\n"),
            ("chunk data too long", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n"),
        ])
        func aMalformedChunkedBodyGets400AndTheUpstreamNoRequest(_ name: String, _ bytes: String) async throws {
            try await withProxy(.echo) { upstream, gw in
                let answer = try await RawConnection.exchange(port: gw.port, text: bytes)
                #expect(answer.hasPrefix("HTTP/1.1 400 "), "\(name): \(answer)")
                #expect(upstream.requestCount == 0, "\(name)")
            }
        }

        /// gw's own answer to HEAD (here a 404) has headers only: the connection stays in step.
        @Test func gwsOwnErrorToAHEADRequestHasNoBody() async throws {
            try await withProxy(.fixed(200, body: "ok"), yaml: { gatewayYAML(upstreamPort: $0, routes: proxyRoute(prefix: "/api/")) }) { _, gw in
                let client = try await gw.client()
                let head = try await client.request(.HEAD, "/elsewhere")
                #expect(head.status == .notFound)
                #expect(head.bodyLength == 0)
                let get = try await client.request(.GET, "/api/x")
                #expect(get.status == .ok)
                #expect(get.text == "ok")
                await client.close()
            }
        }

        /// RFC 9110 §10.1.1: an HTTP/1.0 client never gets a 100 (Continue).
        @Test func anHTTP10ClientThatExpectsContinueGetsOnlyTheFinalAnswer() async throws {
            try await withProxy(.echo(includeBody: true)) { upstream, gw in
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connect(host: "127.0.0.1", port: gw.port).get()
                let collector = RawCollector()
                try await channel.eventLoop.submit { try channel.pipeline.syncOperations.addHandler(collector.makeHandler()) }.get()
                try await channel.writeAndFlush(ByteBuffer(string: "POST / HTTP/1.0\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"))
                try await Task.sleep(for: .milliseconds(200))
                try await channel.writeAndFlush(ByteBuffer(string: "hello"))
                let closed = channel.eventLoop.scheduleTask(in: .seconds(3)) { channel.close(promise: nil) }
                try? await channel.closeFuture.get()
                closed.cancel()
                let answer = String(decoding: collector.bytes, as: UTF8.self)
                #expect(answer.hasPrefix("HTTP/1.0 200 OK\r\n"), "answer: \(answer)")
                #expect(!answer.contains("100 Continue"))
                #expect(upstream.lastRequest?.bodyText == "hello")
            }
        }

        @Test func connectIsRefusedAsNotImplemented() async throws {
            try await withProxy(.echo) { upstream, gw in
                let answer = try await RawConnection.exchange(port: gw.port, text: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
                #expect(answer.hasPrefix("HTTP/1.1 501 "), "answer: \(answer)")
                #expect(answer.lowercased().contains("x-gw-error: method_not_supported"), "answer: \(answer)")
                #expect(answer.lowercased().contains("connection: close"), "answer: \(answer)")
                #expect(upstream.connectionCount == 0)
            }
        }

        /// RFC 9112 §3.2: a request target has no fragment. An upstream may end the path at
        /// `#` after resolving the dot segment before it (nginx serves `/public/..#x` as
        /// `/`), a path gw would have routed by `/public/`.
        @Test(arguments: ["/public/..#x", "/a#b", "/a?q=1#b", "/#"])
        func aFragmentInTheTargetIsRefused(_ target: String) async throws {
            try await withProxy(.echo) { upstream, gw in
                let answer = try await RawConnection.exchange(port: gw.port, text: "GET \(target) HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(answer.hasPrefix("HTTP/1.1 400 "), "answer: \(answer)")
                #expect(answer.contains("a fragment in the request target"), "answer: \(answer)")
                #expect(upstream.connectionCount == 0)
            }
        }

        /// gw's own answers (no route, a bad path) honour the client's `Connection: close`
        /// and HTTP/1.0 without keep-alive, as answers from the upstream do.
        @Test(arguments: [
            "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "GET /nope HTTP/1.0\r\nHost: x\r\n\r\n",
            "GET /a/../../x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ])
        func gwsOwnErrorAnswersCloseWhenTheClientAskedTo(_ request: String) async throws {
            let yaml = """
                version: 1
                listeners: [{name: main, address: "127.0.0.1:0"}]
                admin: off
                routes:
                  - name: only
                    match: {prefix: /only/}
                    direct_response: {status: 200, body: "only"}

                """
            try await withGateway(yaml: yaml) { gw in
                let started = ContinuousClock.now
                let answer = try await RawConnection.exchange(port: gw.port, text: request, timeout: .seconds(5))
                #expect(answer.hasPrefix("HTTP/1.1 4") || answer.hasPrefix("HTTP/1.0 4"), "answer: \(answer)")
                #expect(answer.lowercased().contains("connection: close"), "answer: \(answer)")
                #expect(ContinuousClock.now - started < .seconds(4), "gw closed the connection, the read did not time out")
            }
        }

        /// After a malformed head the connection answers once and reads nothing more.
        @Test func bytesAfterAMalformedHeadGetNoSecondAnswer() async throws {
            try await withProxy(.echo) { _, gw in
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connect(host: "127.0.0.1", port: gw.port).get()
                let collector = RawCollector()
                try await channel.eventLoop.submit { try channel.pipeline.syncOperations.addHandler(collector.makeHandler()) }.get()
                try await channel.writeAndFlush(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n"))
                for _ in 0..<5 { try? await channel.writeAndFlush(ByteBuffer(string: "more bytes\r\n")) }
                let closed = channel.eventLoop.scheduleTask(in: .seconds(3)) { channel.close(promise: nil) }
                try? await channel.closeFuture.get()
                closed.cancel()
                let answer = String(decoding: collector.bytes, as: UTF8.self)
                #expect(answer.components(separatedBy: "HTTP/1.1 400").count == 2, "answer: \(answer)")
            }
        }

        /// RFC 9112 §9.6: after a request that says `Connection: close`, what follows is
        /// not parsed (strict llhttp calls it an error); the request itself is answered.
        @Test func bytesAfterAConnectionCloseRequestAreIgnoredAndTheRequestAnswered() async throws {
            try await withProxy(.echo) { upstream, gw in
                for tail in ["GARBAGE\r\n\r\n", "GET /second HTTP/1.1\r\nHost: x\r\n\r\n"] {
                    let answer = try await RawConnection.exchange(
                        port: gw.port, text: "GET /first HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + tail)
                    #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n"), "answer: \(answer)")
                    #expect(answer.components(separatedBy: "HTTP/1.1 ").count == 2, "one answer only: \(answer)")
                }
                #expect(upstream.requests.map(\.head.uri) == ["/first", "/first"])
            }
        }

        /// Whole requests before malformed bytes are answered first, in order; then the
        /// error, then the close (a pipelining client loses no answer to a later bad one).
        @Test func requestsBeforeMalformedBytesAreAnsweredBeforeTheError() async throws {
            try await withProxy(.echo) { upstream, gw in
                let answer = try await RawConnection.exchange(
                    port: gw.port,
                    text: "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nX-A : 1\r\n\r\n")
                let statuses = answer.components(separatedBy: "HTTP/1.1 ").dropFirst().map { String($0.prefix(3)) }
                #expect(statuses == ["200", "200", "400"], "answer: \(answer)")
                #expect(upstream.requests.map(\.head.uri) == ["/a", "/b"])
            }
        }

        /// `Connection: content-length` must not strip the request's only framing.
        @Test func aRequestThatNamesContentLengthInConnectionKeepsItsFraming() async throws {
            try await withProxy(.echo(includeBody: true)) { upstream, gw in
                let smuggled = "GET /admin HTTP/1.1\r\nHost: x\r\n\r\n"
                let answer = try await RawConnection.exchange(
                    port: gw.port,
                    text: "GET / HTTP/1.1\r\nHost: x\r\nConnection: content-length\r\nContent-Length: \(smuggled.utf8.count)\r\n\r\n" + smuggled,
                    timeout: .seconds(1))
                #expect(answer.hasPrefix("HTTP/1.1 200 OK"), "answer: \(answer)")
                #expect(upstream.requests.map(\.head.uri) == ["/"], "the body never became a request of its own")
                #expect(upstream.lastRequest?.bodyText == smuggled)
            }
        }

        @Test func aHeadOver64KiBGets431() async throws {
            try await withProxy(.echo) { upstream, gw in
                let answer = try await RawConnection.exchange(
                    port: gw.port, text: "GET / HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 70_000))\r\n\r\n")
                #expect(answer.hasPrefix("HTTP/1.1 431 "), "answer: \(answer.prefix(200))")
                #expect(upstream.connectionCount == 0)
            }
        }

        @Test func trailersAreDroppedAndThePipelinedRequestAfterThemIsAnswered() async throws {
            try await withProxy(.echo(includeBody: true)) { upstream, gw in
                let answer = try await RawConnection.exchange(
                    port: gw.port,
                    text: "POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n"
                        + "GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                #expect(answer.components(separatedBy: "HTTP/1.1 200 OK").count == 3, "answer: \(answer)")
                let seen = upstream.requests
                #expect(seen.map(\.head.uri) == ["/first", "/second"])
                #expect(seen.first?.bodyText == "abc")
                #expect(seen.first?.header("x-trailer") == nil)
            }
        }

        /// The body is de-chunked on the way in and chunked again by gw on the way out,
        /// whatever the method and however the client spelled the coding.
        @Test func aChunkedBodyIsReChunkedForTheUpstreamWhateverTheMethod() async throws {
            try await withProxy(.echo(includeBody: true)) { upstream, gw in
                let answer = try await RawConnection.exchange(
                    port: gw.port,
                    text: "DELETE /item HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n"
                        + "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n")
                #expect(answer.hasPrefix("HTTP/1.1 200 OK"), "answer: \(answer)")
                let seen = try #require(upstream.lastRequest)
                #expect(seen.head.method == .DELETE)
                #expect(seen.bodyText == "abcdef")
                #expect(seen.header("transfer-encoding") == "chunked")
            }
        }

        @Test func anEmptyHeaderValueIsForwardedEmptyAndTheNextFieldIntact() async throws {
            try await withProxy(.echo) { upstream, gw in
                _ = try await RawConnection.exchange(
                    port: gw.port, text: "GET / HTTP/1.1\r\nHost: x\r\nX-Empty:\r\nX-Next: 2\r\nConnection: close\r\n\r\n")
                let seen = try #require(upstream.lastRequest)
                #expect(seen.header("x-empty") == "")
                #expect(seen.header("x-next") == "2")
            }
        }

        @Test func anUpgradeRequestIsAnsweredAsPlainHTTPAndTheConnectionGoesOn() async throws {
            try await withProxy(.echo) { upstream, gw in
                let answer = try await RawConnection.exchange(
                    port: gw.port,
                    text: "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                        + "GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                #expect(answer.components(separatedBy: "HTTP/1.1 200 OK").count == 3, "answer: \(answer)")
                #expect(upstream.requests.map(\.head.uri) == ["/ws", "/after"])
                #expect(upstream.requests.first?.header("upgrade") == nil, "Upgrade is hop-by-hop")
            }
        }

        /// Send `text` a piece per write (each flushed, then a pause, so gw reads the
        /// pieces separately) and wait for gw to close the connection.
        static func send(_ text: String, inPiecesOf size: Int, pause: Duration, to port: Int) async throws {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connect(host: "127.0.0.1", port: port).get()
            let bytes = Array(text.utf8)
            for start in stride(from: 0, to: bytes.count, by: size) {
                try await channel.writeAndFlush(ByteBuffer(bytes: bytes[start..<min(start + size, bytes.count)]))
                try await Task.sleep(for: pause)
            }
            try? await channel.closeFuture.get()
        }

        /// The head arrives a few bytes per read: names, values and the target are
        /// reassembled across llhttp callbacks.
        @Test func aHeadSplitAcrossManyReadsIsReassembled() async throws {
            try await withProxy(.echo) { upstream, gw in
                let text = "GET /split/path?q=1 HTTP/1.1\r\nHost: x\r\nX-Long-Name: some value here\r\nX-Empty:\r\nConnection: close\r\n\r\n"
                try await Self.send(text, inPiecesOf: 3, pause: .milliseconds(2), to: gw.port)
                let seen = try #require(upstream.lastRequest)
                #expect(seen.head.uri == "/split/path?q=1")
                #expect(seen.header("x-long-name") == "some value here")
                #expect(seen.header("x-empty") == "")
            }
        }

        /// A 20 KB value arriving 1,000 bytes a read: the decoder's scratch grows
        /// several times while the head is gathered, and the upstream gets every byte.
        @Test func aLargeHeadSplitAcrossReadsIsForwardedIntact() async throws {
            try await withProxy(.echo) { upstream, gw in
                let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
                let value = String((0..<20_000).map { alphabet[$0 % alphabet.count] })
                let text = "GET /large HTTP/1.1\r\nHost: x\r\nX-Large: \(value)\r\nX-After: end\r\nConnection: close\r\n\r\n"
                try await Self.send(text, inPiecesOf: 1_000, pause: .milliseconds(1), to: gw.port)
                let seen = try #require(upstream.lastRequest)
                #expect(seen.head.uri == "/large")
                #expect(seen.header("x-large") == value)
                #expect(seen.header("x-after") == "end")
            }
        }
    }

    /// How gw frames what it sends clients (`DownstreamHandler.writeResponseHead`).
    @Suite struct ResponseFraming {
        func withRawUpstream(answer: String, _ body: (RawUpstream, RunningGateway) async throws -> Void) async throws {
            let upstream = try await RawUpstream.start(answer: answer)
            do {
                try await withGateway(yaml: gatewayYAML(upstreamPort: upstream.port, routes: proxyRoute())) { gw in
                    try await body(upstream, gw)
                }
            } catch {
                await upstream.stop()
                throw error
            }
            await upstream.stop()
        }

        @Test func aBodyDelimitedByTheUpstreamsCloseIsChunkedForAnHTTP11Client() async throws {
            try await withRawUpstream(answer: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello world") { _, gw in
                let answer = try await RawConnection.exchange(port: gw.port, text: "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n"), "answer: \(answer)")
                #expect(answer.lowercased().contains("\r\ntransfer-encoding: chunked\r\n"), "answer: \(answer)")
                #expect(answer.hasSuffix("\r\n\r\nb\r\nhello world\r\n0\r\n\r\n"), "answer: \(answer)")
            }
        }

        @Test func anHTTP10ClientGetsTheBodyUnchunkedUntilTheClose() async throws {
            for upstreamAnswer in [
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello world",
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n",
            ] {
                try await withRawUpstream(answer: upstreamAnswer) { _, gw in
                    let answer = try await RawConnection.exchange(port: gw.port, text: "GET / HTTP/1.0\r\nHost: x\r\n\r\n")
                    #expect(answer.hasPrefix("HTTP/1.0 200 OK\r\n"), "answer: \(answer)")
                    #expect(!answer.lowercased().contains("transfer-encoding"), "answer: \(answer)")
                    #expect(answer.hasSuffix("\r\n\r\nhello world"), "answer: \(answer)")
                }
            }
        }

        @Test func aResponseWithBothLengthAndChunkedIsReframedChunked() async throws {
            try await withRawUpstream(answer: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n") { _, gw in
                let answer = try await RawConnection.exchange(port: gw.port, text: "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                #expect(!answer.lowercased().contains("content-length"), "answer: \(answer)")
                #expect(answer.hasSuffix("\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), "answer: \(answer)")
            }
        }

        @Test func aResponseThatNamesContentLengthInConnectionKeepsIt() async throws {
            try await withRawUpstream(answer: "HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 5\r\n\r\nhello") { _, gw in
                let answer = try await RawConnection.exchange(port: gw.port, text: "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                #expect(answer.lowercased().contains("content-length: 5"), "answer: \(answer)")
                #expect(answer.hasSuffix("\r\n\r\nhello"), "answer: \(answer)")
            }
        }

        /// The pass-through writer (`writeReceivedResponseHead`): a Content-Length
        /// response to an HTTP/1.1 client is copied as received, status line and
        /// header lines alike, minus its hop-by-hop lines and the upstream's request id.
        @Test func aLengthFramedResponseIsCopiedWithoutItsHopByHopLines() async throws {
            let upstreamAnswer =
                "HTTP/1.1 200 Fine Thanks\r\nX-First: 1\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"
                + "X-Request-Id: from-upstream\r\nProxy-Connection: keep-alive\r\nX-Last:  two words\r\nContent-Length: 5\r\n\r\nhello"
            try await withRawUpstream(answer: upstreamAnswer) { _, gw in
                let twoRequests = "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                let answer = try await RawConnection.exchange(port: gw.port, text: twoRequests)
                let responses = answer.components(separatedBy: "HTTP/1.1 200 Fine Thanks\r\n").dropFirst()
                #expect(responses.count == 2, "answer: \(answer)")
                for (index, response) in responses.enumerated() {
                    let lower = response.lowercased()
                    #expect(response.hasPrefix("X-First: 1\r\nX-Last:  two words\r\nContent-Length: 5\r\nx-request-id: "), "answer: \(answer)")
                    #expect(!lower.contains("keep-alive") && !lower.contains("from-upstream"), "answer: \(answer)")
                    #expect(lower.components(separatedBy: "x-request-id:").count == 2, "answer: \(answer)")
                    #expect(lower.contains("\r\nconnection: close\r\n") == (index == 1), "answer: \(answer)")
                    #expect(response.hasSuffix("\r\n\r\nhello"), "answer: \(answer)")
                }
            }
        }

        /// An answer that starts before the request body ended closes the connection
        /// after it, and its head says so.
        @Test func anEarlyAnswerToAnUnfinishedUploadSaysConnectionClose() async throws {
            try await withRawUpstream(answer: "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nbig!") { _, gw in
                let answer = try await RawConnection.exchange(
                    port: gw.port, text: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nthe first bytes")
                #expect(answer.hasPrefix("HTTP/1.1 413 "), "answer: \(answer)")
                #expect(answer.lowercased().contains("\r\nconnection: close\r\n"), "answer: \(answer)")
                #expect(answer.hasSuffix("\r\n\r\nbig!"), "answer: \(answer)")
            }
        }

        @Test func aHEADAnswerKeepsItsLengthAndHasNoBody() async throws {
            try await withRawUpstream(answer: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n") { _, gw in
                let answer = try await RawConnection.exchange(port: gw.port, text: "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"), "answer: \(answer)")
                #expect(answer.hasSuffix("\r\n\r\n"), "answer: \(answer)")
            }
        }

        /// More hop-by-hop lines than the pass-through tracks, or a header named in
        /// `Connection`: the general writer takes over and still removes them all.
        @Test func everyHopByHopLineGoesHoweverManyThereAre() async throws {
            let upstreamAnswer =
                "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n"
                + "Trailer: x\r\nUpgrade: h2c\r\nProxy-Connection: keep-alive\r\nProxy-Authenticate: Basic\r\nX-Kept: yes\r\nContent-Length: 5\r\n\r\nhello"
            for answerText in [upstreamAnswer, upstreamAnswer.replacingOccurrences(of: ", X-Secret", with: "")] {
                try await withRawUpstream(answer: answerText) { _, gw in
                    let answer = try await RawConnection.exchange(port: gw.port, text: "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    let lower = answer.lowercased()
                    for gone in ["keep-alive", "\r\nte:", "trailer:", "upgrade:", "proxy-", "x-secret:"] where gone != "x-secret:" || answerText == upstreamAnswer {
                        #expect(!lower.contains(gone), "\(gone) in answer: \(answer)")
                    }
                    #expect(lower.contains("\r\nx-kept: yes\r\n") && lower.contains("\r\ncontent-length: 5\r\n"), "answer: \(answer)")
                    #expect(answer.hasSuffix("\r\n\r\nhello"), "answer: \(answer)")
                }
            }
        }

        @Test func a204CarriesNoFramingHeaders() async throws {
            try await withRawUpstream(answer: "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nX-Kept: yes\r\n\r\n") { _, gw in
                let answer = try await RawConnection.exchange(port: gw.port, text: "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                #expect(answer.hasPrefix("HTTP/1.1 204 No Content\r\n"), "answer: \(answer)")
                #expect(answer.lowercased().contains("x-kept: yes"))
                #expect(!answer.lowercased().contains("content-length"), "answer: \(answer)")
                #expect(!answer.lowercased().contains("transfer-encoding"), "answer: \(answer)")
                #expect(answer.hasSuffix("\r\n\r\n"))
            }
        }
    }
}
