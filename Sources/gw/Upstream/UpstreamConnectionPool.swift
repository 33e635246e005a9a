import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import PluginHost

/// Keep-alive connections to upstream targets for ONE event loop. A downstream
/// connection borrows from its own loop's pool, so a request never hops threads.
final class UpstreamConnectionPool {
    let loop: any EventLoop
    /// The loop's request timeouts.
    let deadlines: DeadlineSweeper
    /// The loop's arena for views handed to plugins.
    let hookArena = HookArena()
    /// Idle connections per pool key. The list is a class so taking and returning a
    /// connection mutates it in place: the optional-chained `idle[key]?.popLast()` on
    /// a dictionary of arrays allocated 1-3 times per request (uprobe malloc count).
    private var idle: [String: IdleList] = [:]

    private final class IdleList {
        var connections: [UpstreamConnection] = []
    }
    /// The list used last, and its key: most requests of a loop go to the target
    /// the previous one used, and comparing a key with itself (the target's string)
    /// is one word, where the dictionary hashes all of it.
    private var recentKey = ""
    private var recentList: IdleList?

    @inline(__always)
    private func idleList(_ key: String) -> IdleList? {
        if let recentList, recentKey == key { return recentList }
        guard let list = idle[key] else { return nil }
        recentKey = key
        recentList = list
        return list
    }

    init(loop: any EventLoop) {
        self.loop = loop
        self.deadlines = DeadlineSweeper(loop: loop)
    }

    /// An idle connection to `target`, if one is ready (no allocation on this path).
    func takeIdle(_ target: UpstreamSet.ResolvedTarget) -> UpstreamConnection? {
        guard let list = idleList(target.poolKey) else { return nil }
        while let connection = list.connections.popLast() {
            connection.health?.idle.wrappingAdd(-1, ordering: .relaxed)
            if connection.channel.isActive && connection.reusable { return connection }
        }
        return nil
    }

    /// An idle connection to `target`, or a new one.
    func acquire(_ target: UpstreamSet.ResolvedTarget, of upstream: UpstreamSet) -> EventLoopFuture<UpstreamConnection> {
        if let connection = takeIdle(target) { return loop.makeSucceededFuture(connection) }
        return connect(target, of: upstream)
    }

    /// Return a connection after a complete exchange.
    func release(_ connection: UpstreamConnection, maxIdle: Int) {
        connection.handler.delegate = nil
        connection.handler.setHoldReads(false)
        let list: IdleList
        if let existing = idleList(connection.poolKey) {
            list = existing
        } else {
            list = IdleList()
            idle[connection.poolKey] = list
        }
        guard connection.reusable, connection.channel.isActive, list.connections.count < maxIdle else {
            connection.close()
            return
        }
        list.connections.append(connection)
        connection.health?.idle.wrappingAdd(1, ordering: .relaxed)
    }

    func remove(_ connection: UpstreamConnection) {
        guard let list = idle[connection.poolKey], let at = list.connections.firstIndex(where: { $0 === connection }) else { return }
        list.connections.remove(at: at)
        connection.health?.idle.wrappingAdd(-1, ordering: .relaxed)
    }

    /// Close one idle connection of the upstream `health` belongs to, if this loop
    /// has one (to make room under its `max_connections`).
    @discardableResult
    func closeIdle(of health: UpstreamHealth) -> Bool {
        for list in idle.values {
            guard let at = list.connections.firstIndex(where: { $0.health === health }) else { continue }
            let connection = list.connections.remove(at: at)
            health.idle.wrappingAdd(-1, ordering: .relaxed)
            connection.close()
            return true
        }
        return false
    }

    var idleCount: Int { idle.values.reduce(0) { $0 + $1.connections.count } }

    func closeAll() {
        for list in idle.values {
            for c in list.connections {
                c.health?.idle.wrappingAdd(-1, ordering: .relaxed)
                c.close()
            }
        }
        idle.removeAll()
        recentList = nil
    }

    /// A new connection to `target` (counted in the upstream's breaker counters while open).
    func connect(_ target: UpstreamSet.ResolvedTarget, of upstream: UpstreamSet) -> EventLoopFuture<UpstreamConnection> {
        let tls = upstream.tls
        let host = target.host
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(upstream.config.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                do {
                    let sync = channel.pipeline.syncOperations
                    if let tls {
                        let isIP = (try? SocketAddress(ipAddress: host, port: 0)) != nil
                        let handler = try NIOSSLClientHandler(context: tls, serverHostname: isIP ? nil : host)
                        try sync.addHandler(handler)
                    }
                    // Requests are framed by UpstreamConnection.write, responses parsed by the handler.
                    try sync.addHandler(UpstreamHandler())
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        let key = target.poolKey
        let health = upstream.health
        return bootstrap.connect(to: target.address).assumeIsolated().flatMapThrowing { [self] channel in
            health.connections.wrappingAdd(1, ordering: .relaxed)
            channel.closeFuture.whenComplete { _ in health.connections.wrappingAdd(-1, ordering: .relaxed) }
            let handler = try channel.pipeline.syncOperations.handler(type: UpstreamHandler.self)
            let connection = UpstreamConnection(channel: channel, poolKey: key, handler: handler)
            handler.connection = connection
            connection.pool = self
            connection.health = health
            return connection
        }.nonisolated()
    }
}

@available(*, unavailable)
extension UpstreamConnectionPool: Sendable {}

/// One pool per event loop, found by the loop's identity.
final class LoopPools: Sendable {
    private let pools: [ObjectIdentifier: NIOLoopBoundBox<UpstreamConnectionPool?>]
    private let loops: [any EventLoop]

    init(group: any EventLoopGroup) {
        var pools: [ObjectIdentifier: NIOLoopBoundBox<UpstreamConnectionPool?>] = [:]
        var loops: [any EventLoop] = []
        for loop in group.makeIterator() {
            pools[ObjectIdentifier(loop)] = .makeEmptyBox(valueType: UpstreamConnectionPool.self, eventLoop: loop)
            loops.append(loop)
        }
        self.pools = pools
        self.loops = loops
    }

    /// Ask the other loops to close an idle connection of the upstream `health`
    /// belongs to while it has more open than `limit` (each checks on its own loop;
    /// the first close brings the count down for the rest).
    func shedIdle(of health: UpstreamHealth, limit: Int, except current: any EventLoop) {
        for loop in loops where loop !== current {
            loop.execute {
                guard health.idle.load(ordering: .relaxed) > 0,
                    health.connections.load(ordering: .relaxed) + health.pending.load(ordering: .relaxed) > limit
                else { return }
                self.pool(for: loop)?.closeIdle(of: health)
            }
        }
    }

    /// The pool of `loop` (created on first use); call on that loop.
    func pool(for loop: any EventLoop) -> UpstreamConnectionPool? {
        guard let box = pools[ObjectIdentifier(loop)] else { return nil }
        if let pool = box.value { return pool }
        let pool = UpstreamConnectionPool(loop: loop)
        box.value = pool
        return pool
    }
}
