import NIOCore
import NIOHTTP1
import PluginHost

/// Writes a head's many small pieces (names, ": ", values, CRLFs) into memory
/// reserved once: one capacity and one uniqueness check for the whole head instead of
/// one per piece (`ByteBuffer.writeStaticString` and friends each do both). Every
/// piece is bounds-checked against what was reserved; callers reserve an upper bound
/// computed from the same inputs (`ByteBuffer.writeHead`).
struct HeadWriter {
    private let base: UnsafeMutableRawPointer
    private let capacity: Int
    private(set) var count = 0

    init(_ raw: UnsafeMutableRawBufferPointer) {
        // `writeWithUnsafeMutableBytes(minimumWritableBytes:)` gives at least one byte here.
        base = raw.baseAddress!
        capacity = raw.count
    }

    @inline(__always)
    mutating func put(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        precondition(n <= capacity - count, "HeadWriter: the reserved bound was too small")
        if n > 0 { (base + count).copyMemory(from: bytes.baseAddress!, byteCount: n) }
        count += n
    }

    @inline(__always)
    mutating func put(_ text: StaticString) {
        put(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @inline(__always)
    mutating func put(_ text: String) {
        // Native and small strings are contiguous UTF-8.
        if text.utf8.withContiguousStorageIfAvailable({ put(UnsafeRawBufferPointer($0)) }) != nil { return }
        var copy = text
        copy.withUTF8 { put(UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    mutating func put(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { put($0) }
    }

    mutating func put(_ id: RequestID) {
        let n = id.byteCount
        precondition(n <= capacity - count, "HeadWriter: the reserved bound was too small")
        id.write(to: base + count)
        count += n
    }

    /// The method's name (the common ones without a string).
    mutating func put(_ method: HTTPMethod) {
        switch method {
        case .GET: put("GET")
        case .POST: put("POST")
        case .PUT: put("PUT")
        case .DELETE: put("DELETE")
        case .HEAD: put("HEAD")
        case .PATCH: put("PATCH")
        case .OPTIONS: put("OPTIONS")
        default: put(method.rawValue)
        }
    }

    /// An upper bound of what `put(method)` writes.
    static func bound(_ method: HTTPMethod) -> Int {
        switch method {
        case .GET, .POST, .PUT, .DELETE, .HEAD, .PATCH, .OPTIONS: return 7
        default: return method.rawValue.utf8.count
        }
    }
}

extension ByteBuffer {
    /// Write a head with `body` into at least `bound` bytes reserved at once; `bound`
    /// must be at least what `body` writes (checked: a smaller one stops the process
    /// rather than write past the reserved memory).
    @inline(__always)
    mutating func writeHead(reserving bound: Int, _ body: (inout HeadWriter) -> Void) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: Swift.max(bound, 1)) { raw in
            var writer = HeadWriter(raw)
            body(&writer)
            return writer.count
        }
    }
}

extension DownstreamHandler {
    /// What the proxy changes in an upstream's response head as it writes it.
    struct ProxiedHead {
        var requestID: RequestID
        /// gw's own `Connection` header (the upstream's is hop-by-hop).
        var connection: StaticString?

        /// gw's lines at the end of a proxied head: its request id, then `Connection`.
        func write(into out: inout HeadWriter) {
            out.put("x-request-id: ")
            out.put(requestID)
            out.put("\r\n")
            if let connection {
                out.put("connection: ")
                out.put(connection)
                out.put("\r\n")
            }
        }

        /// At least what `write` writes.
        var bound: Int { 32 + requestID.byteCount + (connection?.utf8CodeUnitCount ?? 0) }

        func write(into buffer: inout ByteBuffer) {
            buffer.writeHead(reserving: bound) { write(into: &$0) }
        }
    }
}
