import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// An upstream on 127.0.0.1 whose failure mode can be switched while it runs:
/// the fault-injection suite's target. It answers `GET /health` (or any path) per
/// the current mode, counts data requests (every path but /health) as their heads
/// arrive, and records their `x-test-id` headers to find duplicates.
public final class FaultUpstream: Sendable {
    public enum Mode: Sendable, Equatable {
        /// 200 "ok <name>".
        case healthy
        /// Nobody listens on the port (the listener is closed; switching back rebinds it).
        case refuse
        /// Accept and read, never answer.
        case hang
        /// Answer 200 after a delay.
        case slow(TimeAmount)
        /// A 200 head announcing 1000 bytes, 100 bytes of body, then a TCP reset.
        case resetMidBody
        /// Bytes that are not HTTP, then close.
        case garbage
        /// This status, with a small body.
        case status(Int)
        /// This status after a delay.
        case slowStatus(Int, TimeAmount)
        /// Alternate: `period` healthy, `period` answering 503.
        case flap(period: TimeAmount)
        /// Answer the first request of a connection; close on the next one without answering
        /// (an idle keep-alive connection the upstream closed).
        case closeReusedConnections
        /// Answer with these bytes as they are; close afterwards if `close`.
        case raw(String, close: Bool)
        /// Answer the first request of a connection; answer later ones with these bytes,
        /// then close.
        case rawOnReusedConnections(String)
    }

    struct State {
        var mode: Mode = .healthy
        var channel: (any Channel)?
        var requests = 0
        var healthChecks = 0
        var ids: [String] = []
        var connections = 0
    }

    public let name: String
    public let port: Int
    private let state: Mutex<State>
    private let started = NIODeadline.now()

    private init(name: String, port: Int, channel: any Channel) {
        self.name = name
        self.port = port
        self.state = Mutex(State(channel: channel))
    }

    public static func start(name: String, mode: Mode = .healthy) async throws -> FaultUpstream {
        let box = ServerRef()
        let channel = try await bind(port: 0, box: box)
        let server = FaultUpstream(name: name, port: channel.localAddress?.port ?? 0, channel: channel)
        box.value.withLock { $0 = server }
        await server.set(mode)
        return server
    }

    final class ServerRef: Sendable {
        let value = Mutex<FaultUpstream?>(nil)
    }

    private static func bind(port: Int, box: ServerRef) async throws -> any Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard let server = box.value.withLock({ $0 }) else { return channel.close() }
                server.state.withLock { $0.connections += 1 }
                return channel.pipeline.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: false)
                    .flatMapThrowing {
                        try channel.pipeline.syncOperations.addHandler(RawBytesOutlet(), position: .first)
                        try channel.pipeline.syncOperations.addHandler(FaultHandler(server: server))
                    }
            }
            .bind(host: "127.0.0.1", port: port).get()
    }

    /// Switch the failure mode (closes or rebinds the listener for `.refuse`).
    public func set(_ mode: Mode) async {
        let (old, channel) = state.withLock { state in
            defer { state.mode = mode }
            return (state.mode, state.channel)
        }
        if mode == .refuse, let channel {
            state.withLock { $0.channel = nil }
            try? await channel.close()
        } else if old == .refuse || channel == nil, mode != .refuse {
            let box = ServerRef()
            box.value.withLock { $0 = self }
            for _ in 0..<50 {
                if let rebound = try? await Self.bind(port: port, box: box) {
                    state.withLock { $0.channel = rebound }
                    return
                }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    public var mode: Mode { state.withLock { $0.mode } }
    /// Data requests whose head arrived (health checks excluded).
    public var requests: Int { state.withLock { $0.requests } }
    public var healthChecks: Int { state.withLock { $0.healthChecks } }
    public var connections: Int { state.withLock { $0.connections } }
    /// `x-test-id` of every data request, in arrival order.
    public var ids: [String] { state.withLock { $0.ids } }

    public func stop() async {
        let channel = state.withLock { state in
            defer { state.channel = nil }
            return state.channel
        }
        try? await channel?.close()
    }

    /// What to do with a request now (counting it).
    func arrived(_ head: HTTPRequestHead) -> Mode {
        let path = head.uri.split(separator: "?").first ?? ""
        let mode = state.withLock { state in
            if path == "/health" {
                state.healthChecks += 1
            } else {
                state.requests += 1
                if let id = head.headers.first(name: "x-test-id") { state.ids.append(id) }
            }
            return state.mode
        }
        if case .flap(let period) = mode {
            let phase = (NIODeadline.now() - started).nanoseconds / max(1, period.nanoseconds)
            return phase % 2 == 0 ? .healthy : .status(503)
        }
        return mode
    }
}

final class FaultHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let server: FaultUpstream
    private var mode: FaultUpstream.Mode = .healthy
    private var served = 0

    init(server: FaultUpstream) {
        self.server = server
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            mode = server.arrived(head)
            served += 1
        case .body: break
        case .end: perform(context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func perform(_ context: ChannelHandlerContext) {
        switch mode {
        case .healthy, .refuse, .flap:
            respond(200, "ok \(server.name)", context)
        case .hang:
            break
        case .slow(let delay):
            context.eventLoop.assumeIsolated().scheduleTask(in: delay) {
                guard context.channel.isActive else { return }
                self.respond(200, "ok \(self.server.name)", context)
            }
        case .resetMidBody:
            var headers = HTTPHeaders()
            headers.add(name: "content-length", value: "1000")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(repeating: UInt8(ascii: "x"), count: 100)))))
                .assumeIsolated().whenComplete { _ in
                    // SO_LINGER 0: close sends a RST.
                    let reset = (context.channel as? any SocketOptionProvider)?.setSoLinger(linger(l_onoff: 1, l_linger: 0))
                    if let reset {
                        let channel = context.channel
                        reset.whenComplete { _ in channel.close(promise: nil) }
                    } else {
                        context.close(promise: nil)
                    }
                }
        case .garbage:
            writeRaw("NOT HTTP AT ALL \u{1}\u{2}\r\n\r\n", close: true, context)
        case .status(let status):
            respond(status, "fault \(status) \(server.name)", context)
        case .slowStatus(let status, let delay):
            context.eventLoop.assumeIsolated().scheduleTask(in: delay) {
                guard context.channel.isActive else { return }
                self.respond(status, "fault \(status) \(self.server.name)", context)
            }
        case .closeReusedConnections:
            if served > 1 { context.close(promise: nil) } else { respond(200, "ok \(server.name)", context) }
        case .raw(let bytes, let close):
            writeRaw(bytes, close: close, context)
        case .rawOnReusedConnections(let bytes):
            if served > 1 { writeRaw(bytes, close: true, context) } else { respond(200, "ok \(server.name)", context) }
        }
    }

    private func writeRaw(_ bytes: String, close: Bool, _ context: ChannelHandlerContext) {
        guard let outlet = try? context.pipeline.syncOperations.context(handlerType: RawBytesOutlet.self) else {
            context.close(promise: nil)
            return
        }
        outlet.writeAndFlush(NIOAny(ByteBuffer(string: bytes))).assumeIsolated().whenComplete { _ in
            if close { context.close(promise: nil) }
        }
    }

    private func respond(_ status: Int, _ body: String, _ context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "content-length", value: String(body.utf8.count))
        headers.add(name: "x-upstream", value: server.name)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: status), headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

@available(*, unavailable)
extension FaultHandler: Sendable {}
