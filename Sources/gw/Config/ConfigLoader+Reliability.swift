import NIOCore
import Yams

/// Upstream and route keys for failure handling (docs/reliability.md).
extension ConfigLoader {
    static let upstreamReliabilityKeys: Set = ["health_check", "outlier_detection", "circuit_breakers", "panic_mode", "slow_start"]
    static let routeReliabilityKeys: Set = ["retries", "retry_non_idempotent", "fallback_upstream", "fallback_response"]

    static func decodeUpstreamReliability(
        _ key: String, _ v: Node, _ p: String, _ r: YAMLReader, _ u: inout GatewayConfig.UpstreamReliability
    ) {
        switch key {
        case "health_check": u.healthCheck = decodeHealthCheck(v, p, r)
        case "outlier_detection":
            if case .scalar = v, r.bool(v, p) == false {
                u.outlier.enabled = false
            } else if case .scalar = v {
                u.outlier.enabled = true
            } else {
                decodeOutlier(v, p, r, &u.outlier)
            }
        case "circuit_breakers": decodeBreakers(v, p, r, &u.breakers)
        case "panic_mode": u.panicMode = r.bool(v, p) ?? false
        case "slow_start": if let d = r.duration(v, p) { u.slowStart = TimeAmount(d) }
        default: break
        }
    }

    private static func decodeHealthCheck(_ node: Node, _ path: String, _ r: YAMLReader) -> GatewayConfig.HealthCheck? {
        let keys: Set = [
            "type", "path", "host", "interval", "timeout", "jitter", "healthy_threshold", "unhealthy_threshold", "expected_statuses",
            "initial",
        ]
        guard let fields = r.mapping(node, path, allowed: keys) else { return nil }
        var check = GatewayConfig.HealthCheck()
        var type = "http"
        var checkPath = "/health"
        for (k, v) in fields {
            let p = "\(path).\(k)"
            switch k {
            case "type":
                if let t = r.string(v, p) {
                    if t == "http" || t == "tcp" { type = t } else { r.issue(v, p, "must be http or tcp") }
                }
            case "path":
                if let s = r.string(v, p) {
                    if s.hasPrefix("/") { checkPath = s } else { r.issue(v, p, "must start with /") }
                }
            case "host": check.host = r.string(v, p)
            case "interval": if let d = r.duration(v, p) { check.interval = TimeAmount(d) }
            case "timeout": if let d = r.duration(v, p) { check.timeout = TimeAmount(d) }
            case "jitter": if let d = r.duration(v, p) { check.jitter = TimeAmount(d) }
            case "healthy_threshold": if let n = r.int(v, p, min: 1, max: 100) { check.healthyThreshold = n }
            case "unhealthy_threshold": if let n = r.int(v, p, min: 1, max: 100) { check.unhealthyThreshold = n }
            case "expected_statuses": if let range = statusRange(v, p, r) { check.expectedStatuses = range }
            case "initial":
                if let s = r.string(v, p) {
                    if s == "healthy" || s == "unhealthy" { check.initiallyHealthy = s == "healthy" } else { r.issue(v, p, "must be healthy or unhealthy") }
                }
            default: break
            }
        }
        if check.interval < .milliseconds(10) { r.issue(node, "\(path).interval", "must be at least 10ms") }
        if check.timeout <= .zero { r.issue(node, "\(path).timeout", "must be more than 0") }
        check.kind = type == "tcp" ? .tcp : .http(path: checkPath)
        return check
    }

    /// "200", "200-399".
    private static func statusRange(_ node: Node, _ path: String, _ r: YAMLReader) -> ClosedRange<Int>? {
        guard let text = r.string(node, path) else { return nil }
        let parts = text.split(separator: "-").map { Int($0.trimmingSpaces) }
        if parts.count == 1, let a = parts[0], (100...599).contains(a) { return a...a }
        if parts.count == 2, let a = parts[0], let b = parts[1], (100...599).contains(a), (a...599).contains(b) { return a...b }
        r.issue(node, path, "expected a status or a range such as 200-399, got \"\(text)\"")
        return nil
    }

    private static func decodeOutlier(_ node: Node, _ path: String, _ r: YAMLReader, _ o: inout GatewayConfig.OutlierDetection) {
        let keys: Set = ["consecutive_5xx", "consecutive_local_failures", "base_ejection_time", "max_ejection_time", "max_ejection_percent"]
        for (k, v) in r.mapping(node, path, allowed: keys) ?? [] {
            let p = "\(path).\(k)"
            switch k {
            case "consecutive_5xx": if let n = r.int(v, p, min: 0, max: 1000) { o.consecutive5xx = n }
            case "consecutive_local_failures": if let n = r.int(v, p, min: 0, max: 1000) { o.consecutiveLocalFailures = n }
            case "base_ejection_time": if let d = r.duration(v, p) { o.baseEjectionTime = TimeAmount(d) }
            case "max_ejection_time": if let d = r.duration(v, p) { o.maxEjectionTime = TimeAmount(d) }
            case "max_ejection_percent": if let n = r.int(v, p, min: 0, max: 100) { o.maxEjectionPercent = n }
            default: break
            }
        }
    }

    private static func decodeBreakers(_ node: Node, _ path: String, _ r: YAMLReader, _ b: inout GatewayConfig.CircuitBreakers) {
        let keys: Set = ["max_connections", "max_pending", "max_requests", "max_retries", "retry_budget"]
        for (k, v) in r.mapping(node, path, allowed: keys) ?? [] {
            let p = "\(path).\(k)"
            switch k {
            case "max_connections": if let n = r.int(v, p, min: 0, max: 1_000_000) { b.maxConnections = n }
            case "max_pending": if let n = r.int(v, p, min: 0, max: 1_000_000) { b.maxPending = n }
            case "max_requests": if let n = r.int(v, p, min: 0, max: 1_000_000) { b.maxRequests = n }
            case "max_retries": if let n = r.int(v, p, min: 0, max: 1_000_000) { b.maxRetries = n }
            case "retry_budget":
                for (bk, bv) in r.mapping(v, p, allowed: ["percent", "min_concurrency"]) ?? [] {
                    if bk == "percent", let n = r.int(bv, "\(p).percent", min: 0, max: 100) { b.budgetPercent = n }
                    if bk == "min_concurrency", let n = r.int(bv, "\(p).min_concurrency", min: 0, max: 1_000_000) { b.minRetryConcurrency = n }
                }
            default: break
            }
        }
    }

    static func decodeRouteReliability(_ key: String, _ v: Node, _ p: String, _ r: YAMLReader, _ route: inout GatewayConfig.RouteReliability) {
        switch key {
        case "retries":
            if case .scalar = v {
                if r.bool(v, p) == false { route.retries.attempts = 0 }
            } else {
                decodeRetries(v, p, r, &route.retries)
            }
        case "retry_non_idempotent": route.retryNonIdempotent = r.bool(v, p) ?? false
        case "fallback_upstream": route.fallbackUpstream = r.string(v, p)
        case "fallback_response": route.fallbackResponse = decodeDirectResponse(v, p, r)
        default: break
        }
    }

    private static func decodeRetries(_ node: Node, _ path: String, _ r: YAMLReader, _ retries: inout GatewayConfig.Retries) {
        let keys: Set = ["attempts", "on", "per_try_timeout", "backoff", "buffer_bytes"]
        for (k, v) in r.mapping(node, path, allowed: keys) ?? [] {
            let p = "\(path).\(k)"
            switch k {
            case "attempts": if let n = r.int(v, p, min: 0, max: 10) { retries.attempts = n }
            case "on":
                retries.onConnectFailure = false
                retries.onReset = false
                retries.onTimeout = false
                retries.statuses = []
                for (i, item) in (r.sequence(v, p) ?? []).enumerated() {
                    guard let text = r.string(item, "\(p)[\(i)]") else { continue }
                    switch text {
                    case "connect_failure": retries.onConnectFailure = true
                    case "reset": retries.onReset = true
                    case "timeout": retries.onTimeout = true
                    case "gateway_error": retries.statuses.formUnion([502, 503, 504])
                    default:
                        if let status = Int(text), (500...599).contains(status) || status == 429 || status == 409 {
                            retries.statuses.insert(status)
                        } else {
                            r.issue(item, "\(p)[\(i)]", "expected connect_failure, reset, timeout, gateway_error or a status (409, 429, 5xx)")
                        }
                    }
                }
            case "per_try_timeout": if let d = r.duration(v, p) { retries.perTryTimeout = TimeAmount(d) }
            case "backoff":
                for (bk, bv) in r.mapping(v, p, allowed: ["base", "max"]) ?? [] {
                    guard let d = r.duration(bv, "\(p).\(bk)") else { continue }
                    if bk == "base" { retries.backoffBase = TimeAmount(d) } else { retries.backoffMax = TimeAmount(d) }
                }
            case "buffer_bytes": if let n = r.size(v, p) { retries.bufferBytes = n }
            default: break
            }
        }
    }

    static func decodeDirectResponse(_ v: Node, _ p: String, _ r: YAMLReader) -> GatewayConfig.DirectResponse {
        var response = GatewayConfig.DirectResponse(status: 200, body: "", contentType: "text/plain")
        for (dk, dv) in r.mapping(v, p, allowed: ["status", "body", "content_type"]) ?? [] {
            switch dk {
            case "status": response.status = r.int(dv, "\(p).status", min: 200, max: 599) ?? 200
            case "body": response.body = r.string(dv, "\(p).body", nonEmpty: false) ?? ""
            default: response.contentType = r.string(dv, "\(p).content_type") ?? "text/plain"
            }
        }
        return response
    }

    static func validateReliability(_ r: YAMLReader, _ config: GatewayConfig) {
        for route in config.routes {
            guard let fallback = route.reliability.fallbackUpstream else { continue }
            if config.upstreams[fallback] == nil {
                r.issue(line: route.line, "routes.\(route.name).fallback_upstream", "unknown upstream \"\(fallback)\"")
            } else if fallback == route.upstream {
                r.issue(line: route.line, "routes.\(route.name).fallback_upstream", "is the route's own upstream")
            }
        }
    }
}
