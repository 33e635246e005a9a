// The cache filter's per-request cost (issue 3): a hit (lookup and local reply from the
// entry) and a miss that stores (lookup, flight, capture of headers and body, insert,
// LRU eviction once the zone is full). No sockets: the same FilterChainRun the server
// drives, on an EmbeddedEventLoop.
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import PluginHost

/// Accepts what the cache answers (a local reply on a hit).
final class CacheSink: FilterChainRunDelegate {
    var replies = 0
    var forwarded = 0
    func filterRunRequestHeadersDone(_ run: FilterChainRun) { forwarded &+= 1 }
    func filterRun(_ run: FilterChainRun, forwardRequestBody body: ByteBuffer, end: Bool) {}
    func filterRunResponseHeadersDone(_ run: FilterChainRun) { forwarded &+= 1 }
    func filterRun(_ run: FilterChainRun, forwardResponseBody body: ByteBuffer, end: Bool) {}
    func filterRun(_ run: FilterChainRun, sendLocalReply reply: LocalReply) {
        precondition(reply.status == .ok && reply.body.readableBytes == 100, "unexpected local reply \(reply.status)")
        replies &+= 1
    }
    func filterRun(_ run: FilterChainRun, failed failure: FilterFailure) { fatalError("\(failure)") }
    func filterRun(_ run: FilterChainRun, reset reason: String, status: HTTPResponseStatus) { fatalError(reason) }
}

/// Rows for the cache: ns per request on top of an empty chain doing the same work.
@MainActor
func cacheRows(
    cache: LoadedPlugin, services: HostServices, head: HTTPRequestHead, info: StreamInfo, arena: HookArena,
    makeFilter: (LoadedPlugin, String) throws -> ConfiguredFilter
) throws -> [(String, Double)] {
    // Without the bench head's Authorization, which the cache bypasses by default.
    var nioHead = head
    nioHead.headers.remove(name: "authorization")
    let head = requestBytes(nioHead)
    let loop = EmbeddedEventLoop()
    let sink = CacheSink()
    let response = responseBytes([("content-type", "application/json"), ("content-length", "100"), ("cache-control", "max-age=3600")])
    let body = ByteBuffer(string: String(repeating: "x", count: 100))

    func run(_ chain: FilterChain, _ requestHead: RequestHeadBytes) {
        let run = FilterChainRun(
            chain: chain, loop: loop, requestBytes: requestHead, info: info, services: services, bufferLimit: 1 << 20, arena: arena)
        run.delegate = sink
        let replied = sink.replies
        run.start(endOfStream: true)
        if sink.replies == replied {
            run.startResponse(bytes: response, endOfStream: false)
            run.responseBody(body, end: true)
        }
        run.finish()
    }

    let empty = FilterChain(filters: [])
    let hitChain = FilterChain(filters: [try makeFilter(cache, #"{"zone":"bench-hit","max_bytes":"16MiB"}"#)])
    // A zone that holds about 8000 entries: the miss loop runs into eviction early.
    let missChain = FilterChain(filters: [try makeFilter(cache, #"{"zone":"bench-miss","max_bytes":"4MiB"}"#)])

    // Hit: prime once, then every request is answered from the entry.
    run(hitChain, head)
    let repliesBefore = sink.replies
    let baseline = measure(iterations: 200_000) { run(empty, head) }
    let hit = measure(iterations: 200_000) { run(hitChain, head) }
    precondition(repliesBefore == 0 && sink.replies == 200_000 / 10 + rounds * 200_000, "the hit loop was not answered from the cache")

    // Miss: a new URI each time (built in both loops, so the baseline pays for it too).
    var counter = 0
    var missHead = head
    let missBaseline = measure(iterations: 100_000) {
        counter &+= 1
        missHead.uri = "/v1/items?page=\(counter)"
        run(empty, missHead)
    }
    let repliesAfterHits = sink.replies
    let miss = measure(iterations: 100_000) {
        counter &+= 1
        missHead.uri = "/v1/items?page=\(counter)"
        run(missChain, missHead)
    }
    precondition(sink.replies == repliesAfterHits, "the miss loop hit the cache")
    precondition(sink.forwarded > 0)
    return [
        ("+ cache, hit (lookup, local reply with a 100-byte body)", hit - baseline),
        ("+ cache, miss stored (lookup, capture, insert, LRU eviction)", miss - missBaseline),
    ]
}
