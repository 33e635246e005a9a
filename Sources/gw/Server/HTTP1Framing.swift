import NIOCore
import NIOHTTP1

/// Pieces of HTTP/1.1 message framing shared by what gw writes to clients
/// (`DownstreamHandler`) and to upstreams (`UpstreamConnection`), which frame
/// their messages themselves instead of going through NIO's encoders.
enum HTTP1Framing {
    static let crlf = ByteBuffer(string: "\r\n")
    static let lastChunk = ByteBuffer(string: "0\r\n\r\n")

    /// Whether `headers` hold a Content-Length and a Transfer-Encoding (one pass, no allocation).
    static func framingHeaders(_ headers: HTTPHeaders) -> (length: Bool, transferEncoding: Bool) {
        var length = false
        var transferEncoding = false
        for (name, _) in headers {
            switch name.utf8.count {
            case 14: if asciiEqualsIgnoringCase(name, "content-length") { length = true }
            case 17: if asciiEqualsIgnoringCase(name, "transfer-encoding") { transferEncoding = true }
            default: break
            }
        }
        return (length, transferEncoding)
    }

    /// The size line of a chunk of `count` bytes.
    static func chunkSizeLine(_ count: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        var line = allocator.buffer(capacity: 18)
        line.writeString(String(count, radix: 16))
        line.writeStaticString("\r\n")
        return line
    }
}

extension ByteBuffer {
    /// `name: value` lines and the blank line that ends a head.
    mutating func writeHTTPFields(_ headers: HTTPHeaders) {
        for (name, value) in headers {
            writeString(name)
            writeStaticString(": ")
            writeString(value)
            writeStaticString("\r\n")
        }
        writeStaticString("\r\n")
    }
}
