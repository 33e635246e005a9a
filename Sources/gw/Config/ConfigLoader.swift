import NIOCore
import PluginHost
import Yams

#if canImport(Glibc)
import Glibc
#endif

/// Reads a YAML configuration into a `GatewayConfig`, collecting every problem.
enum ConfigLoader {
    static func load(file: String) throws(ConfigError) -> GatewayConfig {
        guard let text = readFile(file) else {
            throw ConfigError(issues: [ConfigIssue(file: file, line: nil, keyPath: "", message: "cannot read the file")])
        }
        return try parse(text, file: file)
    }

    static func parse(_ text: String, file: String) throws(ConfigError) -> GatewayConfig {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw ConfigError(issues: [ConfigIssue(file: file, line: nil, keyPath: "", message: "invalid YAML: \(error)")])
        }
        guard let node else {
            throw ConfigError(issues: [ConfigIssue(file: file, line: nil, keyPath: "", message: "the file is empty")])
        }
        let reader = YAMLReader(file: file)
        var config = GatewayConfig(source: file)
        decodeRoot(node, reader, &config)
        validate(reader, &config, root: node)
        guard reader.issues.isEmpty else { throw ConfigError(issues: reader.issues) }
        return config
    }

    static func readFile(_ path: String) -> String? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
            if n < chunk.count { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static let rootKeys: Set = ["version", "listeners", "admin", "demo_upstream", "plugins", "limits", "timeouts", "upstreams", "routes", "ai", "shared_store", "normalize_paths", "encoded_slashes"]

    private static func decodeRoot(_ node: Node, _ r: YAMLReader, _ config: inout GatewayConfig) {
        guard let root = r.mapping(node, "", allowed: rootKeys) else { return }
        var encodedSlashesNode: Node?
        for (key, value) in root {
            switch key {
            case "version":
                if let v = r.int(value, "version"), v != 1 { r.issue(value, "version", "unsupported config version \(v) (this gw reads version 1)") }
            case "listeners":
                for (i, item) in (r.sequence(value, "listeners") ?? []).enumerated() {
                    if let listener = decodeListener(item, "listeners[\(i)]", r) { config.listeners.append(listener) }
                }
            case "admin":
                if case .scalar(let s) = value, ["off", "false", "none"].contains(s.string) {
                    config.adminHost = nil
                    continue
                }
                for (k, v) in r.mapping(value, "admin", allowed: ["address"]) ?? [] where k == "address" {
                    if let (host, port) = address(v, "admin.address", r) {
                        config.adminHost = host
                        config.adminPort = port
                    }
                }
            case "demo_upstream":
                if let (host, port) = address(value, "demo_upstream", r) { config.demoUpstream = (host, port) }
            case "plugins":
                for (k, v) in r.mapping(value, "plugins", allowed: ["path"]) ?? [] where k == "path" {
                    for (i, dir) in (r.sequence(v, "plugins.path") ?? []).enumerated() {
                        if let dir = r.string(dir, "plugins.path[\(i)]") { config.pluginPath.append(resolve(dir, relativeTo: config.source)) }
                    }
                }
            case "limits": decodeLimits(value, r, &config.limits)
            case "timeouts":
                for (k, v) in r.mapping(value, "timeouts", allowed: ["idle", "request_headers"]) ?? [] {
                    guard let d = r.duration(v, "timeouts.\(k)") else { continue }
                    if k == "idle" { config.timeouts.idle = TimeAmount(d) } else { config.timeouts.requestHeaders = TimeAmount(d) }
                }
            case "upstreams":
                for (name, v) in r.mapping(value, "upstreams") ?? [] {
                    if let upstream = decodeUpstream(name, v, "upstreams.\(name)", r) { config.upstreams[name] = upstream }
                }
            case "normalize_paths": if let on = r.bool(value, "normalize_paths") { config.normalizePaths = on }
            case "encoded_slashes":
                if let text = r.string(value, "encoded_slashes") {
                    if let choice = PathNormalizer.EncodedSlashes(rawValue: text) {
                        config.encodedSlashes = choice
                        encodedSlashesNode = value
                    } else {
                        let all = PathNormalizer.EncodedSlashes.allCases.map(\.rawValue).joined(separator: ", ")
                        r.issue(value, "encoded_slashes", "unknown value \"\(text)\" (expected one of: \(all))")
                    }
                }
            case "ai": config.ai = decodeAI(value, r, source: config.source)
            case "shared_store": config.sharedStore = decodeSharedStore(value, r)
            case "routes":
                for (i, item) in (r.sequence(value, "routes") ?? []).enumerated() {
                    if let route = decodeRoute(item, "routes[\(i)]", r, source: config.source) { config.routes.append(route) }
                }
            default: break
            }
        }
        if let node = encodedSlashesNode, config.encodedSlashes == .reject, !config.normalizePaths {
            r.issue(node, "encoded_slashes", "reject needs normalize_paths: true (paths are not checked without it)")
        }
    }

    private static func decodeLimits(_ node: Node, _ r: YAMLReader, _ limits: inout GatewayConfig.Limits) {
        let keys: Set = ["max_header_bytes", "max_headers", "max_uri_bytes", "max_body_bytes", "buffer_bytes"]
        for (k, v) in r.mapping(node, "limits", allowed: keys) ?? [] {
            let path = "limits.\(k)"
            switch k {
            case "max_headers": if let n = r.int(v, path, min: 1, max: 10_000) { limits.maxHeaders = n }
            case "max_header_bytes": if let n = r.size(v, path) { limits.maxHeaderBytes = n }
            case "max_uri_bytes": if let n = r.size(v, path) { limits.maxURIBytes = n }
            case "max_body_bytes": if let n = r.size(v, path) { limits.maxBodyBytes = n }
            case "buffer_bytes": if let n = r.size(v, path) { limits.bufferBytes = n }
            default: break
            }
        }
    }

    static func address(_ node: Node, _ path: String, _ r: YAMLReader) -> (String, Int)? {
        guard let text = r.string(node, path) else { return nil }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), port >= 0, port <= 65535 else {
            r.issue(node, path, "expected host:port, got \"\(text)\"")
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else {
            r.issue(node, path, "expected host:port, got \"\(text)\"")
            return nil
        }
        return (host, port)
    }

    private static func decodeListener(_ node: Node, _ path: String, _ r: YAMLReader) -> GatewayConfig.Listener? {
        guard let fields = r.mapping(node, path, allowed: ["name", "address", "tls", "trusted_proxies"]) else { return nil }
        var listener = GatewayConfig.Listener(name: "", host: "", port: -1, tls: nil)
        for (k, v) in fields {
            switch k {
            case "name": listener.name = r.string(v, "\(path).name") ?? ""
            case "address":
                if let (host, port) = address(v, "\(path).address", r) {
                    listener.host = host
                    listener.port = port
                }
            case "tls":
                var cert: String?
                var key: String?
                for (tk, tv) in r.mapping(v, "\(path).tls", allowed: ["certificate", "private_key"]) ?? [] {
                    if tk == "certificate" { cert = r.string(tv, "\(path).tls.certificate") }
                    if tk == "private_key" { key = r.string(tv, "\(path).tls.private_key") }
                }
                if let cert, let key {
                    listener.tls = .init(certificate: cert, privateKey: key)
                } else {
                    r.issue(v, "\(path).tls", "needs both certificate and private_key")
                }
            case "trusted_proxies":
                for (i, item) in (r.sequence(v, "\(path).trusted_proxies") ?? []).enumerated() {
                    let itemPath = "\(path).trusted_proxies[\(i)]"
                    guard let text = r.string(item, itemPath) else { continue }
                    do {
                        listener.trustedProxies.append(try IPNetwork(parsing: text))
                    } catch .hostBitsSet(let suggestion) {
                        r.issue(item, itemPath, "\"\(text)\" has bits set past its prefix; did you mean \(suggestion)?")
                    } catch .badPrefix {
                        r.issue(item, itemPath, "\"\(text)\": the prefix after / must be 0–32 for IPv4, 0–128 for IPv6")
                    } catch {
                        r.issue(item, itemPath, "expected an IP address or a CIDR block (10.0.0.0/8, 2001:db8::/32), got \"\(text)\"")
                    }
                }
            default: break
            }
        }
        if listener.port < 0 { r.issue(node, "\(path).address", "is required") }
        if listener.name.isEmpty { listener.name = "listener\(path.filter(\.isNumber))" }
        return listener
    }

    private static let upstreamKeys = Set<String>([
        "targets", "tls", "tls_verify", "balance", "hash_on", "host_header", "connect_timeout", "first_byte_timeout",
        "total_timeout", "max_idle_per_loop",
    ]).union(upstreamReliabilityKeys)

    private static func decodeUpstream(_ name: String, _ node: Node, _ path: String, _ r: YAMLReader) -> GatewayConfig.Upstream? {
        guard let fields = r.mapping(node, path, allowed: upstreamKeys) else { return nil }
        var u = GatewayConfig.Upstream(
            name: name, targets: [], tls: false, tlsVerify: true, balance: .roundRobin, hashKey: .clientIP,
            hostHeader: .preserve, connectTimeout: .seconds(2), firstByteTimeout: .seconds(60), totalTimeout: .zero,
            maxIdlePerLoop: 256)
        var sawTargets = false
        for (k, v) in fields {
            let p = "\(path).\(k)"
            switch k {
            case "targets":
                sawTargets = true
                for (i, item) in (r.sequence(v, p) ?? []).enumerated() {
                    if let target = decodeTarget(item, "\(p)[\(i)]", r, tls: &u.tls) { u.targets.append(target) }
                }
                if u.targets.isEmpty { r.issue(v, p, "needs at least one target") }
            case "tls": u.tls = r.bool(v, p) ?? false
            case "tls_verify": u.tlsVerify = r.bool(v, p) ?? true
            case "balance":
                if let text = r.string(v, p) {
                    if let b = GatewayConfig.Balance(rawValue: text) {
                        u.balance = b
                    } else {
                        r.issue(v, p, "unknown balancing \"\(text)\" (expected one of: \(GatewayConfig.Balance.allCases.map(\.rawValue).joined(separator: ", ")))")
                    }
                }
            case "hash_on":
                if case .scalar(let s) = v, s.string == "client_ip" {
                    u.hashKey = .clientIP
                } else if let m = r.mapping(v, p, allowed: ["header"]), let h = m.first, let name = r.string(h.value, "\(p).header") {
                    u.hashKey = .header(name.lowercased())
                }
            case "host_header":
                if let text = r.string(v, p) {
                    u.hostHeader = text == "preserve" ? .preserve : text == "target" ? .target : .fixed(text)
                }
            case "connect_timeout": if let d = r.duration(v, p) { u.connectTimeout = TimeAmount(d) }
            case "first_byte_timeout": if let d = r.duration(v, p) { u.firstByteTimeout = TimeAmount(d) }
            case "total_timeout": if let d = r.duration(v, p) { u.totalTimeout = TimeAmount(d) }
            case "max_idle_per_loop": if let n = r.int(v, p, min: 0, max: 100_000) { u.maxIdlePerLoop = n }
            default: decodeUpstreamReliability(k, v, p, r, &u.reliability)
            }
        }
        if !sawTargets { r.issue(node, "\(path).targets", "is required") }
        return u
    }

    private static func decodeTarget(_ node: Node, _ path: String, _ r: YAMLReader, tls: inout Bool) -> GatewayConfig.Target? {
        var weight = 1
        var priority = 0
        var addressNode = node
        if case .mapping = node {
            guard let fields = r.mapping(node, path, allowed: ["address", "weight", "priority"]) else { return nil }
            guard let a = fields.first(where: { $0.key == "address" }) else {
                r.issue(node, "\(path).address", "is required")
                return nil
            }
            addressNode = a.value
            if let w = fields.first(where: { $0.key == "weight" }) { weight = r.int(w.value, "\(path).weight", min: 1, max: 10_000) ?? 1 }
            if let p = fields.first(where: { $0.key == "priority" }) { priority = r.int(p.value, "\(path).priority", min: 0, max: 15) ?? 0 }
        }
        guard var text = r.string(addressNode, path) else { return nil }
        var defaultPort: Int?
        if text.hasPrefix("https://") {
            tls = true
            defaultPort = 443
            text = String(text.dropFirst(8))
        } else if text.hasPrefix("http://") {
            defaultPort = 80
            text = String(text.dropFirst(7))
        }
        if text.hasSuffix("/") { text = String(text.dropLast()) }
        if let port = defaultPort, !text.contains(":") { text += ":\(port)" }
        guard let (host, port) = address(.scalar(.init(text, .implicit, .plain, addressNode.mark)), path, r) else { return nil }
        return GatewayConfig.Target(host: host, port: port, weight: weight, priority: priority)
    }

    private static let routeKeys = Set<String>(["name", "match", "upstream", "direct_response", "rewrite", "filters", "ai"]).union(routeReliabilityKeys)

    private static func decodeRoute(_ node: Node, _ path: String, _ r: YAMLReader, source: String) -> GatewayConfig.Route? {
        guard let fields = r.mapping(node, path, allowed: routeKeys) else { return nil }
        var route = GatewayConfig.Route(
            name: path, hosts: [], methods: [], path: .prefix("/"), headers: [], upstream: nil, directResponse: nil,
            rewritePath: nil, filters: [], line: node.mark?.line ?? 0)
        for (k, v) in fields {
            let p = "\(path).\(k)"
            switch k {
            case "name": route.name = r.string(v, p) ?? path
            case "match": decodeMatch(v, p, r, &route)
            case "upstream": route.upstream = r.string(v, p)
            case "direct_response":
                var response = GatewayConfig.DirectResponse(status: 200, body: "", contentType: "text/plain")
                for (dk, dv) in r.mapping(v, p, allowed: ["status", "body", "content_type"]) ?? [] {
                    switch dk {
                    case "status": response.status = r.int(dv, "\(p).status", min: 200, max: 599) ?? 200
                    case "body": response.body = r.string(dv, "\(p).body", nonEmpty: false) ?? ""
                    default: response.contentType = r.string(dv, "\(p).content_type") ?? "text/plain"
                    }
                }
                route.directResponse = response
            case "rewrite":
                for (rk, rv) in r.mapping(v, p, allowed: ["path"]) ?? [] where rk == "path" {
                    if let text = r.string(rv, "\(p).path"), text.hasPrefix("/") {
                        route.rewritePath = text
                    } else {
                        r.issue(rv, "\(p).path", "must start with /")
                    }
                }
            case "filters":
                for (i, item) in (r.sequence(v, p) ?? []).enumerated() {
                    if let filter = decodeFilter(item, "\(p)[\(i)]", r, source: source) { route.filters.append(filter) }
                }
            case "ai": route.ai = decodeAIRoute(v, p, r)
            default: decodeRouteReliability(k, v, p, r, &route.reliability)
            }
        }
        if route.upstream == nil && route.directResponse == nil && route.ai == nil {
            r.issue(node, path, "needs an upstream, a direct_response or ai")
        }
        return route
    }

    private static func decodeMatch(_ node: Node, _ path: String, _ r: YAMLReader, _ route: inout GatewayConfig.Route) {
        for (k, v) in r.mapping(node, path, allowed: ["host", "hosts", "methods", "path", "prefix", "regex", "headers"]) ?? [] {
            let p = "\(path).\(k)"
            switch k {
            case "host": if let h = r.string(v, p) { route.hosts = [h.lowercased()] }
            case "hosts": route.hosts = (r.sequence(v, p) ?? []).enumerated().compactMap { r.string($1, "\(p)[\($0)]")?.lowercased() }
            case "methods": route.methods = (r.sequence(v, p) ?? []).enumerated().compactMap { r.string($1, "\(p)[\($0)]")?.uppercased() }
            case "path": if let s = r.string(v, p) { route.path = .exact(s) }
            case "prefix": if let s = r.string(v, p) { route.path = .prefix(s) }
            case "regex": if let s = r.string(v, p) { route.path = .regex(s) }
            case "headers":
                for (name, hv) in r.mapping(v, p) ?? [] {
                    let hp = "\(p).\(name)"
                    if case .mapping = hv {
                        for (mk, mv) in r.mapping(hv, hp, allowed: ["regex", "present"]) ?? [] {
                            if mk == "regex", let s = r.string(mv, "\(hp).regex") { route.headers.append((name.lowercased(), .regex(s))) }
                            if mk == "present", r.bool(mv, "\(hp).present") == true { route.headers.append((name.lowercased(), .present)) }
                        }
                    } else if let s = r.string(hv, hp, nonEmpty: false) {
                        route.headers.append((name.lowercased(), .exact(s)))
                    }
                }
            default: break
            }
        }
    }

    private static func decodeFilter(_ node: Node, _ path: String, _ r: YAMLReader, source: String) -> GatewayConfig.Filter? {
        guard let fields = r.mapping(node, path, allowed: ["plugin", "name", "failure_mode", "pause_timeout", "config"]) else { return nil }
        var filter = GatewayConfig.Filter(
            plugin: "", name: nil, failureMode: "closed", pauseTimeout: .seconds(30), configJSON: "{}", file: source,
            line: node.mark?.line ?? 0, keyPath: path)
        for (k, v) in fields {
            let p = "\(path).\(k)"
            switch k {
            case "plugin": filter.plugin = r.string(v, p) ?? ""
            case "name": filter.name = r.string(v, p)
            case "failure_mode":
                if let mode = r.string(v, p) {
                    if mode == "closed" || mode == "open" { filter.failureMode = mode } else { r.issue(v, p, "must be closed or open") }
                }
            case "pause_timeout": if let d = r.duration(v, p) { filter.pauseTimeout = TimeAmount(d) }
            case "config":
                guard case .mapping = v else {
                    r.issue(v, p, "expected a mapping (passed to the plugin as a JSON object)")
                    continue
                }
                filter.configJSON = r.json(v)
            default: break
            }
        }
        if filter.plugin.isEmpty {
            r.issue(node, "\(path).plugin", "is required")
            return nil
        }
        return filter
    }

    private static func validate(_ r: YAMLReader, _ config: inout GatewayConfig, root: Node) {
        var names = Set<String>()
        for route in config.routes {
            if !names.insert(route.name).inserted {
                r.issue(line: route.line, "routes", "duplicate route name \"\(route.name)\"")
            }
            if let upstream = route.upstream, config.upstreams[upstream] == nil {
                r.issue(line: route.line, "routes.\(route.name).upstream", "unknown upstream \"\(upstream)\"")
            }
        }
        validateReliability(r, config)
        validateAI(r, config)
        var ports = Set<Int>()
        for listener in config.listeners where listener.port != 0 {
            if !ports.insert(listener.port).inserted { r.issue(nil, "listeners", "port \(listener.port) used twice") }
        }
    }

    static func resolve(_ path: String, relativeTo file: String) -> String {
        guard !path.hasPrefix("/") else { return path }
        guard let slash = file.lastIndex(of: "/") else { return path }
        return String(file[..<slash]) + "/" + path
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
