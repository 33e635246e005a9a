import Foundation
import GatewayTestSupport
import Testing

/// `gw check` and `gw plugins inspect`, run as the built `gw` executable.
@Suite(.timeLimit(.minutes(1)))
struct CheckCommandTests {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static var gwExecutable: String? {
        guard let dir = FixturePlugins.buildProductsDirectory else { return nil }
        let path = "\(dir)/gw"
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    static func run(_ arguments: [String]) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try #require(gwExecutable, "the gw executable is not built"))
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    @Test func checkPrintsEveryErrorWithFileLineAndKeyAndExitsWithOne() throws {
        let reject = try FixturePlugins.fixture("reject_config")
        let path = try writeConfig("""
            version: 1
            listeners:
              - name: main
                address: 127.0.0.1:0
                colour: red
            upstreams:
              up:
                targets: [127.0.0.1:9]
                connect_timeout: whenever
            routes:
              - name: r
                upstream: up
            """)
        let output = try Self.run(["check", "--config", path])
        #expect(output.status == 1)
        #expect(output.stderr.contains("\(path):5: listeners[0].colour: unknown key"), "stderr: \(output.stderr)")
        #expect(output.stderr.contains("\(path):9: upstreams.up.connect_timeout: expected a duration"))
        #expect(output.stderr.contains("2 error(s)"))
        #expect(!output.stdout.contains("OK"))

        // Plugin configs are checked too (by the plugin itself).
        let pluginPath = try writeConfig("""
            upstreams:
              up:
                targets: [127.0.0.1:9]
            routes:
              - name: r
                upstream: up
                filters:
                  - plugin: \(reject)
                    config: {limit: -1}
            """)
        let plugin = try Self.run(["check", "--config", pluginPath])
        #expect(plugin.status == 1)
        #expect(plugin.stderr.contains("\(pluginPath):8: routes[0].filters[0].config: "), "stderr: \(plugin.stderr)")
        #expect(plugin.stderr.contains("limit must be a positive integer"))
    }

    @Test func checkAcceptsAGoodConfigAndCountsWhatItLoaded() throws {
        let c = try FixturePlugins.cSample()
        let path = try writeConfig("""
            listeners:
              - name: main
                address: 127.0.0.1:0
            upstreams:
              up:
                targets: [127.0.0.1:9]
            routes:
              - name: a
                upstream: up
                filters: [{plugin: \(c)}]
              - name: b
                match: {path: /b}
                direct_response: {status: 204}
            """)
        let output = try Self.run(["check", "--config", path])
        #expect(output.status == 0, "stderr: \(output.stderr)")
        #expect(output.stdout.contains("\(path): OK (2 routes, 1 upstreams, 1 plugins)"), "stdout: \(output.stdout)")
    }

    @Test func pluginsInspectDescribesAPluginFile() throws {
        let path = try FixturePlugins.fixture("body_upper")
        let output = try Self.run(["plugins", "inspect", path])
        #expect(output.status == 0, "stderr: \(output.stderr)")
        #expect(output.stdout.contains("name:      fixture_body_upper"))
        #expect(output.stdout.contains("requires:  request_body, response_body"))
        #expect(output.stdout.contains("hooks:     config_new, config_destroy, filter_new, filter_destroy, on_request_headers, on_request_body, on_response_headers, on_response_body"))

        let refused = try Self.run(["plugins", "inspect", try FixturePlugins.fixture("wrong_abi")])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("plugin ABI major version 2"))
    }
}
