import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// A response as the test client received it.
public struct TestResponse: Sendable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    /// The body (empty when the request asked not to keep it).
    public var body: ByteBuffer
    public var bodyLength: Int
    /// True if the body is exactly a `PatternBody` of `bodyLength` bytes.
    public var bodyIsPattern: Bool
    /// When the head, the first body byte and the end arrived.
    public var headAt: NIODeadline
    public var firstBodyAt: NIODeadline?
    public var endAt: NIODeadline
    /// Sizes of the body parts in arrival order.
    public var bodyParts: [Int]

    public var text: String { String(buffer: body) }
    public func header(_ name: String) -> String? { headers.first(name: name) }

    /// The body parsed as a JSON object.
    public func json() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(body.readableBytesView))
        guard let dictionary = object as? [String: Any] else { throw TestClient.Failure.notJSONObject(text) }
        return dictionary
    }

    /// `error.type` of a gateway JSON error body.
    public var errorType: String? {
        ((try? json())?["error"] as? [String: Any])?["type"] as? String
    }
}

/// What a test request carries as a body.
public enum RequestBody: Sendable {
    case none
    case bytes([UInt8])
    /// A `PatternBody` of `length` bytes, sent with Content-Length, one ~256 KiB chunk
    /// at a time (the next once the previous is on the wire).
    case pattern(length: Int)
    /// Chunked transfer encoding: each string is one chunk, `delay` apart.
    case chunked([String], delay: TimeAmount)
    /// Send the head only, never the body or the end (for early answers such as 413).
    case headOnly

    public static func string(_ text: String) -> RequestBody { .bytes(Array(text.utf8)) }
}

/// A small HTTP/1.1 client over one keep-alive connection: one request at a time.
public final class TestClient: Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case connectionClosed
        case timedOut
        case notJSONObject(String)
        public var description: String {
            switch self {
            case .connectionClosed: "the connection closed before a complete response"
            case .timedOut: "no complete response in time"
            case .notJSONObject(let text): "not a JSON object: \(text)"
            }
        }
    }

    public let channel: any Channel
    private let handler: NIOLoopBound<TestClientHandler>

    private init(channel: any Channel, handler: NIOLoopBound<TestClientHandler>) {
        self.channel = channel
        self.handler = handler
    }

    public static func connect(port: Int, host: String = "127.0.0.1") async throws -> TestClient {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(TestClientHandler())
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .connect(host: host, port: port).get()
        let handler = try await channel.eventLoop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: TestClientHandler.self), eventLoop: channel.eventLoop)
        }.get()
        return TestClient(channel: channel, handler: handler)
    }

    /// Connect, send one request, close.
    public static func send(
        port: Int, _ method: HTTPMethod = .GET, _ uri: String, headers: [(String, String)] = [], body: RequestBody = .none,
        keepBody: Bool = true, timeout: TimeAmount = .seconds(30)
    ) async throws -> TestResponse {
        let client = try await connect(port: port)
        do {
            let response = try await client.request(method, uri, headers: headers, body: body, keepBody: keepBody, timeout: timeout)
            await client.close()
            return response
        } catch {
            await client.close()
            throw error
        }
    }

    /// Send a request on this connection and wait for the whole response.
    /// A Host header is added unless given.
    public func request(
        _ method: HTTPMethod = .GET, _ uri: String, headers: [(String, String)] = [], body: RequestBody = .none,
        keepBody: Bool = true, timeout: TimeAmount = .seconds(30)
    ) async throws -> TestResponse {
        var fields = HTTPHeaders(headers)
        if !fields.contains(name: "host") { fields.add(name: "host", value: "127.0.0.1") }
        switch body {
        case .bytes(let bytes):
            if !fields.contains(name: "content-length") { fields.add(name: "content-length", value: String(bytes.count)) }
        case .pattern(let length):
            fields.replaceOrAdd(name: "content-length", value: String(length))
        case .chunked:
            fields.replaceOrAdd(name: "transfer-encoding", value: "chunked")
        case .none, .headOnly:
            break
        }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: fields)
        let promise = channel.eventLoop.makePromise(of: TestResponse.self)
        let handler = self.handler
        channel.eventLoop.execute {
            handler.value.send(head: head, body: body, keepBody: keepBody, promise: promise)
        }
        let timer = channel.eventLoop.scheduleTask(in: timeout) { promise.fail(Failure.timedOut) }
        defer { timer.cancel() }
        return try await promise.futureResult.get()
    }

    public var isActive: Bool { channel.isActive }

    /// Resolves when the server closes the connection (or after `timeout`: false).
    public func waitForClose(timeout: TimeAmount = .seconds(5)) async -> Bool {
        let promise = channel.eventLoop.makePromise(of: Bool.self)
        channel.closeFuture.whenComplete { _ in promise.succeed(true) }
        channel.eventLoop.scheduleTask(in: timeout) { promise.succeed(false) }
        return (try? await promise.futureResult.get()) ?? false
    }

    public func close() async {
        try? await channel.close()
    }
}

final class TestClientHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private var context: ChannelHandlerContext?
    private var promise: EventLoopPromise<TestResponse>?
    private var response: TestResponse?
    private var keepBody = true
    private var verifier = PatternBody.Verifier()

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func send(head: HTTPRequestHead, body: RequestBody, keepBody: Bool, promise: EventLoopPromise<TestResponse>) {
        guard let context, context.channel.isActive else {
            promise.fail(TestClient.Failure.connectionClosed)
            return
        }
        self.promise = promise
        self.keepBody = keepBody
        self.response = nil
        self.verifier = PatternBody.Verifier()
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        switch body {
        case .none:
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        case .headOnly:
            context.flush()
        case .bytes(let bytes):
            if !bytes.isEmpty { context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: bytes)))), promise: nil) }
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        case .pattern(let length):
            context.flush()
            upload(offset: 0, length: length, context: context)
        case .chunked(let parts, let delay):
            context.flush()
            sendChunks(parts[...], delay: delay, context: context)
        }
    }

    private func upload(offset: Int, length: Int, context: ChannelHandlerContext) {
        guard let chunk = PatternBody.chunk(at: offset, length: length) else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(chunk)))).assumeIsolated().whenComplete { result in
            guard case .success = result else { return }
            self.upload(offset: offset + chunk.readableBytes, length: length, context: context)
        }
    }

    private func sendChunks(_ parts: ArraySlice<String>, delay: TimeAmount, context: ChannelHandlerContext) {
        guard let first = parts.first else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: first)))), promise: nil)
        context.eventLoop.assumeIsolated().scheduleTask(in: delay) {
            guard context.channel.isActive else { return }
            self.sendChunks(parts.dropFirst(), delay: delay, context: context)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if head.status.code < 200 && head.status != .switchingProtocols { return }  // 100 Continue
            response = TestResponse(
                status: head.status, headers: head.headers, body: ByteBuffer(), bodyLength: 0, bodyIsPattern: false,
                headAt: .now(), firstBodyAt: nil, endAt: .now(), bodyParts: [])
        case .body(var buffer):
            guard response != nil else { return }
            if response!.firstBodyAt == nil { response!.firstBodyAt = .now() }
            response!.bodyParts.append(buffer.readableBytes)
            response!.bodyLength += buffer.readableBytes
            verifier.feed(buffer)
            if keepBody { response!.body.writeBuffer(&buffer) }
        case .end:
            guard var finished = response else { return }
            finished.endAt = .now()
            finished.bodyIsPattern = verifier.matches && verifier.length > 0
            response = nil
            let promise = self.promise
            self.promise = nil
            promise?.succeed(finished)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise?.fail(TestClient.Failure.connectionClosed)
        promise = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise?.fail(error)
        promise = nil
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension TestClientHandler: Sendable {}

/// Raw TCP: send arbitrary bytes and collect what comes back.
public enum RawConnection {
    /// Connect, write `bytes`, and return every byte received until the server closes
    /// the connection or `timeout` passes.
    public static func exchange(port: Int, bytes: [UInt8], timeout: TimeAmount = .seconds(3), host: String = "127.0.0.1") async throws -> [UInt8] {
        let collector = RawCollector()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector.makeHandler()) }
            }
            .connect(host: host, port: port).get()
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
        let timer = channel.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
        try? await channel.closeFuture.get()
        timer.cancel()
        return collector.bytes
    }

    public static func exchange(port: Int, text: String, timeout: TimeAmount = .seconds(3)) async throws -> String {
        String(decoding: try await exchange(port: port, bytes: Array(text.utf8), timeout: timeout), as: UTF8.self)
    }
}

/// Collects every byte a raw connection receives.
public final class RawCollector: Sendable {
    public init() {}
    private let received = Mutex<[UInt8]>([])
    public var bytes: [UInt8] { received.withLock { $0 } }

    public func makeHandler() -> Handler { Handler(collector: self) }

    public final class Handler: ChannelInboundHandler {
        public typealias InboundIn = ByteBuffer
        let collector: RawCollector
        init(collector: RawCollector) { self.collector = collector }

        public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            collector.received.withLock { $0 += buffer.readableBytesView }
        }

        public func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
