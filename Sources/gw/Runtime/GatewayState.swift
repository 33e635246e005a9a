import NIOCore
import NIOPosix
import NIOSSL
import PluginHost

/// Everything compiled from one configuration: the route table with its filter
/// chains and upstream sets. Immutable; a reload builds a new one beside it and
/// swaps it in, and in-flight requests finish on the one they started with.
final class GatewayState: Sendable {
    let config: GatewayConfig
    let routes: RouteTable
    let upstreams: [String: UpstreamSet]
    let services: HostServices
    let pools: LoopPools
    let version: Int

    init(config: GatewayConfig, routes: RouteTable, upstreams: [String: UpstreamSet], services: HostServices, pools: LoopPools, version: Int) {
        self.config = config
        self.routes = routes
        self.upstreams = upstreams
        self.services = services
        self.pools = pools
        self.version = version
    }

    /// Compile a config: load plugins, create every filter (each plugin validates its
    /// own config), compile regexes, resolve targets. Collects every problem.
    static func compile(
        _ config: GatewayConfig, loader: PluginLoader, services: HostServices, pools: LoopPools, version: Int,
        health: HealthRegistry? = nil
    ) throws(ConfigError) -> GatewayState {
        let health = health ?? HealthRegistry(loop: MultiThreadedEventLoopGroup.singleton.next())
        var issues: [ConfigIssue] = []
        var upstreams: [String: UpstreamSet] = [:]
        for (name, upstream) in config.upstreams.sorted(by: { $0.key < $1.key }) {
            var targets: [UpstreamSet.ResolvedTarget] = []
            for target in upstream.targets {
                do {
                    let address = try SocketAddress.makeAddressResolvingHost(target.host, port: target.port)
                    targets.append(.init(host: target.host, port: target.port, address: address, poolKey: "\(upstream.tls ? "https" : "http")://\(target.host):\(target.port)"))
                } catch {
                    issues.append(ConfigIssue(file: config.source, line: nil, keyPath: "upstreams.\(name).targets", message: "cannot resolve \(target.host): \(error)"))
                }
            }
            var tls: NIOSSLContext?
            if upstream.tls {
                var tlsConfig = TLSConfiguration.makeClientConfiguration()
                if !upstream.tlsVerify { tlsConfig.certificateVerification = .none }
                do { tls = try NIOSSLContext(configuration: tlsConfig) } catch {
                    issues.append(ConfigIssue(file: config.source, line: nil, keyPath: "upstreams.\(name).tls", message: "\(error)"))
                }
            }
            upstreams[name] = UpstreamSet(config: upstream, targets: targets, tls: tls, health: health.health(for: upstream))
        }
        let ai = config.ai.map { AIRuntime.compile($0, source: config.source, issues: &issues) }
        var routes: [CompiledRoute] = []
        for (i, route) in config.routes.enumerated() {
            let path = "routes[\(i)]"
            let pathRule: CompiledRoute.PathRule
            switch route.path {
            case .exact(let p): pathRule = .exact(p)
            case .prefix(let p): pathRule = .prefix(p)
            case .regex(let pattern):
                do { pathRule = .regex(try PCRE2Regex(pattern)) } catch {
                    issues.append(ConfigIssue(file: config.source, line: route.line, keyPath: "\(path).match.regex", message: error.description))
                    continue
                }
            }
            var headers: [(name: String, rule: CompiledRoute.HeaderRule)] = []
            for (name, match) in route.headers {
                switch match {
                case .exact(let v): headers.append((name, .exact(v)))
                case .present: headers.append((name, .present))
                case .regex(let pattern):
                    do { headers.append((name, .regex(try PCRE2Regex(pattern)))) } catch {
                        issues.append(ConfigIssue(file: config.source, line: route.line, keyPath: "\(path).match.headers.\(name)", message: error.description))
                    }
                }
            }
            var filters: [ConfiguredFilter] = []
            for filter in route.filters {
                do {
                    let plugin = try loader.load(filter.plugin, relativeTo: directory(of: config.source))
                    filters.append(
                        try ConfiguredFilter(
                            plugin: plugin, name: filter.name, configJSON: filter.configJSON,
                            failureMode: FailureMode(rawValue: filter.failureMode) ?? .closed, pauseTimeout: filter.pauseTimeout))
                } catch {
                    let key = error.code == .configRejected ? "\(filter.keyPath).config" : "\(filter.keyPath).plugin"
                    issues.append(ConfigIssue(file: filter.file, line: filter.line, keyPath: key, message: error.description))
                }
            }
            let action: CompiledRoute.Action
            if let direct = route.directResponse {
                action = .direct(status: direct.status, body: direct.body, contentType: direct.contentType)
            } else if let name = route.upstream, let upstream = upstreams[name] {
                action = .proxy(upstream)
            } else if let spec = route.ai, let ai {
                action = .ai(ai, spec)
            } else {
                continue
            }
            routes.append(
                CompiledRoute(
                    name: route.name, hosts: route.hosts.map { $0.hasPrefix("*.") ? String($0.dropFirst()) : $0 },
                    methods: Set(route.methods), path: pathRule, headers: headers, action: action,
                    rewritePath: route.rewritePath, chain: FilterChain(filters: filters), reliability: route.reliability))
        }
        guard issues.isEmpty else { throw ConfigError(issues: issues) }
        return GatewayState(
            config: config, routes: RouteTable(routes: routes), upstreams: upstreams, services: services, pools: pools, version: version)
    }

    static func directory(of file: String) -> String? {
        file.lastIndex(of: "/").map { String(file[..<$0]) }
    }
}
