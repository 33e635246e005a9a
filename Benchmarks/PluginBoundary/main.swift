// The plugin-boundary micro-benchmark (issue 6): the cost of one hook call through
// the C ABI, of reading and setting a header from a plugin, and of a whole request
// through a four-filter chain. Run by bench/plugin-boundary.sh (release build).
//
// usage: gw-plugin-bench <libgw_bench_ops.so> [<dir with libgw_auth.so, libgw_rate_limit.so, libgw_transform.so, libgw_cache.so>]
import CGatewayPlugin
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import PluginHost

#if canImport(Glibc)
import Glibc
#endif

final class Sink: FilterChainRunDelegate {
    var forwarded = 0
    func filterRunRequestHeadersDone(_ run: FilterChainRun) { forwarded &+= 1 }
    func filterRun(_ run: FilterChainRun, forwardRequestBody body: ByteBuffer, end: Bool) {}
    func filterRunResponseHeadersDone(_ run: FilterChainRun) { forwarded &+= 1 }
    func filterRun(_ run: FilterChainRun, forwardResponseBody body: ByteBuffer, end: Bool) {}
    func filterRun(_ run: FilterChainRun, sendLocalReply reply: LocalReply) { fatalError("unexpected local reply \(reply.status)") }
    func filterRun(_ run: FilterChainRun, failed failure: FilterFailure) { fatalError("\(failure)") }
    func filterRun(_ run: FilterChainRun, reset reason: String, status: HTTPResponseStatus) { fatalError(reason) }
}

/// `GW_BENCH_ROUNDS`: rounds per measure (default 5; more to profile one row with perf).
let rounds = getenv("GW_BENCH_ROUNDS").flatMap { Int(String(cString: $0)) } ?? 5

/// Nanoseconds per iteration: the best of `rounds` rounds of `iterations`.
func measure(iterations: Int, _ body: () -> Void) -> Double {
    for _ in 0..<(iterations / 10) { body() }
    var best = Double.infinity
    for _ in 0..<rounds {
        let start = ContinuousClock.now
        for _ in 0..<iterations { body() }
        let elapsed = ContinuousClock.now - start
        let ns = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
        best = min(best, ns / Double(iterations))
    }
    return best
}

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    print("usage: gw-plugin-bench <libgw_bench_ops.so> [builtin plugin dir]")
    exit(2)
}
var logger = Logger(label: "bench")
logger.logLevel = .critical
let services = HostServices(logger: logger)
let loader = PluginLoader(searchPath: arguments.count > 2 ? [arguments[2]] : [], services: services)
let ops = try loader.load(arguments[1])

// 1. One hook call through the C ABI: a function pointer into a plain-C plugin.
var op: Int32 = 0
var sum: UInt32 = 0
let hook = ops.table.on_request_headers!
let fakeStream = OpaquePointer(bitPattern: 0x1000)!
let hookNs = withUnsafeMutablePointer(to: &op) { filter in
    measure(iterations: 20_000_000) { sum &+= hook(filter, fakeStream, true).rawValue }
}

// 2. Whole requests through chains (request headers, response headers, response end, finish).
let loop = EmbeddedEventLoop()
let sink = Sink()
var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/v1/items?page=2")
for (name, value) in [
    ("host", "api.example.com"), ("user-agent", "bench/1.0"), ("accept", "application/json"),
    ("authorization", "Bearer sk-bench-0123456789"), ("x-bench", "value"), ("x-request-id", "0123456789abcdef"),
] { head.headers.add(name: name, value: value) }
let response = responseBytes([("content-type", "application/json"), ("content-length", "100")])
let body = ByteBuffer(string: String(repeating: "x", count: 100))
let arena = HookArena()
let info = StreamInfo(scheme: "http", clientAddress: "127.0.0.1", requestID: "0123456789abcdef", routeName: "bench", upstreamName: "up")

func filter(_ plugin: LoadedPlugin, _ json: String) throws -> ConfiguredFilter {
    try ConfiguredFilter(plugin: plugin, name: nil, configJSON: json, failureMode: .closed, pauseTimeout: .seconds(30))
}

/// Heads in the form the server gives a filter run: header lines as bytes (what
/// `Exchange` builds for a filtered route), changes kept as a delta beside them.
func requestBytes(_ head: HTTPRequestHead) -> RequestHeadBytes {
    var buffer = ByteBuffer()
    var nameLengths: UInt64 = 0
    for (name, value) in head.headers {
        buffer.writeString("\(name): \(value)\r\n")
        nameLengths |= HeaderLines.lengthBit(name.utf8.count)
    }
    let lines = HeaderLines(bytes: buffer, start: 0, lineCount: head.headers.count, nameLengths: nameLengths)
    return RequestHeadBytes(lines: lines, method: head.method, uri: head.uri, version: head.version)
}

func responseBytes(_ fields: [(String, String)]) -> ResponseHeadBytes {
    let statusLine = "HTTP/1.1 200 OK\r\n"
    var buffer = ByteBuffer(string: statusLine)
    var nameLengths: UInt64 = 0
    for (name, value) in fields {
        buffer.writeString("\(name): \(value)\r\n")
        nameLengths |= HeaderLines.lengthBit(name.utf8.count)
    }
    buffer.writeString("\r\n")
    return ResponseHeadBytes(
        bytes: buffer, statusLineLength: statusLine.utf8.count, status: 200, version: .http1_1, lineCount: fields.count,
        nameLengths: nameLengths)
}

@MainActor
func perRequest(_ chain: FilterChain, head: HTTPRequestHead = head) -> Double {
    let request = requestBytes(head)
    return measure(iterations: 200_000) {
        let run = FilterChainRun(
            chain: chain, loop: loop, requestBytes: request, info: info, services: services, bufferLimit: 1 << 20, arena: arena)
        run.delegate = sink
        run.start(endOfStream: true)
        run.startResponse(bytes: response, endOfStream: false)
        run.responseBody(body, end: true)
        run.finish()
    }
}

// `GW_BENCH_ONLY=chain`: the built-in chain's row alone (to profile it, with
// GW_BENCH_ROUNDS raised).
let onlyChain = getenv("GW_BENCH_ONLY").map { String(cString: $0) } == "chain"
let empty = perRequest(FilterChain(filters: []))
var rows: [(String, Double)] = []
if !onlyChain {
    let noop = perRequest(FilterChain(filters: [try filter(ops, #"{"op":"noop"}"#)]))
    let get = perRequest(FilterChain(filters: [try filter(ops, #"{"op":"get"}"#)]))
    let set = perRequest(FilterChain(filters: [try filter(ops, #"{"op":"set"}"#)]))
    let fourOps = perRequest(FilterChain(filters: try ["noop", "get", "set", "getset"].map { try filter(ops, "{\"op\":\"\($0)\"}") }))
    rows = [
        ("one hook call through the C ABI (plain-C plugin, no host call)", hookNs),
        ("request through an empty chain (baseline: run object, no filters)", empty),
        ("+ 1 no-op filter (filter_new, 2 hooks, filter_destroy)", noop - empty),
        ("+ 1 filter reading a request header (header_get)", get - empty),
        ("+ 1 filter setting a response header (header_set)", set - empty),
        ("+ 4 C filters (noop, get, set, get+set)", fourOps - empty),
    ]
}

if arguments.count > 2 {
    let auth = try loader.load("auth")
    let rateLimit = try loader.load("rate_limit")
    let transform = try loader.load("transform")
    let builtin = FilterChain(filters: [
        try filter(auth, #"{"keys":[{"key":"sk-bench-0123456789","consumer":"bench"}]}"#),
        try filter(rateLimit, #"{"key":"consumer","limits":[{"requests":1000000,"per":"second"}]}"#),
        try filter(transform, #"{"response":{"headers":{"add":{"x-bench-transform":"1"}}}}"#),
        try filter(ops, #"{"op":"getset"}"#),
    ])
    rows.append(("+ auth + rate_limit + transform + 1 C filter (the built-in chain)", perRequest(builtin) - empty))
    if onlyChain {
        print("| \(rows[0].0) | \((rows[0].1 * 10).rounded() / 10) |")
        exit(0)
    }
    // Each built-in filter alone: its own per-request cost on top of the empty chain.
    var jwtHead = head
    jwtHead.headers.replaceOrAdd(
        name: "authorization",
        value: "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJiZW5jaCIsImlzcyI6Imd3LWJlbmNoIiwiZXhwIjo0MTAyNDQ0ODAwfQ.LDXt-wH171Sy0VphJRa0Q3T0x1asDTbmdmUZt178u8U")
    let jwt = #"{"jwt":{"algorithms":["HS256"],"issuer":"gw-bench","keys":[{"secret":"bench-secret-0123456789abcdef0123456789"}]}}"#
    let single: [(String, LoadedPlugin, String, HTTPRequestHead)] = [
        ("auth: API key (seeded-hash lookup, constant-time compare, credential stripped)", auth, #"{"keys":[{"key":"sk-bench-0123456789","consumer":"bench"}]}"#, head),
        ("auth: JWT HS256 (verify, exp/iss, consumer from sub)", auth, jwt, jwtHead),
        ("rate_limit: GCRA, one limit, in-process store", rateLimit, #"{"key":"client_ip","limits":[{"requests":1000000,"per":"second"}]}"#, head),
        ("rate_limit: token bucket, one limit", rateLimit, #"{"algorithm":"token_bucket","key":"client_ip","limits":[{"requests":1000000,"per":"second"}]}"#, head),
        ("transform: add a response header", transform, #"{"response":{"headers":{"add":{"x-bench-transform":"1"}}}}"#, head),
        ("transform: PCRE2 path rewrite", transform, #"{"request":{"path":{"regex":"^/v1/(.*)$","replace":"/api/$1"}}}"#, head),
    ]
    for (name, plugin, config, requestHead) in single {
        rows.append((name, perRequest(FilterChain(filters: [try filter(plugin, config)]), head: requestHead) - empty))
    }
    rows += try cacheRows(
        cache: try loader.load("cache"), services: services, head: head, info: info, arena: arena, makeFilter: filter)
}

print("| measure | ns |")
print("|---|---:|")
for (name, ns) in rows { print("| \(name) | \((ns * 10).rounded() / 10) |") }
if sum == 42 || sink.forwarded == -1 { print("") }  // keep the results observable
