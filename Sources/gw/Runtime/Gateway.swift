import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import PluginHost
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How to build a gateway (what `gw run` parses from the command line).
struct GatewayOptions: Sendable {
    /// nil = the embedded default configuration.
    var configFile: String?
    var extraPluginPath: [String] = []
    var logLevel: Logger.Level = .info
    var eventLoops = System.coreCount
}

/// The running gateway: event loops, plugin host, the current compiled state and
/// the listeners. `main` and the tests build it through `Gateway.build`.
final class Gateway: Sendable {
    let options: GatewayOptions
    let group: MultiThreadedEventLoopGroup
    let services: HostServices
    let loader: PluginLoader
    let pools: LoopPools
    /// Health checks, ejections and breaker counters, kept across reloads.
    let health: HealthRegistry
    let logger: Logger
    /// The control thread: reloads (YAML, dlopen, plugins' config_new) run here,
    /// never on an event loop.
    let control: NIOThreadPool
    private let state: NIOLockedValueBox<GatewayState>
    private let draining = Atomic<Bool>(false)
    /// Bumped after every state swap: connections keep the state they last saw and
    /// take the lock only when this moved (`DownstreamHandler.state`), so event
    /// loops do not all write the lock's cache line once per request.
    let stateGeneration = Atomic<Int>(0)
    /// This gateway's client connections.
    let connections = ConnectionRegistry()
    private let reloadLock = NIOLock()
    private let channels = NIOLockedValueBox<[any Channel]>([])
    /// Addresses actually bound, by listener name ("admin" and "demo_upstream" included).
    let boundAddresses = NIOLockedValueBox<[String: SocketAddress]>([:])
    private let listenerAddresses = NIOLockedValueBox<[SocketAddress]>([])

    private init(
        options: GatewayOptions, group: MultiThreadedEventLoopGroup, services: HostServices, loader: PluginLoader, pools: LoopPools,
        health: HealthRegistry, state: GatewayState
    ) {
        self.options = options
        self.group = group
        self.services = services
        self.loader = loader
        self.pools = pools
        self.health = health
        self.logger = services.logger
        self.state = NIOLockedValueBox(state)
        self.control = NIOThreadPool(numberOfThreads: 1)
        self.control.start()
    }

    /// Load the config, load plugins, compile routes. Nothing is bound yet.
    static func build(_ options: GatewayOptions) throws -> Gateway {
        var logger = Logger(label: "gw")
        logger.logLevel = options.logLevel
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, options.eventLoops))
        let services = HostServices(logger: logger, callouts: CalloutClient(group: group))
        do {
            let config = try loadConfig(options)
            let loader = PluginLoader(searchPath: pluginSearchPath(options, config), services: services)
            let pools = LoopPools(group: group)
            let health = HealthRegistry(loop: group.next())
            let state = try GatewayState.compile(config, loader: loader, services: services, pools: pools, version: 1, health: health)
            SharedStoreSetup.apply(config.sharedStore, services: services, group: group)
            return Gateway(options: options, group: group, services: services, loader: loader, pools: pools, health: health, state: state)
        } catch {
            try? group.syncShutdownGracefully()
            throw error
        }
    }

    static func loadConfig(_ options: GatewayOptions) throws(ConfigError) -> GatewayConfig {
        if let file = options.configFile { return try ConfigLoader.load(file: file) }
        return try ConfigLoader.parse(DefaultConfig.yaml, file: "<embedded default>")
    }

    /// The plugin path: the config's `plugins.path`, `--plugin-path`, `$GW_PLUGIN_PATH`,
    /// then the directory of the gw executable (where this package's build puts plugins).
    static func pluginSearchPath(_ options: GatewayOptions, _ config: GatewayConfig) -> [String] {
        var path = config.pluginPath + options.extraPluginPath
        if let env = getenv("GW_PLUGIN_PATH") {
            path += String(cString: env).split(separator: ":").map(String.init)
        }
        if let exe = executableDirectory() { path.append(exe) }
        return path
    }

    static func executableDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let path = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return path.lastIndex(of: "/").map { String(path[..<$0]) }
    }

    func currentState() -> GatewayState {
        state.withLockedValue { $0 }
    }

    var isDraining: Bool { draining.load(ordering: .relaxed) }

    // MARK: - Listeners

    /// Bind every listener, the admin listener and the demo upstream.
    func start() async throws {
        health.sync(currentState().upstreams)
        let config = currentState().config
        if let demo = config.demoUpstream {
            let channel = try await EchoServer.bind(host: demo.host, port: demo.port, group: group)
            record(channel, name: "demo_upstream")
        }
        for listener in config.listeners {
            var tls: NIOSSLContext?
            if let files = listener.tls {
                let certificates = try NIOSSLCertificate.fromPEMFile(files.certificate)
                let key = try NIOSSLPrivateKey(file: files.privateKey, format: .pem)
                let tlsConfig = TLSConfiguration.makeServerConfiguration(
                    certificateChain: certificates.map { .certificate($0) }, privateKey: .privateKey(key))
                tls = try NIOSSLContext(configuration: tlsConfig)
            }
            let channel = try await ProxyServer.bind(listener: listener, tls: tls, gateway: self)
            record(channel, name: listener.name)
            if let address = channel.localAddress { listenerAddresses.withLockedValue { $0.append(address) } }
            logger.info("listening", metadata: ["gw.listener": "\(listener.name)", "gw.address": "\(channel.localAddress.map { "\($0)" } ?? "")"])
        }
        if let host = config.adminHost {
            let channel = try await AdminServer.bind(host: host, port: config.adminPort, gateway: self)
            record(channel, name: "admin")
            logger.info("admin listening", metadata: ["gw.address": "\(channel.localAddress.map { "\($0)" } ?? "")"])
        }
    }

    private func record(_ channel: any Channel, name: String) {
        channels.withLockedValue { $0.append(channel) }
        if let address = channel.localAddress { boundAddresses.withLockedValue { $0[name] = address } }
    }

    /// The port a listener bound (tests bind port 0).
    func port(of name: String) -> Int? {
        boundAddresses.withLockedValue { $0[name]?.port }
    }

    /// Every proxy listener's bound address, in config order (names may repeat).
    func boundListenerAddresses() -> [SocketAddress] {
        listenerAddresses.withLockedValue { $0 }
    }

    // MARK: - Reload and shutdown

    /// `reload()` on the control thread; the future completes on `loop`.
    func reloadInBackground(on loop: any EventLoop) -> EventLoopFuture<Int> {
        control.runIfActive(eventLoop: loop) { try self.reload() }
    }

    /// Build a new state from the config file beside the old one and swap it in.
    /// A bad config is refused and the old state keeps serving.
    @discardableResult
    func reload() throws(ConfigError) -> Int {
        reloadLock.lock()
        defer { reloadLock.unlock() }
        let old = currentState()
        let config = try Self.loadConfig(options)
        let next = try GatewayState.compile(
            config, loader: loader, services: services, pools: pools, version: old.version + 1, health: health)
        if config.listeners.map({ "\($0.host):\($0.port)" }) != old.config.listeners.map({ "\($0.host):\($0.port)" }) {
            logger.warning("listener addresses changed: they take effect at the next restart")
        }
        SharedStoreSetup.apply(config.sharedStore, services: services, group: group)
        state.withLockedValue { $0 = next }
        stateGeneration.add(1, ordering: .releasing)
        health.sync(next.upstreams)
        logger.info("configuration reloaded", metadata: ["gw.config.version": "\(next.version)"])
        return next.version
    }

    /// Stop accepting, let in-flight exchanges finish (up to `deadline`), then stop.
    func shutdown(deadline: TimeAmount = .seconds(10)) async {
        draining.store(true, ordering: .relaxed)
        let all = channels.withLockedValue { $0 }
        for channel in all { try? await channel.close() }
        connections.drain()
        let start = NIODeadline.now()
        while connections.count > 0 && NIODeadline.now() - start < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        connections.closeAll()
        health.stopAll()
        try? await group.shutdownGracefully()
        try? await control.shutdownGracefully()
    }
}
