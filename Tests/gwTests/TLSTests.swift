import Foundation
import GatewayTestSupport
import NIOCore
import Testing

@testable import gw

/// A self-signed certificate for 127.0.0.1 / localhost, made with the openssl CLI.
private func makeCertificate() throws -> (cert: String, key: String) {
    let dir = FixturePlugins.makeTemporaryDirectory(prefix: "gw-tls")
    let cert = "\(dir)/cert.pem"
    let key = "\(dir)/key.pem"
    let status = try run(
        "/usr/bin/env",
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ])
    guard status.code == 0 else { throw TLSSetupError(message: status.output) }
    return (cert, key)
}

private struct TLSSetupError: Error {
    let message: String
}

private func run(_ executable: String, _ arguments: [String]) throws -> (code: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

extension EndToEnd {
    @Suite struct TLS {
        static func tlsListenerYAML(cert: String, key: String, routes: String, upstreamPort: Int = 9) -> String {
            """
            listeners:
              - name: main
                address: 127.0.0.1:0
                tls: {certificate: "\(cert)", private_key: "\(key)"}
            admin: off
            upstreams:
              up:
                targets: ["127.0.0.1:\(upstreamPort)"]
            routes:
            \(routes)
            """
        }

        @Test(.timeLimit(.minutes(1)))
        func aTLSListenerTerminatesTLSAndTellsTheUpstreamTheSchemeWasHTTPS() async throws {
            let (cert, key) = try makeCertificate()
            try await withUpstream(.echo) { upstream in
                let yaml = Self.tlsListenerYAML(cert: cert, key: key, routes: proxyRoute(), upstreamPort: upstream.port)
                try await withGateway(yaml: yaml) { gw in
                    let port = try requirePort(gw.gateway.port(of: "main"))
                    let result = try run("/usr/bin/env", ["curl", "-sk", "--max-time", "10", "https://127.0.0.1:\(port)/secure"])
                    #expect(result.code == 0, "curl: \(result.output)")
                    let seen = try #require(upstream.lastRequest)
                    #expect(seen.header("x-forwarded-proto") == "https")
                    #expect(seen.head.uri == "/secure")
                    // Plain HTTP to a TLS listener gets no HTTP answer.
                    let plain = try run("/usr/bin/env", ["curl", "-s", "--max-time", "5", "http://127.0.0.1:\(port)/"])
                    #expect(plain.code != 0)
                }
            }
        }

        @Test(.timeLimit(.minutes(1)))
        func anHTTPSUpstreamIsReachedOverTLSAndVerificationIsOnByDefault() async throws {
            let (cert, key) = try makeCertificate()
            // Gateway A terminates TLS and answers directly: it is the HTTPS upstream of gateway B.
            let yamlA = Self.tlsListenerYAML(
                cert: cert, key: key,
                routes: """
                      - name: secure
                        direct_response: {status: 200, body: "secure hello"}
                    """)
            try await withGateway(yaml: yamlA) { a in
                let portA = try requirePort(a.gateway.port(of: "main"))
                for (verify, expected) in [(false, 200), (true, 502)] {
                    let yamlB = """
                        listeners:
                          - name: main
                            address: 127.0.0.1:0
                        admin: off
                        upstreams:
                          secure:
                            targets: ["https://127.0.0.1:\(portA)"]
                            tls_verify: \(verify)
                        routes:
                          - name: via-tls
                            match: {prefix: /}
                            upstream: secure
                        """
                    try await withGateway(yaml: yamlB) { b in
                        let portB = try requirePort(b.gateway.port(of: "main"))
                        let response = try await TestClient.send(port: portB, .GET, "/")
                        #expect(Int(response.status.code) == expected, "tls_verify \(verify): \(response.text)")
                        if expected == 200 { #expect(response.text == "secure hello") }
                    }
                }
            }
        }
    }
}
