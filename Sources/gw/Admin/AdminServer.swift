import NIOCore
import NIOHTTP1
import NIOPosix
import PluginHost

/// The admin listener: health, readiness, loaded plugins, config version, reload
/// and metrics. Bind it to loopback (the default); it has no authentication yet.
enum AdminServer {
    static func bind(host: String, port: Int, gateway: Gateway) async throws -> any Channel {
        try await ServerBootstrap(group: gateway.group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(gateway: gateway))
                }
            }
            .bind(host: host, port: port).get()
    }
}

final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let gateway: Gateway
    private var head: HTTPRequestHead?

    init(gateway: Gateway) {
        self.gateway = gateway
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            if head.method == .POST && head.uri.split(separator: "?").first == "/admin/reload" {
                // Reloading parses files and runs plugins' config_new: off the event loop.
                gateway.reloadInBackground(on: context.eventLoop).assumeIsolated().whenComplete { result in
                    switch result {
                    case .success(let version):
                        self.respond(context: context, head: head, status: .ok, contentType: "application/json", body: "{\"status\":\"reloaded\",\"version\":\(version)}")
                    case .failure(let error):
                        let message = (error as? ConfigError)?.description ?? "\(error)"
                        self.respond(context: context, head: head, status: .badRequest, contentType: "application/json", body: JSON.error(type: "invalid_config", message: message))
                    }
                }
                return
            }
            let (status, contentType, body) = answer(head)
            respond(context: context, head: head, status: status, contentType: contentType, body: body)
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, contentType: String, body: String) {
        var fields = HTTPHeaders()
        fields.add(name: "content-type", value: contentType)
        fields.add(name: "content-length", value: String(body.utf8.count))
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    private func answer(_ head: HTTPRequestHead) -> (HTTPResponseStatus, String, String) {
        let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
        let json = "application/json"
        switch (head.method, path) {
        case (.GET, "/health"), (.GET, "/healthz"):
            return (.ok, json, "{\"status\":\"ok\"}")
        case (.GET, "/ready"), (.GET, "/readyz"):
            return gateway.isDraining ? (.serviceUnavailable, json, "{\"status\":\"draining\"}") : (.ok, json, "{\"status\":\"ready\"}")
        case (.GET, "/admin/plugins"):
            let plugins = gateway.loader.plugins.map { p in
                "{\"name\":\(JSON.quote(p.name)),\"version\":\(JSON.quote(p.version)),\"abi\":\"1.\(p.abiMinor)\","
                    + "\"path\":\(JSON.quote(p.path)),\"build_info\":\(JSON.quote(p.buildInfo)),"
                    + "\"features\":[\(HostFeatures.describe(p.requiredFeatures | p.optionalFeatures).map(JSON.quote).joined(separator: ","))],"
                    + "\"hooks\":[\(p.hookNames.map(JSON.quote).joined(separator: ","))]}"
            }
            return (.ok, json, "{\"plugins\":[\(plugins.joined(separator: ","))]}")
        case (.GET, "/admin/config"):
            let state = gateway.currentState()
            let routes = state.routes.routes.map { r in
                "{\"name\":\(JSON.quote(r.name)),\"filters\":[\(r.chain.filters.map { JSON.quote($0.name) }.joined(separator: ","))]}"
            }
            return (.ok, json, "{\"version\":\(state.version),\"source\":\(JSON.quote(state.config.source)),\"routes\":[\(routes.joined(separator: ","))]}")
        case (.GET, "/admin/upstreams"):
            return (.ok, json, upstreamsJSON(gateway.currentState()))
        case (.GET, "/metrics"):
            return (.ok, "text/plain; version=0.0.4", gateway.services.metrics.render())
        default:
            return (.notFound, json, JSON.error(type: "not_found", message: "no admin endpoint \(head.method.rawValue) \(path)"))
        }
    }
}

/// Each upstream's targets: health (healthy, unhealthy or ejected), slow start,
/// ejections, the last failure (request or health check), and request counters since
/// the configuration was loaded.
func upstreamsJSON(_ state: GatewayState) -> String {
    let upstreams = state.upstreams.keys.sorted().compactMap { name -> String? in
        guard let upstream = state.upstreams[name] else { return nil }
        let health = upstream.health
        let targets = upstream.targets.enumerated().map { index, target -> String in
            let stats = upstream.balancer.active[index]
            let report = health.report(index)
            var lastFailure = stats.lastFailure
            if let checked = report.lastFailure, checked.at > lastFailure?.at ?? Int.min { lastFailure = checked }
            let last = lastFailure.map { "{\"type\":\(JSON.quote($0.type)),\"at\":\($0.at)}" } ?? "null"
            let config = upstream.config.targets[index]
            return "{\"address\":\(JSON.quote("\(target.host):\(target.port)")),\"weight\":\(config.weight),\"priority\":\(config.priority),"
                + "\"health\":\(JSON.quote(report.state)),\"slow_start\":\(report.slowStart),\"ejections\":\(report.ejections),"
                + "\"in_flight\":\(stats.value),\"requests\":\(stats.requests),"
                + "\"connect_failures\":\(stats.connectFailureCount),\"responses_5xx\":\(stats.serverErrorCount),\"last_failure\":\(last)}"
        }
        let checks = upstream.config.reliability.healthCheck.map { check -> String in
            switch check.kind {
            case .tcp: return "\"tcp\""
            case .http(let path): return JSON.quote("http \(path)")
            }
        } ?? "null"
        return "{\"name\":\(JSON.quote(name)),\"balance\":\(JSON.quote(upstream.config.balance.rawValue)),\"tls\":\(upstream.config.tls),"
            + "\"health_check\":\(checks),\"panic_mode\":\(upstream.config.reliability.panicMode),"
            + "\"in_flight\":\(health.inFlight.load(ordering: .relaxed)),\"connections\":\(health.connections.load(ordering: .relaxed)),"
            + "\"targets\":[\(targets.joined(separator: ","))]}"
    }
    return "{\"version\":\(state.version),\"upstreams\":[\(upstreams.joined(separator: ","))]}"
}

@available(*, unavailable)
extension AdminHandler: Sendable {}
