import GatewayTestSupport
import NIOCore
import NIOHTTP1
import Testing

@testable import gw

extension EndToEnd {
    @Suite struct Shutdown {
        static func start(_ yaml: String) async throws -> (Gateway, Int) {
            let gateway = try Gateway.build(GatewayOptions(configFile: try writeConfig(yaml), logLevel: .critical, eventLoops: 1))
            try await gateway.start()
            return (gateway, try requirePort(gateway.port(of: "main")))
        }

        static let directYAML = """
            listeners:
              - name: main
                address: 127.0.0.1:0
            admin: off
            routes:
              - name: hello
                direct_response: {status: 200, body: hi}
            """

        @Test func afterShutdownTheListenerIsClosed() async throws {
            let (gateway, port) = try await Self.start(Self.directYAML)
            #expect(try await TestClient.send(port: port, .GET, "/").text == "hi")
            await gateway.shutdown(deadline: .seconds(2))
            await #expect(throws: (any Error).self) { _ = try await TestClient.connect(port: port) }
        }

        @Test
        func anIdleKeepAliveClientDoesNotDelayShutdown() async throws {
            let (gateway, port) = try await Self.start(Self.directYAML)
            let client = try await TestClient.connect(port: port)
            #expect(try await client.request(.GET, "/").status == .ok)
            let start = NIODeadline.now()
            await gateway.shutdown(deadline: .seconds(3))
            #expect(NIODeadline.now() - start < .seconds(1))
            #expect(await client.waitForClose(timeout: .milliseconds(500)))
            await client.close()
        }

        @Test
        func anotherGatewaysConnectionsDoNotDelayShutdown() async throws {
            let (first, _) = try await Self.start(Self.directYAML)
            let (second, secondPort) = try await Self.start(Self.directYAML)
            let client = try await TestClient.connect(port: secondPort)
            #expect(try await client.request(.GET, "/").status == .ok)
            let start = NIODeadline.now()
            await first.shutdown(deadline: .seconds(3))
            #expect(NIODeadline.now() - start < .seconds(1))
            await client.close()
            await second.shutdown(deadline: .seconds(3))
        }
    
        @Test
        func anInFlightRequestFinishesDuringShutdown() async throws {
            try await withUpstream(.delayed(.milliseconds(400), .fixed(200, body: "late but whole"))) { upstream in
                let yaml = gatewayYAML(upstreamPort: upstream.port, routes: proxyRoute())
                let gateway = try Gateway.build(GatewayOptions(configFile: try writeConfig(yaml), logLevel: .critical, eventLoops: 1))
                try await gateway.start()
                let port = try requirePort(gateway.port(of: "main"))
                async let response = TestClient.send(port: port, .GET, "/slow")
                try await Task.sleep(for: .milliseconds(100))
                let start = NIODeadline.now()
                await gateway.shutdown(deadline: .seconds(5))
                let answered = try await response
                #expect(answered.status == .ok)
                #expect(answered.text == "late but whole")
                #expect(answered.headers.first(name: "connection") == "close")
                #expect(NIODeadline.now() - start < .seconds(3))
            }
        }
    }
}
