import GatewayTestSupport
import NIOHTTP1
import PluginHost
import Testing

@testable import gw

/// Requests are routed, filtered and forwarded by their normalised path.
@Suite struct PathNormalizerTests {
    @Test(arguments: [
        ("/", nil), ("/a/b?x=1", nil), ("/.well-known/acme", nil), ("/a..b/c.", nil), ("/a/%2F/b", nil), ("*", nil),
        ("http://h.test/a/../b", nil),
        ("/a/../admin", "/admin"), ("/a/./b/", "/a/b/"), ("/a/b/..", "/a/"), ("/a/b/.", "/a/b/"), ("//admin", "/admin"),
        ("/a///b//", "/a/b/"), ("/%61dmin/%7Euser", "/admin/~user"), ("/a/%2e%2e/admin", "/admin"), ("/a/%2E./b", "/b"),
        ("/a/%2f/%5c", "/a/%2F/%5C"), ("/a/../b?q=/../%2e", "/b?q=/../%2e"), ("/..a/../b", "/b"), ("/a/..", "/"),
        ("//", "/"), ("/./", "/"),
        // Parameters on other segments, and dots that are not a whole dot segment, are ordinary.
        ("/a;v=1/b", nil), ("/a/...;x/b", nil), ("/a/x..;/b", nil), ("/a/;/b", nil),
    ] as [(String, String?)])
    func paths(_ target: String, _ expected: String?) throws {
        #expect(try PathNormalizer.normalize(target) == expected)
    }

    @Test(arguments: [
        ("/..", PathNormalizer.Failure.aboveRoot), ("/a/../../b", .aboveRoot), ("/%2e%2e/etc/passwd", .aboveRoot),
        ("/a%zz", .badEscape), ("/a%2", .badEscape), ("/a%", .badEscape), ("/a%2?x", .badEscape),
        ("/public\\..\\admin", .backslash), ("/a\\b", .backslash),
        ("/public/..;/admin", .dotSegmentParameters), ("/public/..;jsessionid=x/admin", .dotSegmentParameters),
        ("/a/.;x/b", .dotSegmentParameters), ("/a/%2e%2e;/b", .dotSegmentParameters), ("/a/..%3b/b", .dotSegmentParameters),
        ("/a/.%3B/b", .dotSegmentParameters), ("/..;", .dotSegmentParameters),
    ])
    func refused(_ target: String, _ failure: PathNormalizer.Failure) {
        #expect(throws: failure) { try PathNormalizer.normalize(target) }
    }

    @Test func encodedSlashesAreKeptOrRefused() throws {
        #expect(try PathNormalizer.normalize("/a%2fb/%5c") == "/a%2Fb/%5C")
        for target in ["/public/..%2Fadmin", "/a%2fb", "/a/%5C/b", "/a/%5c"] {
            #expect(throws: PathNormalizer.Failure.encodedSlash, "\(target)") {
                try PathNormalizer.normalize(target, encodedSlashes: .reject)
            }
        }
        // Only in the path: the query is left as sent.
        #expect(try PathNormalizer.normalize("/a/./b?next=%2Fhome", encodedSlashes: .reject) == "/a/b?next=%2Fhome")
        #expect(try PathNormalizer.normalize("/a?next=%2F", encodedSlashes: .reject) == nil)
    }

    @Test func encodedSlashesRejectedEndToEnd() async throws {
        let yaml = { (port: Int) in Self.yaml(port) + "\nencoded_slashes: reject\n" }
        #expect(try ConfigLoader.parse(yaml(1), file: "t.yaml").encodedSlashes == .reject)
        try await withProxy(.echo, yaml: yaml) { upstream, gw in
            let refused = try await gw.send(.GET, "/public/..%2Fadmin/keys")
            #expect(refused.status == .badRequest)
            #expect(refused.errorType == "bad_path")
            #expect(refused.text.contains("encoded slash"), "\(refused.text)")
            let plain = try await gw.send(.GET, "/public/a?next=%2Fhome")
            #expect(plain.status == .ok)
            #expect(upstream.lastRequest?.head.uri == "/public/a?next=%2Fhome")
            #expect(upstream.requestCount == 1)
            // A filter's path with one is refused too (GW_E_BAD_ARGUMENT; transform keeps the path).
            let filtered = try await gw.send(.GET, "/w/a")
            #expect(filtered.status == .ok)
            #expect(upstream.lastRequest?.head.uri == "/w/a")
        }
        // Kept by default: the filter's path goes upstream with its escape.
        try await withProxy(.echo, yaml: { Self.yaml($0) }) { upstream, gw in
            let kept = try await gw.send(.GET, "/w/a")
            #expect(kept.status == .ok)
            #expect(upstream.lastRequest?.head.uri == "/a%2Fz")
        }
    }

    @Test func rejectingEncodedSlashesWithoutNormalisingIsNamed() {
        let text = Self.yaml(1, normalize: false) + "\nencoded_slashes: reject\n"
        #expect {
            try ConfigLoader.parse(text, file: "t.yaml")
        } throws: { error in
            "\(error)".contains("encoded_slashes: reject needs normalize_paths: true")
        }
    }

    @Test(arguments: [
        ("http://h.test", "/"), ("http://h.test?x=1", "/?x=1"), ("HTTPS://h.test:8443/a/b?c", "/a/b?c"), ("http://[::1]:80/x", "/x"),
    ])
    func absoluteTargetsGiveTheirOriginForm(_ target: String, _ originForm: String) throws {
        let result = Array(target.utf8).withUnsafeBytes { raw in
            AbsoluteTarget.isAbsolute(raw) ? AbsoluteTarget.parse(raw, host: nil) : nil
        }
        #expect(try result?.get() == originForm)
    }

    @Test(arguments: [
        ("http://", nil), ("https://", nil), ("http:/", nil), ("http:///x", nil), ("http://u@h.test/", nil), ("http://h.test:99999/", nil),
        ("http://h.test/p#f", nil), ("http://h.test#f", nil), ("http://h.test/", "other.test"), ("http://h.test:80/", "h.test"),
    ] as [(String, String?)])
    func absoluteTargetsThatAreRefused(_ target: String, _ host: String?) {
        let result = Array(target.utf8).withUnsafeBytes { raw in
            Array((host ?? "").utf8).withUnsafeBytes { h in AbsoluteTarget.parse(raw, host: host == nil ? nil : h) }
        }
        if case .success(let path) = result { Issue.record("\(target) with Host \(host ?? "none") gave \(path)") }
    }

    @Test(arguments: ["https:", "http:/x", "*", "/http://x", "ftp://h/x", "htt://h/"])
    func otherTargetsAreNotAbsolute(_ target: String) {
        #expect(!Array(target.utf8).withUnsafeBytes { AbsoluteTarget.isAbsolute($0) })
    }

    @Test func anUnknownEncodedSlashesValueIsNamed() {
        let text = Self.yaml(1) + "\nencoded_slashes: decode\n"
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix("encoded_slashes") }! + 1
        #expect {
            try ConfigLoader.parse(text, file: "t.yaml")
        } throws: { error in
            "\(error)".contains("t.yaml:\(line): encoded_slashes: unknown value \"decode\" (expected one of: keep, reject)")
        }
    }

    static func yaml(_ port: Int, normalize: Bool? = nil) -> String {
        gatewayYAML(upstreamPort: port, routes: """
              - name: admin
                match: {prefix: "/admin/"}
                direct_response: {status: 403, body: "admin route"}
              - name: static
                match: {prefix: "/static"}
                upstream: up
                rewrite: {path: "/files/$1"}
              - name: up
                match: {prefix: "/up"}
                upstream: up
                rewrite: {path: "/$1"}
              - name: filtered
                match: {prefix: "/t/"}
                upstream: up
                filters: [{plugin: transform, config: {request: {path: {regex: "^/t/(.*)$", replace: "/files/$1/.."}}}}]
              - name: climbing
                match: {prefix: "/u/"}
                upstream: up
                filters: [{plugin: transform, config: {request: {path: {regex: "^/u/(.*)$", replace: "/$1/../.."}}}}]
              - name: encoding
                match: {prefix: "/w/"}
                upstream: up
                filters: [{plugin: transform, config: {request: {path: {regex: "^/w/(.*)$", replace: "/$1%2Fz"}}}}]
              - name: public
                match: {prefix: "/"}
                upstream: up
            """) + (normalize.map { "\nnormalize_paths: \($0)\n" } ?? "")
    }

    /// A route's rewrite and a filter's path change are normalised too: neither can put
    /// back a dot segment the upstream would resolve.
    @Test func rewrittenPathsAreNormalisedAsWell() async throws {
        try await withProxy(.echo, yaml: { Self.yaml($0) }) { upstream, gw in
            let r1 = try await gw.send(.GET, "/static/a/b")
            #expect(r1.status == .ok)
            #expect(upstream.lastRequest?.head.uri == "/files/a/b")
            // Unchanged by normalising (`..` is part of a segment), but the template makes
            // `/files/../x`, which is `/x`: out of `/files/`, so refused.
            let r2 = try await gw.send(.GET, "/static../x")
            #expect(r2.status == .badRequest)
            #expect(r2.errorType == "bad_path")
            #expect(upstream.lastRequest?.head.uri == "/files/a/b", "nothing more reached the upstream")
            let r2b = try await gw.send(.GET, "/static..")
            #expect(r2b.status == .badRequest, "/files/.. is /")
            // A dot segment that stays inside the template's text is resolved as before.
            let r2c = try await gw.send(.GET, "/static/a/../b")
            #expect(r2c.status == .ok)
            #expect(upstream.lastRequest?.head.uri == "/files/b")
            // `/up../x` is normal; the template `/$1` makes `/../x`.
            let r3 = try await gw.send(.GET, "/up../x")
            #expect(r3.status == .badRequest)
            #expect(r3.errorType == "bad_path")

            // A filter's new path: `/files/a/b/..` goes upstream as `/files/a/`.
            let r4 = try await gw.send(.GET, "/t/a/b")
            #expect(r4.status == .ok)
            #expect(upstream.lastRequest?.head.uri == "/files/a/")
            // One that climbs above the root is refused (GW_E_BAD_ARGUMENT; transform keeps the path).
            let r5 = try await gw.send(.GET, "/u/x")
            #expect(r5.status == .ok)
            #expect(upstream.lastRequest?.head.uri == "/u/x")
        }
    }

    /// A route with stricter filters cannot be walked around with `..`, doubled slashes
    /// or escapes, and the upstream gets the path that was routed.
    @Test func aRequestIsRoutedAndForwardedByItsNormalisedPath() async throws {
        try await withProxy(.echo, yaml: { Self.yaml($0) }) { upstream, gw in
            for sneaky in ["/public/../admin/keys", "//admin/keys", "/%61dmin/keys", "/public/%2e%2e/admin/keys", "/admin/./keys"] {
                let response = try await gw.send(.GET, sneaky)
                #expect(response.status == .forbidden, "\(sneaky)")
                #expect(response.text == "admin route", "\(sneaky)")
            }
            #expect(upstream.requestCount == 0)

            #expect(try await gw.send(.GET, "/a/./b//c/../%7Euser?q=/../%2e").status == .ok)
            #expect(upstream.lastRequest?.head.uri == "/a/b/~user?q=/../%2e")

            let above = try await gw.send(.GET, "/../etc/passwd")
            #expect(above.status == .badRequest)
            #expect(above.errorType == "bad_path")
            let escape = try await gw.send(.GET, "/a%zz")
            #expect(escape.status == .badRequest)
            #expect(escape.errorType == "bad_path")
            // A servlet container reads `..;` as `..`: refused, not routed by `/public`.
            let parameters = try await gw.send(.GET, "/public/..;/admin/keys")
            #expect(parameters.status == .badRequest)
            #expect(parameters.errorType == "bad_path")
            #expect(parameters.text.contains("dot segment with parameters"), "\(parameters.text)")
            #expect(upstream.requestCount == 1)
        }
    }

    /// A forward-proxy request line (`GET http://host/path`, RFC 9112 §3.2.2) is routed,
    /// filtered and forwarded by its origin form, normalised like any other path.
    @Test func absoluteFormTargetsAreTakenAsTheirOriginForm() async throws {
        try await withProxy(.echo, yaml: { Self.yaml($0) }) { upstream, gw in
            let sneaky = try await gw.send(.GET, "http://127.0.0.1/public/../admin/keys")
            #expect(sneaky.status == .forbidden)
            #expect(sneaky.text == "admin route")
            let plain = try await gw.send(.GET, "HTTP://127.0.0.1/public/x?q=1")
            #expect(plain.status == .ok)
            #expect(upstream.lastRequest?.head.uri == "/public/x?q=1")
            let bare = try await gw.send(.GET, "http://127.0.0.1?q=1")
            #expect(bare.status == .ok)
            #expect(upstream.lastRequest?.head.uri == "/?q=1")
            #expect(upstream.requestCount == 2)

            // The authority must be a host[:port], and the Host the request carries.
            for (target, reason) in [
                ("http://evil.test/public/x", "and Host"), ("http://user@127.0.0.1/x", "is not a host[:port]"),
                ("http:///x", "is not a host[:port]"), ("https://a,b/x", "is not a host[:port]"),
            ] {
                let bad = try await gw.send(.GET, target)
                #expect(bad.status == .badRequest, "\(target)")
                #expect(bad.text.contains(reason), "\(target): \(bad.text)")
            }
            #expect(upstream.requestCount == 2)
        }
    }

    @Test func normalisationCanBeTurnedOff() async throws {
        #expect(try ConfigLoader.parse(Self.yaml(1, normalize: false), file: "t.yaml").normalizePaths == false)
        try await withProxy(.echo, yaml: { Self.yaml($0, normalize: false) }) { upstream, gw in
            let response = try await gw.send(.GET, "/public/../admin/keys")
            #expect(response.status == .ok)
            #expect(upstream.lastRequest?.head.uri == "/public/../admin/keys")
        }
    }
}
