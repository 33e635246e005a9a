import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import PluginHost

/// Performs plugin call-outs (`http_callout`) on the stream's own event loop:
/// one connection per call, the response aggregated up to 4 MiB.
final class CalloutClient: HTTPCalloutClient {
    static let maxBody = 4 * 1024 * 1024
    let group: any EventLoopGroup

    init(group: any EventLoopGroup) {
        self.group = group
    }

    func execute(_ request: CalloutRequest, on loop: any EventLoop) -> EventLoopFuture<CalloutResponse> {
        guard let url = ParsedURL(request.url) else {
            return loop.makeFailedFuture(CalloutFailure.connectFailed)
        }
        let promise = loop.makePromise(of: CalloutResponse.self)
        let tlsContext: NIOSSLContext?
        if url.tls {
            tlsContext = try? NIOSSLContext(configuration: .makeClientConfiguration())
        } else {
            tlsContext = nil
        }
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(request.timeout)
            .channelInitializer { channel in
                do {
                    if let tlsContext {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tlsContext, serverHostname: url.host))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(CalloutHandler(promise: promise))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        let timeout = loop.scheduleTask(in: request.timeout) { promise.fail(CalloutFailure.timeout) }
        bootstrap.connect(host: url.host, port: url.port).whenComplete { result in
            switch result {
            case .failure:
                promise.fail(CalloutFailure.connectFailed)
            case .success(let channel):
                var headers = HTTPHeaders(request.headers)
                if !headers.contains(name: "host") { headers.add(name: "host", value: url.host) }
                headers.replaceOrAdd(name: "content-length", value: String(request.body.readableBytes))
                headers.replaceOrAdd(name: "connection", value: "close")
                let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: request.method), uri: url.path, headers: headers)
                channel.write(HTTPClientRequestPart.head(head), promise: nil)
                if request.body.readableBytes > 0 { channel.write(HTTPClientRequestPart.body(.byteBuffer(request.body)), promise: nil) }
                channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
                promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
            }
        }
        promise.futureResult.whenComplete { _ in timeout.cancel() }
        return promise.futureResult
    }
}

struct ParsedURL {
    var tls: Bool
    var host: String
    var port: Int
    var path: String

    init?(_ text: String) {
        var rest: Substring
        if text.hasPrefix("https://") {
            tls = true
            rest = text.dropFirst(8)
        } else if text.hasPrefix("http://") {
            tls = false
            rest = text.dropFirst(7)
        } else {
            return nil
        }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        path = slash == rest.endIndex ? "/" : String(rest[slash...])
        if let colon = authority.lastIndex(of: ":"), let p = Int(authority[authority.index(after: colon)...]) {
            host = String(authority[..<colon])
            port = p
        } else {
            host = String(authority)
            port = tls ? 443 : 80
        }
        guard !host.isEmpty else { return nil }
        rest = ""
    }
}

final class CalloutHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    let promise: EventLoopPromise<CalloutResponse>
    private var response: CalloutResponse?

    init(promise: EventLoopPromise<CalloutResponse>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            response = CalloutResponse(status: Int(head.status.code), headers: head.headers.map { ($0.name, $0.value) }, body: ByteBuffer())
        case .body(var body):
            guard (response?.body.readableBytes ?? 0) + body.readableBytes <= CalloutClient.maxBody else {
                promise.fail(CalloutFailure.tooLarge)
                context.close(promise: nil)
                return
            }
            response?.body.writeBuffer(&body)
        case .end:
            if let response { promise.succeed(response) } else { promise.fail(CalloutFailure.reset) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(CalloutFailure.reset)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(CalloutFailure.reset)
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension CalloutHandler: Sendable {}
