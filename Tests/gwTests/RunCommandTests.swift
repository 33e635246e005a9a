import Foundation
import GatewayTestSupport
import NIOCore
import NIOPosix
import Testing

@testable import gw

/// `gw run` as a process: SIGHUP reloads (a bad config is refused), SIGTERM stops it.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct RunCommandTests {
    /// A port that was free a moment ago.
    static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(channel.localAddress?.port)
        try await channel.close()
        return port
    }

    static func config(port: Int, body: String) -> String {
        """
        listeners:
          - name: main
            address: 127.0.0.1:\(port)
        admin: off
        routes:
          - name: a
            match: {path: /a}
            direct_response: {status: 200, body: "\(body)"}
        """
    }

    static func get(_ port: Int) async -> String? {
        try? await TestClient.send(port: port, .GET, "/a").text
    }

    static func waitFor(_ port: Int, body: String, timeout: TimeAmount = .seconds(10)) async -> Bool {
        let start = NIODeadline.now()
        while NIODeadline.now() - start < timeout {
            if await get(port) == body { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    @Test func sighupReloadsABadConfigIsRefusedAndSigtermStops() async throws {
        let executable = try #require(CheckCommandTests.gwExecutable, "the gw executable is not built")
        let port = try await Self.freePort()
        let path = try writeConfig(Self.config(port: port, body: "one"))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["run", "--config", path, "--log-level", "warning"]
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        #expect(await Self.waitFor(port, body: "one"))

        try Self.config(port: port, body: "two").write(toFile: path, atomically: true, encoding: .utf8)
        kill(process.processIdentifier, SIGHUP)
        #expect(await Self.waitFor(port, body: "two"), "SIGHUP applied the new config")

        try "routes: [{name: broken}]\n".write(toFile: path, atomically: true, encoding: .utf8)
        kill(process.processIdentifier, SIGHUP)
        try await Task.sleep(for: .milliseconds(500))
        #expect(await Self.get(port) == "two", "a bad config is refused; the old one keeps serving")
        #expect(process.isRunning)

        kill(process.processIdentifier, SIGTERM)
        let start = NIODeadline.now()
        while process.isRunning && NIODeadline.now() - start < .seconds(10) {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(!process.isRunning)
        #expect(process.terminationStatus == 0)
    }

    @Test func theEmbeddedDefaultConfigCompilesWithADemoRouteAndAnAdminListener() throws {
        let config = try Gateway.loadConfig(GatewayOptions(configFile: nil))
        #expect(config.listeners.map { "\($0.host):\($0.port)" } == ["127.0.0.1:8080"])
        #expect(config.adminHost == "127.0.0.1" && config.adminPort == 9901)
        #expect(config.demoUpstream?.port == 8081)
        #expect(config.routes.map(\.name) == ["ai", "demo", "welcome"])
        #expect(config.upstreams["demo"]?.targets.first?.port == 8081)
    }
}
