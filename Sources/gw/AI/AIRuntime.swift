import AIGateway
import NIOCore
import NIOSSL
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The compiled `ai:` section: deployments with their provider connections and health,
/// the model catalogue, prices and limits. Immutable (health aside); rebuilt on reload.
final class AIRuntime: Sendable {
    struct Deployment: Sendable {
        let id: Int
        let alias: String
        let providerName: String
        /// The provider's name for the model.
        let model: String
        let settings: ProviderSettings
        /// Connections to the provider (nil for mock).
        let upstream: UpstreamSet?
        let weight: Int
        let priority: Int
        let timeout: TimeAmount
        let health: DeploymentHealth
    }

    struct Model: Sendable {
        let name: String
        let deployments: [Deployment]
        let fallbacks: [String]
    }

    let config: GatewayConfig.AI
    let models: [String: Model]
    /// Catalogue order, for `/v1/models`.
    let modelNames: [String]
    let prices: PriceTable

    private init(config: GatewayConfig.AI, models: [String: Model], modelNames: [String], prices: PriceTable) {
        self.config = config
        self.models = models
        self.modelNames = modelNames
        self.prices = prices
    }

    static func compile(_ ai: GatewayConfig.AI, source: String, issues: inout [ConfigIssue]) -> AIRuntime {
        var providerSets: [String: UpstreamSet] = [:]
        var providerPaths: [String: String] = [:]
        for (name, provider) in ai.providers.sorted(by: { $0.key < $1.key }) {
            guard let base = provider.baseURL, provider.kind != .mock else { continue }
            guard let url = ParsedURL(base) else {
                issues.append(ConfigIssue(file: source, line: provider.line, keyPath: "ai.providers.\(name).base_url", message: "not a URL"))
                continue
            }
            var path = url.path == "/" ? provider.kind.defaultBasePath : url.path
            if path.hasSuffix("/") { path.removeLast() }
            providerPaths[name] = path
            do {
                let address = try SocketAddress.makeAddressResolvingHost(url.host, port: url.port)
                let target = UpstreamSet.ResolvedTarget(
                    host: url.host, port: url.port, address: address, poolKey: "\(url.tls ? "https" : "http")://\(url.host):\(url.port)")
                let upstream = GatewayConfig.Upstream(
                    name: "ai.\(name)", targets: [.init(host: url.host, port: url.port, weight: 1)], tls: url.tls,
                    tlsVerify: provider.tlsVerify, balance: .roundRobin, hashKey: .clientIP, hostHeader: .target,
                    connectTimeout: .seconds(5), firstByteTimeout: provider.timeout, totalTimeout: .zero, maxIdlePerLoop: 64)
                var tls: NIOSSLContext?
                if url.tls {
                    var tlsConfig = TLSConfiguration.makeClientConfiguration()
                    if !provider.tlsVerify { tlsConfig.certificateVerification = .none }
                    tls = try NIOSSLContext(configuration: tlsConfig)
                }
                providerSets[name] = UpstreamSet(config: upstream, targets: [target], tls: tls)
            } catch {
                issues.append(
                    ConfigIssue(file: source, line: provider.line, keyPath: "ai.providers.\(name).base_url", message: "cannot resolve \(url.host): \(error)"))
            }
        }
        var models: [String: Model] = [:]
        var nextID = 0
        for model in ai.models {
            var deployments: [Deployment] = []
            for (i, d) in model.deployments.enumerated() {
                guard let provider = ai.providers[d.provider] else { continue }
                let keyPath = "ai.models[\(model.name)].deployments[\(i)]"
                var key: String?
                if let ref = d.apiKeyRef ?? provider.apiKeyRef {
                    switch resolveSecret(ref) {
                    case .success(let value): key = value
                    case .failure(let message):
                        issues.append(ConfigIssue(file: source, line: d.line, keyPath: "\(keyPath).api_key", message: message.text))
                    }
                }
                let settings = ProviderSettings(
                    kind: provider.kind, basePath: providerPaths[d.provider] ?? "", apiKey: key, apiVersion: provider.apiVersion,
                    defaultMaxTokens: ai.defaultMaxTokens, streamUsage: provider.streamUsage)
                deployments.append(
                    Deployment(
                        id: nextID, alias: model.name, providerName: d.provider, model: d.model, settings: settings,
                        upstream: providerSets[d.provider], weight: d.weight, priority: d.priority, timeout: provider.timeout,
                        health: DeploymentHealth()))
                nextID += 1
            }
            models[model.name] = Model(name: model.name, deployments: deployments, fallbacks: model.fallbacks)
        }
        var prices = PriceTable.builtin
        for (model, price) in ai.prices { prices.override(model, price) }
        return AIRuntime(config: ai, models: models, modelNames: ai.models.map(\.name), prices: prices)
    }

    struct SecretError: Error {
        let text: String
    }

    /// `env:NAME` or `file:/path` (trailing newline dropped). The value is never logged.
    static func resolveSecret(_ ref: String) -> Result<String, SecretError> {
        if ref.hasPrefix("env:") {
            let name = String(ref.dropFirst(4))
            guard let value = getenv(name) else { return .failure(SecretError(text: "environment variable \(name) is not set")) }
            return .success(String(cString: value))
        }
        let path = String(ref.dropFirst(5))
        guard var text = ConfigLoader.readFile(path) else { return .failure(SecretError(text: "cannot read key file \(path)")) }
        while text.last == "\n" || text.last == "\r" || text.last == " " { text.removeLast() }
        return .success(text)
    }

    /// The deployments to try for `alias`, in order: by priority, weighted-random within a
    /// priority, then the fallback models' deployments. Deployments cooling down are left
    /// out; `coolingUntil` is the earliest end of those cooldowns (for Retry-After).
    func plan(alias: String) -> (attempts: [Deployment], coolingFor: TimeAmount?) {
        var out: [Deployment] = []
        var visited = Set<String>()
        var cooling: TimeAmount?
        let now = NIODeadline.now()
        var queue = [alias]
        while !queue.isEmpty {
            let name = queue.removeFirst()
            guard visited.insert(name).inserted, let model = models[name] else { continue }
            let priorities = Set(model.deployments.map(\.priority)).sorted()
            for priority in priorities {
                var group = model.deployments.filter { $0.priority == priority }
                group.removeAll { d in
                    guard let left = d.health.cooldownLeft(now: now) else { return false }
                    cooling = min(cooling ?? left, left)
                    return true
                }
                out.append(contentsOf: Self.weightedOrder(group))
            }
            queue.append(contentsOf: model.fallbacks)
        }
        return (Array(out.prefix(config.routing.maxAttempts)), cooling)
    }

    static func weightedOrder(_ items: [Deployment]) -> [Deployment] {
        var pool = items
        var out: [Deployment] = []
        while !pool.isEmpty {
            let total = pool.reduce(0) { $0 + $1.weight }
            var pick = Int.random(in: 0..<total)
            var index = 0
            for (i, d) in pool.enumerated() {
                if pick < d.weight {
                    index = i
                    break
                }
                pick -= d.weight
            }
            out.append(pool.remove(at: index))
        }
        return out
    }

    func limit(for consumer: String) -> GatewayConfig.AI.Limit {
        config.consumerLimits[consumer] ?? config.defaultLimit
    }
}

/// A deployment's recent failures: after `cooldownAfter` in a row (or a 429 with
/// Retry-After) it is left out of plans until its cooldown ends.
final class DeploymentHealth: Sendable {
    private struct State {
        var failures = 0
        var cooldownUntil: NIODeadline?
    }

    private let state = Mutex(State())

    func cooldownLeft(now: NIODeadline) -> TimeAmount? {
        state.withLock { s in
            guard let until = s.cooldownUntil, until > now else { return nil }
            return until - now
        }
    }

    func succeeded() {
        state.withLock { s in
            s.failures = 0
            s.cooldownUntil = nil
        }
    }

    func failed(retryAfter: Int?, routing: GatewayConfig.AI.Routing) {
        state.withLock { s in
            s.failures += 1
            if let seconds = retryAfter, seconds > 0 {
                s.cooldownUntil = .now() + .seconds(Int64(min(seconds, 3600)))
            } else if s.failures >= routing.cooldownAfter {
                s.cooldownUntil = .now() + routing.cooldown
                s.failures = 0
            }
        }
    }
}
