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
    func send(_ args: [RESPArgument], on loop: any EventLoop) -> EventLoopFuture<RESPValue> {
        let promise = loop.makePromise(of: RESPValue.self)
        let deadline = loop.scheduleTask(in: timeout) {
            promise.fail(SharedStoreUnavailable("Redis did not answer within \(self.timeout.nanoseconds / 1_000_000) ms"))
        }
        promise.futureResult.whenComplete { _ in deadline.cancel() }
        channel().whenComplete { result in
            switch result {
            case .failure(let error):
                promise.fail(SharedStoreUnavailable("Redis is unreachable: \(error)"))
            case .success(let channel):
                let reply = channel.eventLoop.makePromise(of: RESPValue.self)
                channel.writeAndFlush((args: args, promise: reply), promise: nil)
                reply.futureResult.whenComplete { result in
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
            default:
                let future = connect(on: loop)
                s = .connecting(future)
                return future
            }
        }
    }

    private func connect(on loop: any EventLoop) -> EventLoopFuture<any Channel> {
        let endpoint = self.endpoint
        let future = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(RedisConnectionHandler()) }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .map { channel -> any Channel in
                // Setup commands go first on the pipeline; their replies are checked, not awaited.
                if let password = endpoint.password {
                    channel.writeAndFlush((args: [RESPArgument.text("AUTH"), .text(password)], promise: channel.eventLoop.makePromise(of: RESPValue.self)), promise: nil)
                }
                if endpoint.database != 0 {
                    channel.writeAndFlush(
                        (args: [RESPArgument.text("SELECT"), .text(String(endpoint.database))], promise: channel.eventLoop.makePromise(of: RESPValue.self)), promise: nil)
                }
                return channel
            }
        future.whenComplete { [self] result in
            state.withLock { s in
                switch result {
                case .success(let channel):
                    s = .connected(channel)
                    channel.closeFuture.whenComplete { [self] _ in
                        state.withLock { s in
                            if case .connected(let current) = s, current === channel { s = .idle }
                        }
                    }
                case .failure:
                    s = .down(until: .now() + retryInterval)
                }
            }
        }
        return future
    }

    func close() {
        let channel: (any Channel)? = state.withLock { s in
            defer { s = .down(until: .distantFuture) }
            if case .connected(let channel) = s { return channel }
            return nil
        }
        channel?.close(promise: nil)
    }
}
