import AIGateway
import NIOCore
import Yams

/// The `ai:` section and a route's `ai:` action.
extension ConfigLoader {
    static func decodeAI(_ node: Node, _ r: YAMLReader, source: String) -> GatewayConfig.AI? {
        let keys: Set = [
            "providers", "models", "routing", "prices", "prices_file", "limits", "max_request_bytes", "stream_idle_timeout",
            "default_max_tokens",
        ]
        guard let fields = r.mapping(node, "ai", allowed: keys) else { return nil }
        var ai = GatewayConfig.AI()
        for (k, v) in fields {
            let p = "ai.\(k)"
            switch k {
            case "providers":
                for (name, pv) in r.mapping(v, p) ?? [] {
                    if let provider = decodeProvider(name, pv, "\(p).\(name)", r) { ai.providers[name] = provider }
                }
            case "models":
                for (i, item) in (r.sequence(v, p) ?? []).enumerated() {
                    if let model = decodeModel(item, "\(p)[\(i)]", r) { ai.models.append(model) }
                }
            case "routing": decodeRouting(v, p, r, &ai.routing)
            case "prices":
                for (model, pv) in r.mapping(v, p) ?? [] {
                    if let price = decodePrice(pv, "\(p).\(model)", r) { ai.prices[model] = price }
                }
            case "prices_file":
                if let path = r.string(v, p) {
                    let resolved = resolve(path, relativeTo: source)
                    if let text = readFile(resolved) {
                        do {
                            for (model, price) in try PriceTable.parse(text).prices { ai.prices[model] = price }
                            ai.pricesFile = resolved
                        } catch {
                            r.issue(v, p, "\(resolved): \(error.message)")
                        }
                    } else {
                        r.issue(v, p, "cannot read \(resolved)")
                    }
                }
            case "limits":
                for (lk, lv) in r.mapping(v, p, allowed: ["default", "consumers"]) ?? [] {
                    if lk == "default" {
                        ai.defaultLimit = decodeLimit(lv, "\(p).default", r)
                    } else {
                        for (consumer, cv) in r.mapping(lv, "\(p).consumers") ?? [] {
                            ai.consumerLimits[consumer] = decodeLimit(cv, "\(p).consumers.\(consumer)", r)
                        }
                    }
                }
            case "max_request_bytes": if let n = r.size(v, p) { ai.maxRequestBytes = n }
            case "stream_idle_timeout": if let d = r.duration(v, p) { ai.streamIdleTimeout = TimeAmount(d) }
            case "default_max_tokens": if let n = r.int(v, p, min: 1, max: 10_000_000) { ai.defaultMaxTokens = n }
            default: break
            }
        }
        return ai
    }

    private static func decodeProvider(_ name: String, _ node: Node, _ path: String, _ r: YAMLReader) -> GatewayConfig.AI.Provider? {
        let keys: Set = ["type", "base_url", "api_key", "api_version", "timeout", "tls_verify", "stream_usage"]
        guard let fields = r.mapping(node, path, allowed: keys) else { return nil }
        var provider = GatewayConfig.AI.Provider(name: name, kind: .mock, line: node.mark?.line ?? 0)
        var sawType = false
        for (k, v) in fields {
            let p = "\(path).\(k)"
            switch k {
            case "type":
                sawType = true
                if let text = r.string(v, p) {
                    if let kind = ProviderKind(rawValue: text) {
                        provider.kind = kind
                    } else {
                        r.issue(v, p, "unknown provider type \"\(text)\" (expected one of: \(ProviderKind.allCases.map(\.rawValue).joined(separator: ", ")))")
                    }
                }
            case "base_url":
                if let text = r.string(v, p) {
                    if text.hasPrefix("http://") || text.hasPrefix("https://") {
                        provider.baseURL = text
                    } else {
                        r.issue(v, p, "must start with http:// or https://")
                    }
                }
            case "api_key": provider.apiKeyRef = decodeSecretRef(v, p, r)
            case "api_version": provider.apiVersion = r.string(v, p)
            case "timeout": if let d = r.duration(v, p) { provider.timeout = TimeAmount(d) }
            case "tls_verify": provider.tlsVerify = r.bool(v, p) ?? true
            case "stream_usage": provider.streamUsage = r.bool(v, p) ?? true
            default: break
            }
        }
        if !sawType { r.issue(node, "\(path).type", "is required") }
        if provider.baseURL == nil {
            if let url = provider.kind.defaultBaseURL {
                provider.baseURL = url
            } else if provider.kind != .mock {
                r.issue(node, "\(path).base_url", "is required for provider type \(provider.kind.rawValue)")
            }
        }
        return provider
    }

    /// `env:NAME` or `file:/path`: a key is never written in the config itself.
    private static func decodeSecretRef(_ node: Node, _ path: String, _ r: YAMLReader) -> String? {
        guard let text = r.string(node, path) else { return nil }
        if text.hasPrefix("env:") || text.hasPrefix("file:") { return text }
        r.issue(node, path, "must be env:VARIABLE or file:/path (keys are never written in the config)")
        return nil
    }

    private static func decodeModel(_ node: Node, _ path: String, _ r: YAMLReader) -> GatewayConfig.AI.Model? {
        guard let fields = r.mapping(node, path, allowed: ["name", "deployments", "fallbacks"]) else { return nil }
        var model = GatewayConfig.AI.Model(name: "", deployments: [], line: node.mark?.line ?? 0)
        for (k, v) in fields {
            let p = "\(path).\(k)"
            switch k {
            case "name": model.name = r.string(v, p) ?? ""
            case "deployments":
                for (i, item) in (r.sequence(v, p) ?? []).enumerated() {
                    let dp = "\(p)[\(i)]"
                    let allowed: Set = ["provider", "model", "weight", "priority", "api_key"]
                    guard let dfields = r.mapping(item, dp, allowed: allowed) else { continue }
                    var d = GatewayConfig.AI.Deployment(provider: "", model: "", line: item.mark?.line ?? 0)
                    for (dk, dv) in dfields {
                        switch dk {
                        case "provider": d.provider = r.string(dv, "\(dp).provider") ?? ""
                        case "model": d.model = r.string(dv, "\(dp).model") ?? ""
                        case "weight": d.weight = r.int(dv, "\(dp).weight", min: 1, max: 10_000) ?? 1
                        case "priority": d.priority = r.int(dv, "\(dp).priority", min: 0, max: 100) ?? 0
                        default: d.apiKeyRef = decodeSecretRef(dv, "\(dp).api_key", r)
                        }
                    }
                    if d.provider.isEmpty { r.issue(item, "\(dp).provider", "is required") }
                    if d.model.isEmpty { r.issue(item, "\(dp).model", "is required") }
                    model.deployments.append(d)
                }
            default:
                model.fallbacks = (r.sequence(v, p) ?? []).enumerated().compactMap { r.string($1, "\(p)[\($0)]") }
            }
        }
        if model.name.isEmpty { r.issue(node, "\(path).name", "is required") }
        if model.deployments.isEmpty { r.issue(node, "\(path).deployments", "needs at least one deployment") }
        return model
    }

    private static func decodeRouting(_ node: Node, _ path: String, _ r: YAMLReader, _ routing: inout GatewayConfig.AI.Routing) {
        let keys: Set = ["retry_on", "max_attempts", "backoff", "cooldown_after", "cooldown"]
        for (k, v) in r.mapping(node, path, allowed: keys) ?? [] {
            let p = "\(path).\(k)"
            switch k {
            case "retry_on":
                routing.retryOn = []
                for (i, item) in (r.sequence(v, p) ?? []).enumerated() {
                    guard let text = r.string(item, "\(p)[\(i)]") else { continue }
                    if let c = GatewayConfig.AI.RetryCondition(rawValue: text) {
                        routing.retryOn.insert(c)
                    } else {
                        let all = GatewayConfig.AI.RetryCondition.allCases.map(\.rawValue).joined(separator: ", ")
                        r.issue(item, "\(p)[\(i)]", "unknown condition \"\(text)\" (expected one of: \(all))")
                    }
                }
            case "max_attempts": routing.maxAttempts = r.int(v, p, min: 1, max: 20) ?? routing.maxAttempts
            case "backoff": if let d = r.duration(v, p) { routing.backoff = TimeAmount(d) }
            case "cooldown_after": routing.cooldownAfter = r.int(v, p, min: 1, max: 1000) ?? routing.cooldownAfter
            case "cooldown": if let d = r.duration(v, p) { routing.cooldown = TimeAmount(d) }
            default: break
            }
        }
    }

    private static func decodePrice(_ node: Node, _ path: String, _ r: YAMLReader) -> Price? {
        guard let fields = r.mapping(node, path, allowed: ["input", "output", "cached_input", "cache_write"]) else { return nil }
        var values: [String: Double] = [:]
        for (k, v) in fields {
            guard let text = r.string(v, "\(path).\(k)"), let d = Double(text), d >= 0 else {
                r.issue(v, "\(path).\(k)", "expected a price in USD per million tokens")
                continue
            }
            values[k] = d
        }
        guard let input = values["input"], let output = values["output"] else {
            r.issue(node, path, "needs input and output")
            return nil
        }
        return Price(input: input, output: output, cachedInput: values["cached_input"], cacheWrite: values["cache_write"])
    }

    private static func decodeLimit(_ node: Node, _ path: String, _ r: YAMLReader) -> GatewayConfig.AI.Limit {
        var limit = GatewayConfig.AI.Limit()
        for (k, v) in r.mapping(node, path, allowed: ["tokens_per_minute", "budget_usd", "budget_period"]) ?? [] {
            let p = "\(path).\(k)"
            switch k {
            case "tokens_per_minute": limit.tokensPerMinute = r.int(v, p, min: 1)
            case "budget_usd":
                if let text = r.string(v, p), let d = Double(text), d >= 0 { limit.budgetUSD = d } else { r.issue(v, p, "expected an amount in USD") }
            default:
                if let text = r.string(v, p) {
                    if let period = GatewayConfig.AI.BudgetPeriod(rawValue: text) { limit.budgetPeriod = period } else { r.issue(v, p, "must be hour, day or month") }
                }
            }
        }
        return limit
    }

    static func decodeAIRoute(_ node: Node, _ path: String, _ r: YAMLReader) -> GatewayConfig.AIRoute? {
        var route = GatewayConfig.AIRoute()
        if case .mapping(let m) = node, m.isEmpty { return route }
        for (k, v) in r.mapping(node, path, allowed: ["models", "endpoint"]) ?? [] {
            if k == "models" {
                route.models = (r.sequence(v, "\(path).models") ?? []).enumerated().compactMap { r.string($1, "\(path).models[\($0)]") }
            } else if let text = r.string(v, "\(path).endpoint") {
                if ["chat", "messages", "embeddings", "models"].contains(text) {
                    route.endpoint = text
                } else {
                    r.issue(v, "\(path).endpoint", "must be chat, messages, embeddings or models")
                }
            }
        }
        return route
    }

    static func validateAI(_ r: YAMLReader, _ config: GatewayConfig) {
        let usesAI = config.routes.contains { $0.ai != nil }
        guard let ai = config.ai else {
            if usesAI { r.issue(nil, "ai", "routes use ai: but there is no ai: section with providers and models") }
            return
        }
        let names = Set(ai.models.map(\.name))
        var seen = Set<String>()
        for model in ai.models {
            if !seen.insert(model.name).inserted { r.issue(line: model.line, "ai.models", "model \"\(model.name)\" declared twice") }
            for d in model.deployments where !d.provider.isEmpty && ai.providers[d.provider] == nil {
                r.issue(line: d.line, "ai.models.\(model.name).deployments", "unknown provider \"\(d.provider)\"")
            }
            for f in model.fallbacks where !names.contains(f) {
                r.issue(line: model.line, "ai.models.\(model.name).fallbacks", "unknown model \"\(f)\"")
            }
        }
        for route in config.routes {
            for m in route.ai?.models ?? [] where !names.contains(m) {
                r.issue(line: route.line, "routes.\(route.name).ai.models", "unknown model \"\(m)\"")
            }
        }
    }
}
