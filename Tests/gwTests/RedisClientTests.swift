import Foundation
import NIOCore
import NIOEmbedded
import NIOPosix
import PluginHost
import Synchronization
import Testing

@testable import gw

/// A TCP server that accepts connections and never answers: a Redis host that stopped
/// responding behind live connections (crashed, partitioned, paused).
final class SilentServer: Sendable {
    let port: Int
    private let channel: any Channel
    private let counts = Mutex((accepted: 0, closed: 0))

    var accepted: Int { counts.withLock { $0.accepted } }
    var closed: Int { counts.withLock { $0.closed } }

    private init(channel: any Channel) {
        self.channel = channel
        port = channel.localAddress?.port ?? 0
    }

    static func start() async throws -> SilentServer {
        let box = Mutex<SilentServer?>(nil)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { child in
                let server = box.withLock { $0 }
                server?.counts.withLock { $0.accepted += 1 }
                child.closeFuture.whenComplete { _ in server?.counts.withLock { $0.closed += 1 } }
                return child.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let server = SilentServer(channel: channel)
        box.withLock { $0 = server }
        return server
    }

    func stop() async { try? await channel.close() }
}

/// What the promises of a test on an `EmbeddedChannel` completed with (synchronously).
final class Outcomes: @unchecked Sendable {
    private var failures: [Int: String] = [:]
    func record(_ i: Int, _ result: Result<RESPValue, any Error>) {
        if case .failure(let error) = result { failures[i] = "\(error)" }
    }
    func failure(_ i: Int) -> String? { failures[i] }
}

@Suite(.serialized) struct RedisClientTests {
    static let loop = MultiThreadedEventLoopGroup.singleton.next()

    static func failure(_ future: EventLoopFuture<RESPValue>) async -> String? {
        do {
            _ = try await future.get()
            return nil
        } catch let error as SharedStoreUnavailable {
            return error.reason
        } catch {
            return "\(error)"
        }
    }

    static func poll(_ condition: () -> Bool) async throws {
        for _ in 0..<100 where !condition() { try await Task.sleep(for: .milliseconds(20)) }
    }

    /// Without this, every later command waited out its timeout on the stalled
    /// connection, queued, until the kernel dropped the connection minutes later.
    @Test func aConnectionThatStopsAnsweringIsDroppedAndANewOneTriedAfterTheRetryInterval() async throws {
        let server = try await SilentServer.start()
        let endpoint = try #require(RedisClient.Endpoint(url: "redis://127.0.0.1:\(server.port)"))
        let client = RedisClient(endpoint: endpoint, timeout: .seconds(1), group: MultiThreadedEventLoopGroup.singleton, retryInterval: .seconds(3))
        defer { client.close() }

        let first = await Self.failure(client.send(["PING"], on: Self.loop))
        #expect(first?.contains("did not answer") == true, "\(first ?? "answered")")

        // Down for the retry interval: commands fail at once, without a connection.
        // (The timeout is long enough for the connection to be made first on a loaded machine.)
        let down = await Self.failure(client.send(["PING"], on: Self.loop))
        #expect(down?.contains("down") == true, "\(down ?? "answered")")
        try await Self.poll { server.closed == 1 }
        #expect(server.closed == 1, "the stalled connection was closed")
        #expect(server.accepted == 1)

        try await Task.sleep(for: .milliseconds(3_100))
        let third = await Self.failure(client.send(["PING"], on: Self.loop))
        try await Self.poll { server.accepted == 2 }
        #expect(server.accepted == 2, "a new connection after the retry interval: \(third ?? "answered")")
        await server.stop()
    }

    @Test func aWrongPasswordOrAMissingDatabaseFailsTheConnectionWithRedissMessage() async throws {
        let port = try await RunCommandTests.freePort()
        let redis = try RedisServer(port: port, arguments: ["--requirepass", "s3cret"])
        defer { redis.stop() }
        try await redis.ready()
        let group = MultiThreadedEventLoopGroup.singleton

        let wrong = RedisClient(endpoint: try #require(.init(url: "redis://:nope@127.0.0.1:\(port)")), timeout: .seconds(2), group: group)
        defer { wrong.close() }
        let refused = await Self.failure(wrong.send(["SET", "k", "v"], on: Self.loop))
        #expect(refused?.contains("AUTH failed") == true, "\(refused ?? "accepted")")

        let missing = RedisClient(endpoint: try #require(.init(url: "redis://:s3cret@127.0.0.1:\(port)/99")), timeout: .seconds(2), group: group)
        defer { missing.close() }
        let noDatabase = await Self.failure(missing.send(["SET", "k", "v"], on: Self.loop))
        #expect(noDatabase?.contains("SELECT failed") == true, "\(noDatabase ?? "written to some database")")

        // The right ones: the value lands in database 3 and only there.
        let three = RedisClient(endpoint: try #require(.init(url: "redis://:s3cret@127.0.0.1:\(port)/3")), timeout: .seconds(2), group: group)
        defer { three.close() }
        let zero = RedisClient(endpoint: try #require(.init(url: "redis://:s3cret@127.0.0.1:\(port)/0")), timeout: .seconds(2), group: group)
        defer { zero.close() }
        _ = try await three.send(["SET", "k", "in three"], on: Self.loop).get()
        let inThree = try await three.send(["GET", "k"], on: Self.loop).get()
        let inZero = try await zero.send(["GET", "k"], on: Self.loop).get()
        guard case .bulk(let bytes?) = inThree else {
            Issue.record("GET in database 3: \(inThree)")
            return
        }
        #expect(String(decoding: bytes, as: UTF8.self) == "in three")
        guard case .bulk(nil) = inZero else {
            Issue.record("database 0 has the key: \(inZero)")
            return
        }
    }

    /// `close()` while the connection is being set up: it is never used, and is closed.
    @Test func closeDuringConnectLeavesNoConnection() async throws {
        let server = try await SilentServer.start()
        // A password makes the connect wait for AUTH's answer, which never comes.
        let endpoint = try #require(RedisClient.Endpoint(url: "redis://:pw@127.0.0.1:\(server.port)"))
        let client = RedisClient(endpoint: endpoint, timeout: .milliseconds(300), group: MultiThreadedEventLoopGroup.singleton)
        let pending = client.send(["PING"], on: Self.loop)
        try await Self.poll { server.accepted == 1 }
        client.close()
        _ = await Self.failure(pending)
        try await Self.poll { server.closed == 1 }
        #expect(server.closed == 1, "the connection opened for it was closed")
        let after = await Self.failure(client.send(["PING"], on: Self.loop))
        #expect(after?.contains("closed") == true, "\(after ?? "answered")")
        #expect(server.accepted == 1, "no new connection after close")
        await server.stop()
    }

    /// A command written once the connection closed (it raced the close from another
    /// event loop) fails at once; before, its promise was never completed.
    @Test func aCommandWrittenAfterTheConnectionClosedFails() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(RedisConnectionHandler(maxWaiting: 2))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()

        // Past the limit of commands waiting, a command fails at once.
        let replies = (0..<4).map { _ in channel.eventLoop.makePromise(of: RESPValue.self) }
        let outcomes = Outcomes()
        for (i, reply) in replies.enumerated() {
            reply.futureResult.whenComplete { result in outcomes.record(i, result) }
        }
        for reply in replies.prefix(3) { channel.write((args: [RESPArgument.text("PING")], promise: reply), promise: nil) }
        #expect(outcomes.failure(2)?.contains("already wait") == true, "the third command was queued")
        #expect(outcomes.failure(0) == nil && outcomes.failure(1) == nil)

        channel.pipeline.fireChannelInactive()
        #expect(outcomes.failure(0) != nil && outcomes.failure(1) != nil, "waiting commands fail when the connection closes")

        channel.write((args: [RESPArgument.text("PING")], promise: replies[3]), promise: nil)
        #expect(outcomes.failure(3)?.contains("closed") == true, "a command written after the close does not wait forever")
        _ = try? channel.finish()
    }

    /// The shared GCRA counts in nanoseconds, as the in-process one: an interval of
    /// 1,666 ns (600,000 per second) was sent as 1 µs and let 1,000,000 through.
    @Test func sharedGCRAKeepsNanosecondIntervals() async throws {
        let port = try await RunCommandTests.freePort()
        let redis = try RedisServer(port: port)
        defer { redis.stop() }
        try await redis.ready()
        let client = RedisClient(
            endpoint: try #require(.init(url: "redis://127.0.0.1:\(port)")), timeout: .seconds(2), group: MultiThreadedEventLoopGroup.singleton)
        defer { client.close() }
        let store = RedisSharedStore(client: client, prefix: "t:")
        let limit = GCRALimit(interval: 1_666, tolerance: 1_000_000_000)

        let one = try await store.gcra(key: "one", limits: [limit], cost: 1, on: Self.loop).get()
        #expect(one.admitted)
        #expect(one.ahead == [1_666], "one request puts the next one interval ahead")

        let burst = try await store.gcra(key: "burst", limits: [limit], cost: 600_000, on: Self.loop).get()
        #expect(burst.admitted)
        #expect(burst.ahead == [999_600_000], "600,000 × 1,666 ns")
        let refused = try await store.gcra(key: "burst", limits: [limit], cost: 600_000, on: Self.loop).get()
        #expect(!refused.admitted, "the tolerance is used up")
        // It would fit once 999.2 ms less the time since the burst have passed (that time is
        // a round trip, slower on a loaded machine: the bound only says it was counted in ns).
        #expect((500_000_000...999_200_000).contains(refused.waitNanoseconds), "\(refused.waitNanoseconds)")
    }
}
