import NIOCore
import NIOHTTP1
import NIOPosix

/// The embedded demo upstream: answers every request with a JSON description of
/// what it received (method, path, headers, body size). Lets a newcomer see what
/// gw forwards without running any other server.
enum EchoServer {
    static func bind(host: String, port: Int, group: any EventLoopGroup) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(EchoHandler())
                }
            }
            .bind(host: host, port: port).get()
    }
}

final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var head: HTTPRequestHead?
    private var bodyBytes = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            bodyBytes = 0
        case .body(let b):
            bodyBytes += b.readableBytes
        case .end:
            guard let head else { return }
            let headers = head.headers.map { "\(JSON.quote($0.name)):\(JSON.quote($0.value))" }.joined(separator: ",")
            let body = "{\"service\":\"gw demo echo\",\"method\":\(JSON.quote(head.method.rawValue)),\"path\":\(JSON.quote(head.uri)),"
                + "\"headers\":{\(headers)},\"body_bytes\":\(bodyBytes)}\n"
            var fields = HTTPHeaders()
            fields.add(name: "content-type", value: "application/json")
            fields.add(name: "content-length", value: String(body.utf8.count))
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .ok, headers: fields))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            self.head = nil
        }
    }
}

@available(*, unavailable)
extension EchoHandler: Sendable {}
