import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import gw

/// Counts the flushes that travel from the upstream handler toward the socket.
private final class FlushCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var flushes = 0

    func flush(context: ChannelHandlerContext) {
        flushes += 1
        context.flush()
    }
}

/// `UpstreamConnection.flush` sends a flush down the pipeline only when something was
/// written since the last one (docs/performance.md item 63): a bodiless request's `.end`
/// writes nothing and must not cost a second flush.
@Suite struct UpstreamConnectionFlushTests {
    @Test func aFlushWithNothingWrittenSinceTheLastOneIsSkipped() throws {
        let counter = FlushCounter()
        let handler = UpstreamHandler()
        let channel = EmbeddedChannel(handlers: [counter, handler])
        defer { _ = try? channel.finish() }
        let connection = UpstreamConnection(channel: channel, poolKey: "test", handler: handler)

        connection.flush()
        #expect(counter.flushes == 0)

        connection.write(.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/a", headers: ["host": "upstream"])))
        connection.write(.end(nil))
        connection.flush()
        connection.flush()
        #expect(counter.flushes == 1)
        let head = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(String(buffer: head).hasPrefix("GET /a HTTP/1.1\r\n"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)

        // A request with a body: head, body and end written, then one flush sends them.
        var post = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/b", headers: ["host": "upstream"])
        post.headers.add(name: "content-length", value: "5")
        connection.write(.head(post))
        connection.write(.body(.byteBuffer(ByteBuffer(string: "hello"))))
        connection.write(.end(nil))
        connection.flush()
        connection.flush()
        #expect(counter.flushes == 2)
        var sent = ""
        while let part = try channel.readOutbound(as: ByteBuffer.self) { sent += String(buffer: part) }
        #expect(sent.hasPrefix("POST /b HTTP/1.1\r\n"))
        #expect(sent.hasSuffix("\r\n\r\nhello"))
    }
}
