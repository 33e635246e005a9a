import NIOCore
import NIOPosix
import NIOSSL

/// One active health check: a TCP connect, or an HTTP GET whose status line is
/// read from the raw bytes. Bounded by the check's timeout; the future succeeds
/// with whether the target passed (it never fails).
enum HealthProbe {
    static func run(
        target: UpstreamSet.ResolvedTarget, check: GatewayConfig.HealthCheck, tls: NIOSSLContext?, on loop: any EventLoop
    ) -> EventLoopFuture<Bool> {
        let promise = loop.makePromise(of: Bool.self)
        let request: ByteBuffer?
        switch check.kind {
        case .tcp: request = nil
        case .http(let path):
            let host = check.host ?? "\(target.host):\(target.port)"
            request = ByteBuffer(string: "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: gw-health-check\r\nConnection: close\r\n\r\n")
        }
        let expected = check.expectedStatuses
        let host = target.host
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(check.timeout)
            .channelInitializer { channel in
                guard let request else { return channel.eventLoop.makeSucceededVoidFuture() }
                do {
                    let sync = channel.pipeline.syncOperations
                    if let tls {
                        let isIP = (try? SocketAddress(ipAddress: host, port: 0)) != nil
                        try sync.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: isIP ? nil : host))
                    }
                    try sync.addHandler(ProbeHandler(request: request, expected: expected, promise: promise))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        let timeout = loop.scheduleTask(in: check.timeout) { promise.succeed(false) }
        bootstrap.connect(to: target.address).whenComplete { result in
            switch result {
            case .success(let channel):
                if request == nil { promise.succeed(true) }
                promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
            case .failure:
                promise.succeed(false)
            }
        }
        promise.futureResult.whenComplete { _ in timeout.cancel() }
        return promise.futureResult
    }
}

/// Writes the check request, reads up to the end of the status line.
private final class ProbeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let request: ByteBuffer
    let expected: ClosedRange<Int>
    let promise: EventLoopPromise<Bool>
    private var received = ByteBuffer()

    init(request: ByteBuffer, expected: ClosedRange<Int>, promise: EventLoopPromise<Bool>) {
        self.request = request
        self.expected = expected
        self.promise = promise
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(request), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        received.writeBuffer(&bytes)
        let view = received.readableBytesView
        guard let end = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if received.readableBytes > 1024 { promise.succeed(false) }
            return
        }
        promise.succeed(Self.passes(statusLine: String(decoding: view[view.startIndex..<end], as: UTF8.self), expected: expected))
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.succeed(false)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.succeed(false)
        context.close(promise: nil)
    }

    /// "HTTP/1.1 200 OK" with a status in `expected`.
    static func passes(statusLine: String, expected: ClosedRange<Int>) -> Bool {
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else { return false }
        return expected.contains(status)
    }
}
