import NIOCore
import NIOPosix
import PluginHost
import Synchronization

/// One pipelined connection to a Redis server, shared by every event loop. A command
/// that gets no reply within `timeout` fails with `SharedStoreUnavailable`; while the
/// server is unreachable commands fail at once and a reconnect is tried at most once
/// per `retryInterval`.
final class RedisClient: Sendable {
    struct Endpoint: Sendable, Equatable {
        var host: String
        var port: Int
        var password: String?
        var database: Int

        /// `redis://[:password@]host[:port][/db]`
        init?(url: String) {
            guard url.hasPrefix("redis://") else { return nil }
            var rest = Substring(url.dropFirst(8))
            password = nil
            if let at = rest.lastIndex(of: "@") {
                let auth = rest[..<at]
                password = String(auth.split(separator: ":", maxSplits: 1).last ?? auth)
                rest = rest[rest.index(after: at)...]
            }
            database = 0
            if let slash = rest.firstIndex(of: "/") {
                let db = rest[rest.index(after: slash)...]
                if !db.isEmpty {
                    guard let n = Int(db), n >= 0 else { return nil }
                    database = n
                }
                rest = rest[..<slash]
            }
            if let colon = rest.lastIndex(of: ":") {
                guard let p = Int(rest[rest.index(after: colon)...]), p > 0, p < 65536 else { return nil }
                port = p
                host = String(rest[..<colon])
            } else {
                port = 6379
                host = String(rest)
            }
            guard !host.isEmpty else { return nil }
        }
    }

    private enum State {
        case idle
        case connecting(EventLoopFuture<any Channel>)
        case connected(any Channel)
        case down(until: NIODeadline)
        /// `close()` was called: nothing connects any more.
        case closed
    }

    /// The channel a command was written to, for its timeout (`send`).
    private final class Sent: Sendable {
        let channel = Mutex<(any Channel)?>(nil)
    }

    let endpoint: Endpoint
    let timeout: TimeAmount
    let retryInterval: TimeAmount
    private let group: any EventLoopGroup
    private let state = Mutex(State.idle)

    init(endpoint: Endpoint, timeout: TimeAmount, group: any EventLoopGroup, retryInterval: TimeAmount = .seconds(1)) {
        self.endpoint = endpoint
        self.timeout = timeout
        self.group = group
        self.retryInterval = retryInterval
    }

    func send(_ args: [String], on loop: any EventLoop) -> EventLoopFuture<RESPValue> {
        send(args.map(RESPArgument.text), on: loop)
    }

    /// Send one command; the reply (or failure) completes on `loop`.
    ///
    /// A command that gets no reply within `timeout` fails, and the connection it was
    /// written to is dropped: a server that stopped answering behind a live TCP
    /// connection (a crashed host, a partition, a paused process) would otherwise
    /// keep every later command waiting its full timeout, and their replies queued,
    /// until the kernel gave up on the connection many minutes later. Dropped, it is
    /// down for `retryInterval` (commands fail at once, the limiters fall back to
    /// their local limits), then a new connection is tried.
    func send(_ args: [RESPArgument], on loop: any EventLoop) -> EventLoopFuture<RESPValue> {
        let promise = loop.makePromise(of: RESPValue.self)
        let sent = Sent()
        let deadline = loop.scheduleTask(in: timeout) {
            // Down first: a command sent once this one failed must not go to the same connection.
            if let channel = sent.channel.withLock({ $0 }) { self.dropStalled(channel) }
            promise.fail(SharedStoreUnavailable("Redis did not answer within \(self.timeout.nanoseconds / 1_000_000) ms"))
        }
        promise.futureResult.whenComplete { _ in deadline.cancel() }
        channel().whenComplete { result in
            switch result {
            case .failure(let error):
                promise.fail(SharedStoreUnavailable("Redis is unreachable: \(error)"))
            case .success(let channel):
                sent.channel.withLock { $0 = channel }
                Self.write(args, to: channel).whenComplete { result in
                    switch result {
                    case .success(.error(let message)): promise.fail(SharedStoreUnavailable("Redis error: \(message)"))
                    case .success(let value): promise.succeed(value)
                    case .failure(let error): promise.fail(SharedStoreUnavailable("\(error)"))
                    }
                }
            }
        }
        return promise.futureResult
    }

    /// Write one command; its reply, or the write's failure: a write that never reaches
    /// the handler (the channel closed meanwhile) fails the reply here, where it would
    /// otherwise never complete (completing a promise twice is a no-op).
    private static func write(_ args: [RESPArgument], to channel: any Channel) -> EventLoopFuture<RESPValue> {
        let reply = channel.eventLoop.makePromise(of: RESPValue.self)
        let written = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush((args: args, promise: reply), promise: written)
        written.futureResult.whenFailure { reply.fail($0) }
        return reply.futureResult
    }

    /// A command on `channel` timed out: drop the connection if it is still the current one.
    private func dropStalled(_ channel: any Channel) {
        let current = state.withLock { s -> Bool in
            guard case .connected(let c) = s, c === channel else { return false }
            s = .down(until: .now() + retryInterval)
            return true
        }
        if current { channel.close(promise: nil) }
    }

    private func channel() -> EventLoopFuture<any Channel> {
        let loop = group.next()
        return state.withLock { s -> EventLoopFuture<any Channel> in
            switch s {
            case .connected(let channel) where channel.isActive:
                return channel.eventLoop.makeSucceededFuture(channel)
            case .connecting(let future):
                return future
            case .down(let until) where until > .now():
                return loop.makeFailedFuture(RESPError("down; next try in \((until - .now()).nanoseconds / 1_000_000) ms"))
            case .closed:
                return loop.makeFailedFuture(RESPError("the client is closed"))
            default:
                let future = connect(on: loop)
                s = .connecting(future)
                return future
            }
        }
    }

    private func connect(on loop: any EventLoop) -> EventLoopFuture<any Channel> {
        let endpoint = self.endpoint
        let timeout = self.timeout
        let future = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(RedisConnectionHandler()) }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .flatMap { channel in Self.setUp(channel, endpoint, timeout: timeout) }
        future.whenComplete { [self] result in
            let unwanted: (any Channel)? = state.withLock { s in
                switch result {
                case .success(let channel):
                    if case .closed = s { return channel }
                    s = .connected(channel)
                    channel.closeFuture.whenComplete { [self] _ in
                        state.withLock { s in
                            if case .connected(let current) = s, current === channel { s = .idle }
                        }
                    }
                case .failure:
                    if case .closed = s { return nil }
                    s = .down(until: .now() + retryInterval)
                }
                return nil
            }
            // Closed while connecting: the new connection is not kept.
            unwanted?.close(promise: nil)
        }
        return future
    }

    /// AUTH and SELECT, each answered before the connection is used: a wrong password
    /// or a database the server does not have fails the connection (with Redis's own
    /// message), instead of every command failing with NOAUTH or silently using
    /// database 0. Bounded by `timeout` like a command.
    private static func setUp(_ channel: any Channel, _ endpoint: Endpoint, timeout: TimeAmount) -> EventLoopFuture<any Channel> {
        var commands: [(name: String, args: [RESPArgument])] = []
        if let password = endpoint.password { commands.append(("AUTH", [.text("AUTH"), .text(password)])) }
        if endpoint.database != 0 { commands.append(("SELECT", [.text("SELECT"), .text(String(endpoint.database))])) }
        guard !commands.isEmpty else { return channel.eventLoop.makeSucceededFuture(channel) }
        let names = commands.map(\.name).joined(separator: " and ")
        let loop = channel.eventLoop
        let checks = commands.map { command -> EventLoopFuture<Void> in
            write(command.args, to: channel).flatMapThrowing { value in
                if case .error(let message) = value { throw RESPError("\(command.name) failed: \(message)") }
            }
        }
        let ready = loop.makePromise(of: (any Channel).self)
        let deadline = loop.scheduleTask(in: timeout) {
            ready.fail(RESPError("no answer to \(names) within \(timeout.nanoseconds / 1_000_000) ms"))
        }
        EventLoopFuture.andAllSucceed(checks, on: loop).whenComplete { result in
            deadline.cancel()
            switch result {
            case .success: ready.succeed(channel)
            case .failure(let error): ready.fail(error)
            }
        }
        ready.futureResult.whenFailure { _ in channel.close(promise: nil) }
        return ready.futureResult
    }

    func close() {
        let (channel, connecting): ((any Channel)?, EventLoopFuture<any Channel>?) = state.withLock { s in
            defer { s = .closed }
            switch s {
            case .connected(let channel): return (channel, nil)
            case .connecting(let future): return (nil, future)
            default: return (nil, nil)
            }
        }
        channel?.close(promise: nil)
        connecting?.whenSuccess { $0.close(promise: nil) }
    }
}
