import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// An HTTP/1.1 server on 127.0.0.1 port 0 that plays the upstream in end-to-end
/// tests. What it answers is chosen per request; it records every request and
/// counts accepted connections.
public final class TestUpstream: Sendable {
    /// What the upstream does with one request (decided when the head arrives,
    /// performed once the whole request body has been read).
    public indirect enum Behaviour: Sendable {
        /// 200 with a JSON description of the request: method, uri, headers, body
        /// length, whether the body is the `PatternBody`, and (optionally) the body.
        case echo(includeBody: Bool)
        /// A fixed answer.
        case fixed(status: Int, headers: [(String, String)], body: String)
        /// Wait before doing anything (a slow first byte).
        case delayed(TimeAmount, Behaviour)
        /// 200, chunked: `count` chunks "chunk-<i>\n" with `delay` between them.
        case chunks(count: Int, delay: TimeAmount)
        /// 200 with a `PatternBody` of `bytes` bytes, written with backpressure.
        case download(bytes: Int)
        /// 200 `text/event-stream`: each string written as it is, `delay` apart.
        case sse(events: [String], delay: TimeAmount)
        /// Close the connection without a byte of response.
        case closeWithoutAnswer
        /// Answer bytes that are not HTTP, then close.
        case garbage

        public static let echo = Behaviour.echo(includeBody: false)

        public static func fixed(_ status: Int, body: String = "", headers: [(String, String)] = []) -> Behaviour {
            .fixed(status: status, headers: headers, body: body)
        }
    }

    /// One request as the upstream saw it.
    public struct Request: Sendable {
        public var head: HTTPRequestHead
        /// The first `TestUpstream.recordLimit` bytes of the body.
        public var body: [UInt8]
        public var bodyLength: Int
        public var bodyIsPattern: Bool
        public var bodyText: String { String(decoding: body, as: UTF8.self) }
        public func header(_ name: String) -> String? { head.headers.first(name: name) }
    }

    public static let recordLimit = 1 << 20

    struct State {
        var requests: [Request] = []
        var connections = 0
    }

    public let port: Int
    private let channel: any Channel
    private let state = Mutex(State())
    let choose: @Sendable (HTTPRequestHead) -> Behaviour

    private init(channel: any Channel, choose: @escaping @Sendable (HTTPRequestHead) -> Behaviour) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
        self.choose = choose
    }

    /// Start an upstream that always behaves the same way.
    public static func start(_ behaviour: Behaviour = .echo) async throws -> TestUpstream {
        try await start { _ in behaviour }
    }

    /// Start an upstream that picks its behaviour per request.
    public static func start(choosing choose: @escaping @Sendable (HTTPRequestHead) -> Behaviour) async throws -> TestUpstream {
        let box = Mutex<TestUpstream?>(nil)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard let server = box.withLock({ $0 }) else { return channel.close() }
                server.state.withLock { $0.connections += 1 }
                return channel.pipeline.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: false)
                    .flatMapThrowing {
                        try channel.pipeline.syncOperations.addHandler(RawBytesOutlet(), position: .first)
                        try channel.pipeline.syncOperations.addHandler(TestUpstreamHandler(server: server))
                    }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let server = TestUpstream(channel: channel, choose: choose)
        box.withLock { $0 = server }
        return server
    }

    public func stop() async {
        try? await channel.close()
    }

    /// Requests received completely (head, body and end).
    public var requestCount: Int { state.withLock { $0.requests.count } }
    /// TCP connections accepted.
    public var connectionCount: Int { state.withLock { $0.connections } }
    public var requests: [Request] { state.withLock { $0.requests } }
    public var lastRequest: Request? { state.withLock { $0.requests.last } }

    func record(_ request: Request) {
        state.withLock { $0.requests.append(request) }
    }
}

final class TestUpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let server: TestUpstream
    private var head: HTTPRequestHead?
    private var behaviour: TestUpstream.Behaviour = .echo
    private var body: [UInt8] = []
    private var verifier = PatternBody.Verifier()

    init(server: TestUpstream) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            behaviour = server.choose(h)
            body = []
            verifier = PatternBody.Verifier()
        case .body(let buffer):
            verifier.feed(buffer)
            if body.count < TestUpstream.recordLimit {
                body += buffer.readableBytesView.prefix(TestUpstream.recordLimit - body.count)
            }
        case .end:
            guard let head else { return }
            self.head = nil
            let request = TestUpstream.Request(
                head: head, body: body, bodyLength: verifier.length, bodyIsPattern: verifier.matches && verifier.length > 0)
            server.record(request)
            perform(behaviour, request: request, context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func perform(_ behaviour: TestUpstream.Behaviour, request: TestUpstream.Request, context: ChannelHandlerContext) {
        let keepAlive = request.head.isKeepAlive
        switch behaviour {
        case .echo(let includeBody):
            var headers: [String: String] = [:]
            for (name, value) in request.head.headers {
                let key = name.lowercased()
                headers[key] = headers[key].map { $0 + ", " + value } ?? value
            }
            var object: [String: Any] = [
                "method": request.head.method.rawValue, "uri": request.head.uri, "headers": headers,
                "body_length": request.bodyLength, "body_is_pattern": request.bodyIsPattern,
            ]
            if includeBody { object["body"] = request.bodyText }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            respond(status: 200, headers: [("content-type", "application/json")], body: String(decoding: data, as: UTF8.self), keepAlive: keepAlive, context: context)
        case .fixed(let status, let headers, let body):
            respond(status: status, headers: headers, body: body, keepAlive: keepAlive, context: context)
        case .delayed(let delay, let next):
            context.eventLoop.assumeIsolated().scheduleTask(in: delay) {
                guard context.channel.isActive else { return }
                self.perform(next, request: request, context: context)
            }
        case .chunks(let count, let delay):
            writeHead(status: 200, headers: [("content-type", "text/plain"), ("transfer-encoding", "chunked")], keepAlive: keepAlive, context: context)
            let parts = (0..<count).map { "chunk-\($0)\n" }
            writeSpaced(parts, delay: delay, keepAlive: keepAlive, context: context)
        case .sse(let events, let delay):
            writeHead(status: 200, headers: [("content-type", "text/event-stream"), ("cache-control", "no-cache"), ("transfer-encoding", "chunked")], keepAlive: keepAlive, context: context)
            writeSpaced(events, delay: delay, keepAlive: keepAlive, context: context)
        case .download(let bytes):
            writeHead(status: 200, headers: [("content-type", "application/octet-stream"), ("content-length", String(bytes))], keepAlive: keepAlive, context: context)
            writeDownload(offset: 0, length: bytes, keepAlive: keepAlive, context: context)
        case .closeWithoutAnswer:
            context.close(promise: nil)
        case .garbage:
            // Written from the first handler's context, so no HTTP encoder sees it.
            guard let outlet = try? context.pipeline.syncOperations.context(handlerType: RawBytesOutlet.self) else {
                context.close(promise: nil)
                return
            }
            let garbage = ByteBuffer(string: "SURPRISE! this is not an HTTP response \u{1}\u{2}\u{3}\r\n\r\n")
            outlet.writeAndFlush(NIOAny(garbage)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    private func writeHead(status: Int, headers: [(String, String)], keepAlive: Bool, context: ChannelHandlerContext) {
        var fields = HTTPHeaders(headers)
        if !keepAlive { fields.replaceOrAdd(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: fields))), promise: nil)
    }

    private func respond(status: Int, headers: [(String, String)], body: String, keepAlive: Bool, context: ChannelHandlerContext) {
        var all = headers
        if !all.contains(where: { $0.0.lowercased() == "content-length" || $0.0.lowercased() == "transfer-encoding" }) {
            all.append(("content-length", String(body.utf8.count)))
        }
        writeHead(status: status, headers: all, keepAlive: keepAlive, context: context)
        if !body.isEmpty { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil) }
        end(keepAlive: keepAlive, context: context)
    }

    private func end(keepAlive: Bool, context: ChannelHandlerContext) {
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive { done.assumeIsolated().whenComplete { _ in context.close(promise: nil) } }
    }

    /// Write `parts` one by one, `delay` apart (the first at once), then end.
    private func writeSpaced(_ parts: [String], delay: TimeAmount, keepAlive: Bool, context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        guard let first = parts.first else {
            end(keepAlive: keepAlive, context: context)
            return
        }
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: first)))), promise: nil)
        let rest = Array(parts.dropFirst())
        if rest.isEmpty {
            context.eventLoop.assumeIsolated().scheduleTask(in: delay) {
                self.end(keepAlive: keepAlive, context: context)
            }
            return
        }
        context.eventLoop.assumeIsolated().scheduleTask(in: delay) {
            self.writeSpaced(rest, delay: delay, keepAlive: keepAlive, context: context)
        }
    }

    /// Write one pattern block, and the next once it is on the wire (backpressure).
    private func writeDownload(offset: Int, length: Int, keepAlive: Bool, context: ChannelHandlerContext) {
        guard let chunk = PatternBody.chunk(at: offset, length: length) else {
            end(keepAlive: keepAlive, context: context)
            return
        }
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(chunk)))).assumeIsolated().whenComplete { result in
            guard case .success = result else { return }
            self.writeDownload(offset: offset + chunk.readableBytes, length: length, keepAlive: keepAlive, context: context)
        }
    }
}

@available(*, unavailable)
extension TestUpstreamHandler: Sendable {}

/// Sits next to the socket: bytes written from its context bypass the HTTP encoder.
final class RawBytesOutlet: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
}

/// Start an upstream, run `body`, always stop it.
public func withUpstream<R>(
    _ behaviour: TestUpstream.Behaviour = .echo, _ body: (TestUpstream) async throws -> R
) async throws -> R {
    try await withUpstream(choosing: { _ in behaviour }, body)
}

/// Start an upstream that picks its behaviour per request, run `body`, always stop it.
public func withUpstream<R>(
    choosing choose: @escaping @Sendable (HTTPRequestHead) -> TestUpstream.Behaviour, _ body: (TestUpstream) async throws -> R
) async throws -> R {
    let upstream = try await TestUpstream.start(choosing: choose)
    do {
        let result = try await body(upstream)
        await upstream.stop()
        return result
    } catch {
        await upstream.stop()
        throw error
    }
}
