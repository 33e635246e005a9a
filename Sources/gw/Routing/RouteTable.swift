import NIOHTTP1
import PluginHost

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One compiled route: its match rules and what to do with a matching request.
final class CompiledRoute: Sendable {
    enum PathRule: Sendable {
        case exact(String)
        case prefix(String)
        case regex(PCRE2Regex)
    }

    enum HeaderRule: Sendable {
        case exact(String)
        case present
        case regex(PCRE2Regex)
    }

    enum Action: Sendable {
        case proxy(UpstreamSet)
        case direct(status: Int, body: String, contentType: String)
        /// Answered by the AI catalogue (chat, messages, embeddings, models).
        case ai(AIRuntime, GatewayConfig.AIRoute)
    }

    let name: String
    /// Exact hosts, or suffixes for wildcards ("*.example.com" -> ".example.com"). Empty = any.
    let hosts: [String]
    let methods: Set<String>
    let path: PathRule
    let headers: [(name: String, rule: HeaderRule)]
    let action: Action
    /// Path rewrite with `$1`.. captures from a regex path (or the part after a prefix as `$1`).
    let rewritePath: String?
    /// The rewrite template's text before its first capture, normalised: a rewritten
    /// path must still start with it once normalised. Otherwise a capture climbed out
    /// of it (`/static../x` with prefix `/static` and template `/files/$1` is
    /// `/files/../x`, which is `/x`): the route would reach any upstream path.
    let rewriteFixedPrefix: String?
    let chain: FilterChain
    /// Retries and failover (docs/reliability.md).
    let reliability: GatewayConfig.RouteReliability
    /// A route that is only an exact or prefix path (no methods, hosts, header rules or
    /// rewrite), the common one: `match` compares these bytes and nothing else, so a
    /// request runs a few lines of code instead of every rule's.
    private let isPlain: Bool
    private let plainIsExact: Bool
    private let plainBytes: [UInt8]

    init(
        name: String, hosts: [String], methods: Set<String>, path: PathRule, headers: [(name: String, rule: HeaderRule)],
        action: Action, rewritePath: String?, chain: FilterChain, reliability: GatewayConfig.RouteReliability = .init()
    ) {
        self.reliability = reliability
        self.name = name
        self.hosts = hosts
        self.methods = methods
        self.path = path
        self.headers = headers
        self.action = action
        self.rewritePath = rewritePath
        rewriteFixedPrefix = rewritePath.map { template in
            var fixed = Substring(template)
            var i = template.startIndex
            while let dollar = template[i...].firstIndex(of: "$") {
                let next = template.index(after: dollar)
                if next < template.endIndex, template[next].isWholeNumber {
                    fixed = template[..<dollar]
                    break
                }
                i = next
            }
            let text = String(fixed)
            return (try? PathNormalizer.normalize(text)).flatMap { $0 } ?? text
        }
        self.chain = chain
        var plain: (bytes: [UInt8], exact: Bool)?
        if hosts.isEmpty && methods.isEmpty && headers.isEmpty && rewritePath == nil {
            switch path {
            case .exact(let p): plain = (Array(p.utf8), true)
            case .prefix(let p): plain = (Array(p.utf8), false)
            case .regex: plain = nil
            }
        }
        isPlain = plain != nil
        plainIsExact = plain?.exact ?? false
        plainBytes = plain?.bytes ?? []
    }

    /// The path captures if this route matches, else nil.
    /// Paths compare byte for byte (as sent, percent-encoding and all): `Substring`'s
    /// `==` and `hasPrefix` compare characters with Unicode normalisation, which cost
    /// about 700 instructions per route tried.
    /// `pathBytes`: the path's UTF-8 bytes, the first ones of `uri`'s (contiguous). The
    /// path is made a `Substring` only for captures (a rewrite or a regex): slicing a
    /// string checks its indices, ~150 instructions.
    func match(
        method: HTTPMethod, host: String, uri: String, pathBytes: UnsafeRawBufferPointer,
        headers fields: (String) -> [String]
    ) -> [Substring?]? {
        guard isPlain else { return matchRules(method: method, host: host, uri: uri, pathBytes: pathBytes, headers: fields) }
        let matches = plainBytes.withUnsafeBytes { wanted in
            (!plainIsExact || pathBytes.count == wanted.count) && bytesHavePrefix(pathBytes, wanted)
        }
        return matches ? [] : nil
    }

    /// `match` for a route with more than a path.
    @inline(never)
    private func matchRules(
        method: HTTPMethod, host: String, uri: String, pathBytes: UnsafeRawBufferPointer,
        headers fields: (String) -> [String]
    ) -> [Substring?]? {
        if !methods.isEmpty && !methods.contains(method.rawValue) { return nil }
        if !hosts.isEmpty {
            let bare = Self.stripPort(host).lowercased()
            guard hosts.contains(where: { $0.hasPrefix(".") ? bare.hasSuffix($0) : bare == $0 }) else { return nil }
        }
        let captures: [Substring?]
        switch path {
        // Captures feed only the rewrite: without one, no array is built.
        case .exact(let p):
            guard utf8Equals(pathBytes, p) else { return nil }
            captures = rewritePath == nil ? [] : [Self.path(of: uri, count: pathBytes.count)]
        case .prefix(let p):
            guard utf8HasPrefix(pathBytes, p) else { return nil }
            if rewritePath == nil {
                captures = []
            } else {
                let path = Self.path(of: uri, count: pathBytes.count)
                captures = [path, path[path.utf8.index(path.startIndex, offsetBy: p.utf8.count)...]]
            }
        case .regex(let regex):
            guard let found = regex.match(String(Self.path(of: uri, count: pathBytes.count))) else { return nil }
            captures = found
        }
        for (name, rule) in headers {
            let values = fields(name)
            switch rule {
            case .present: if values.isEmpty { return nil }
            case .exact(let v): if !values.contains(v) { return nil }
            case .regex(let r): if !values.contains(where: { r.matches($0) }) { return nil }
            }
        }
        return captures
    }

    /// The first `count` bytes of `uri` (its path), as a `Substring`.
    private static func path(of uri: String, count: Int) -> Substring {
        uri[..<uri.utf8.index(uri.utf8.startIndex, offsetBy: count)]
    }

    /// Apply the rewrite template to the captures.
    func rewrite(captures: [Substring?]) -> String? {
        guard let template = rewritePath else { return nil }
        var out = ""
        var chars = template.makeIterator()
        var pendingDollar = false
        while let c = chars.next() {
            if pendingDollar {
                pendingDollar = false
                if let digit = c.wholeNumberValue {
                    if digit < captures.count, let capture = captures[digit] { out += capture }
                    continue
                }
                out.append("$")
            }
            if c == "$" { pendingDollar = true } else { out.append(c) }
        }
        if pendingDollar { out.append("$") }
        return out
    }

    static func stripPort(_ host: String) -> Substring {
        if host.hasPrefix("[") { return host.firstIndex(of: "]").map { host[...$0] } ?? Substring(host) }
        return host.lastIndex(of: ":").map { host[..<$0] } ?? Substring(host)
    }
}

/// Whether `text` starts with the bytes of `prefix` (`memcmp`; the generic
/// `starts(with:)` walked the views an element at a time).
@inline(__always)
func utf8HasPrefix(_ text: UnsafeRawBufferPointer, _ prefix: String) -> Bool {
    prefix.utf8.withContiguousStorageIfAvailable { bytesHavePrefix(text, UnsafeRawBufferPointer($0)) }
        ?? text.starts(with: prefix.utf8)
}

/// Whether `text` starts with `prefix` (`memcmp`).
@inline(__always)
func bytesHavePrefix(_ text: UnsafeRawBufferPointer, _ prefix: UnsafeRawBufferPointer) -> Bool {
    prefix.count <= text.count && (prefix.isEmpty || memcmp(text.baseAddress!, prefix.baseAddress!, prefix.count) == 0)
}

/// Whether `text` is exactly the bytes of `other`.
@inline(__always)
func utf8Equals(_ text: UnsafeRawBufferPointer, _ other: String) -> Bool {
    text.count == other.utf8.count && utf8HasPrefix(text, other)
}

/// The immutable, ordered route table: the first matching route wins.
final class RouteTable: Sendable {
    let routes: [CompiledRoute]

    init(routes: [CompiledRoute]) {
        self.routes = routes
    }

    struct Match {
        let route: CompiledRoute
        let captures: [Substring?]
    }

    func match(_ head: HTTPRequestHead) -> Match? {
        match(method: head.method, uri: head.uri, host: head.headers.first(name: "host"), headers: { head.headers[$0] })
    }

    /// `host`: the request's Host header; `headers`: the values of a header, for
    /// routes with header rules.
    func match(method: HTTPMethod, uri: String, host: String?, headers: (String) -> [String]) -> Match? {
        let host = host ?? ""
        // The routes compare the path's bytes in place: a `Substring`'s UTF-8 view
        // reached its storage through the generic `Slice` path, ~220 instructions a route.
        // The query is found in those bytes too, and the path's `Substring` is made only
        // for a route that captures: `Substring(uri)`, `utf8.firstIndex(of:)` and
        // `utf8.count` on the slice went through the standard library's general paths
        // (~300 instructions and ~15 instruction-cache lines a request).
        var contiguous = uri
        return contiguous.withUTF8 { all in
            let bytes = UnsafeRawBufferPointer(all)
            let pathCount = bytes.firstIndex(of: UInt8(ascii: "?")) ?? bytes.count
            let pathBytes = UnsafeRawBufferPointer(rebasing: bytes[..<pathCount])
            for route in routes {
                if let captures = route.match(method: method, host: host, uri: uri, pathBytes: pathBytes, headers: headers) {
                    return Match(route: route, captures: captures)
                }
            }
            return nil
        }
    }
}
