import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import PluginHost
import Testing

@testable import gw

/// Route matching and rewriting, compiled from YAML as the gateway does it.
@Suite struct RouteTableTests {
    static func services() -> HostServices {
        var logger = Logger(label: "gw.test")
        logger.logLevel = .critical
        return HostServices(logger: logger)
    }

    /// Compile `routes` (YAML list items) with one upstream "up" and a direct route fallback.
    static func table(_ routes: String) throws -> RouteTable {
        let yaml = """
            upstreams:
              up:
                targets: [127.0.0.1:9]
            routes:
            \(routes)
            """
        let config = try ConfigLoader.parse(yaml, file: "routes.yaml")
        let services = services()
        let state = try GatewayState.compile(
            config, loader: PluginLoader(searchPath: [], services: services), services: services,
            pools: LoopPools(group: MultiThreadedEventLoopGroup.singleton), version: 1)
        return state.routes
    }

    static func request(_ method: HTTPMethod = .GET, _ uri: String, host: String = "example.com", headers: [(String, String)] = []) -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: HTTPHeaders([("host", host)] + headers))
    }

    /// Name of the matching route, or nil.
    static func route(_ table: RouteTable, _ head: HTTPRequestHead) -> String? {
        table.match(head)?.route.name
    }

    /// The path sent upstream after the route's rewrite (nil: no rewrite).
    static func rewritten(_ table: RouteTable, _ uri: String) -> String? {
        guard let match = table.match(request(.GET, uri)) else { return nil }
        return match.route.rewrite(captures: match.captures)
    }

    @Test func anExactPathMatchesOnlyThatPathWhateverTheQuery() throws {
        let table = try Self.table("""
              - name: exact
                match: {path: /status}
                upstream: up
            """)
        #expect(Self.route(table, Self.request(.GET, "/status")) == "exact")
        #expect(Self.route(table, Self.request(.GET, "/status?verbose=1")) == "exact")
        #expect(Self.route(table, Self.request(.GET, "/status/")) == nil)
        #expect(Self.route(table, Self.request(.GET, "/statusx")) == nil)
        #expect(Self.route(table, Self.request(.GET, "/")) == nil)
    }

    @Test func aPrefixMatchesEverythingBelowItAndRewritesTheRestAsDollarOne() throws {
        let table = try Self.table("""
              - name: api
                match: {prefix: /api/}
                upstream: up
                rewrite: {path: /v2/$1}
            """)
        #expect(Self.route(table, Self.request(.GET, "/api/users")) == "api")
        #expect(Self.route(table, Self.request(.GET, "/api")) == nil)
        #expect(Self.route(table, Self.request(.GET, "/apix/users")) == nil)
        #expect(Self.rewritten(table, "/api/users/7") == "/v2/users/7")
        #expect(Self.rewritten(table, "/api/") == "/v2/")
    }

    /// Paths compare byte for byte, as sent: no Unicode normalisation (a decomposed
    /// "é" is not the precomposed one), case matters, and a prefix may end inside what
    /// would be one character (a combining mark after it).
    @Test func pathsCompareByteForByte() throws {
        let table = try Self.table("""
              - name: precomposed
                match: {prefix: "/caf\u{e9}/"}
                upstream: up
                rewrite: {path: /x/$1}
              - name: exact
                match: {path: "/Status"}
                upstream: up
              - name: base
                match: {prefix: /e}
                upstream: up
                rewrite: {path: /rest$1}
            """)
        #expect(Self.route(table, Self.request(.GET, "/caf\u{e9}/menu")) == "precomposed")
        #expect(Self.rewritten(table, "/caf\u{e9}/menu") == "/x/menu")
        #expect(Self.route(table, Self.request(.GET, "/cafe\u{301}/menu")) == nil)
        #expect(Self.route(table, Self.request(.GET, "/Status")) == "exact")
        #expect(Self.route(table, Self.request(.GET, "/status")) == nil)
        #expect(Self.route(table, Self.request(.GET, "/e\u{301}x")) == "base")
        #expect(Self.rewritten(table, "/e\u{301}x") == "/rest\u{301}x")
    }

    @Test func aRegexPathExposesItsCapturesToTheRewrite() throws {
        let table = try Self.table(#"""
              - name: posts
                match: {regex: '^/users/(\d+)/posts/([a-z]+)$'}
                upstream: up
                rewrite: {path: /p/$2/by/$1/$9/$x}
            """#)
        let match = try #require(table.match(Self.request(.GET, "/users/42/posts/hello?x=1")))
        #expect(match.route.name == "posts")
        #expect(match.captures.map { $0.map(String.init) } == ["/users/42/posts/hello", "42", "hello"])
        // $9 has no capture (empty); "$x" is not a reference and stays as written.
        #expect(match.route.rewrite(captures: match.captures) == "/p/hello/by/42//$x")
        #expect(table.match(Self.request(.GET, "/users/abc/posts/hello")) == nil)
        #expect(table.match(Self.request(.GET, "/users/42/posts/Hello")) == nil)
    }

    @Test func anExactHostMatchesWithoutPortAndCaseInsensitively() throws {
        let table = try Self.table("""
              - name: api-host
                match: {host: api.example.com, prefix: /}
                upstream: up
            """)
        #expect(Self.route(table, Self.request(.GET, "/", host: "api.example.com")) == "api-host")
        #expect(Self.route(table, Self.request(.GET, "/", host: "api.example.com:8443")) == "api-host")
        #expect(Self.route(table, Self.request(.GET, "/", host: "API.Example.COM")) == "api-host")
        #expect(Self.route(table, Self.request(.GET, "/", host: "example.com")) == nil)
        #expect(Self.route(table, Self.request(.GET, "/", host: "www.api.example.com")) == nil)
    }

    @Test func aWildcardHostMatchesSubdomainsButNotTheDomainItself() throws {
        let table = try Self.table("""
              - name: wild
                match: {hosts: ["*.example.com"]}
                upstream: up
            """)
        #expect(Self.route(table, Self.request(.GET, "/", host: "a.example.com")) == "wild")
        #expect(Self.route(table, Self.request(.GET, "/", host: "b.c.example.com:80")) == "wild")
        #expect(Self.route(table, Self.request(.GET, "/", host: "example.com")) == nil)
        #expect(Self.route(table, Self.request(.GET, "/", host: "badexample.com")) == nil)
        #expect(Self.route(table, Self.request(.GET, "/", host: "a.example.org")) == nil)
    }

    @Test func methodsRestrictARouteCaseInsensitivelyInTheConfig() throws {
        let table = try Self.table("""
              - name: writes
                match: {methods: [post, PUT], prefix: /}
                upstream: up
            """)
        #expect(Self.route(table, Self.request(.POST, "/x")) == "writes")
        #expect(Self.route(table, Self.request(.PUT, "/x")) == "writes")
        #expect(Self.route(table, Self.request(.GET, "/x")) == nil)
        #expect(Self.route(table, Self.request(.DELETE, "/x")) == nil)
    }

    @Test func headerRulesMatchExactValuesPresenceAndRegexes() throws {
        let table = try Self.table(#"""
              - name: exact
                match:
                  headers: {x-tenant: acme}
                upstream: up
              - name: present
                match:
                  headers:
                    x-debug: {present: true}
                upstream: up
              - name: regex
                match:
                  headers:
                    User-Agent: {regex: '^curl/\d+'}
                upstream: up
            """#)
        #expect(Self.route(table, Self.request(.GET, "/", headers: [("X-Tenant", "acme")])) == "exact")
        #expect(Self.route(table, Self.request(.GET, "/", headers: [("x-tenant", "acme-corp")])) == nil)
        #expect(Self.route(table, Self.request(.GET, "/", headers: [("x-debug", "")])) == "present")
        #expect(Self.route(table, Self.request(.GET, "/", headers: [("user-agent", "curl/8.5.0")])) == "regex")
        #expect(Self.route(table, Self.request(.GET, "/", headers: [("user-agent", "Mozilla/5.0 curl/8")])) == nil)
        #expect(Self.route(table, Self.request(.GET, "/")) == nil)
    }

    @Test func theFirstMatchingRouteWinsInConfigOrder() throws {
        let table = try Self.table("""
              - name: specific
                match: {prefix: /api/admin}
                upstream: up
              - name: general
                match: {prefix: /api}
                upstream: up
              - name: shadowed
                match: {prefix: /api/admin/users}
                upstream: up
              - name: fallback
                match: {prefix: /}
                direct_response: {status: 404, body: nope}
            """)
        #expect(Self.route(table, Self.request(.GET, "/api/admin/users")) == "specific")
        #expect(Self.route(table, Self.request(.GET, "/api/items")) == "general")
        #expect(Self.route(table, Self.request(.GET, "/other")) == "fallback")
        #expect(table.routes.map(\.name) == ["specific", "general", "shadowed", "fallback"])
    }
}
