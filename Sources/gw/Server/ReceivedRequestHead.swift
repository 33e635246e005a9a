import NIOCore
import NIOHTTP1
import PluginHost

/// A client request head as `RequestDecoder` parsed it: method, version, target,
/// and the field bytes with a table of where each field starts, in one array (one
/// allocation). What the proxy needs from the fields is found in one pass
/// (`RequestHeadScan`). Header strings are made only for a route that needs the
/// head as NIO's type (`makeHead`: a filter chain, an AI or direct answer); a route
/// that only proxies writes the upstream head from these bytes
/// (`writeUpstreamHead`), as `ReceivedResponseHead` does for responses.
struct ReceivedRequestHead {
    let method: HTTPMethod
    let version: HTTPVersion
    /// The request target, as received.
    let uri: String
    let fieldCount: Int
    /// Each field's name then value, back to back from offset 0; then, from
    /// `tableStart`, per field the offsets of its value's start and end (UInt32
    /// each). A field's name starts where the previous value ended.
    private let storage: [UInt8]
    private let tableStart: Int

    /// `bytes`: the field bytes as described for `storage`, from offset `base`;
    /// `fields`: per field where its name and value start and where it ends, as
    /// offsets of `bytes`. `reusing`: an earlier head's storage (`takeStorage`),
    /// written over when nothing else holds it, so a connection's requests share one
    /// allocation.
    init(
        method: HTTPMethod, version: HTTPVersion, uri: String, bytes: UnsafeRawBufferPointer, base: Int,
        fields: [(name: Int, value: Int, end: Int)], reusing spare: consuming [UInt8]? = nil
    ) {
        self.method = method
        self.version = version
        self.uri = uri
        fieldCount = fields.count
        let length = bytes.count - base
        tableStart = length
        let count = length + 8 * fields.count
        // Moved, not copied: a second reference would make the first write copy it.
        var storage = (consume spare) ?? []
        guard storage.capacity >= count else {
            self.storage = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
                Self.fill(UnsafeMutableRawBufferPointer(buffer), bytes: bytes, base: base, fields: fields)
                initialized = count
            }
            return
        }
        // Same count first (no copy-on-write check per byte), then one pass over it;
        // a storage still held elsewhere is copied by the first write, as any array.
        if storage.count > count {
            storage.removeLast(storage.count - count)
        } else if storage.count < count {
            storage.append(contentsOf: repeatElement(0, count: count - storage.count))
        }
        storage.withUnsafeMutableBytes { Self.fill($0, bytes: bytes, base: base, fields: fields) }
        self.storage = consume storage
    }

    private static func fill(
        _ raw: UnsafeMutableRawBufferPointer, bytes: UnsafeRawBufferPointer, base: Int, fields: [(name: Int, value: Int, end: Int)]
    ) {
        let length = bytes.count - base
        if length > 0 { raw.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[base...])) }
        var offset = length
        for field in fields {
            raw.storeBytes(of: UInt32(field.value - base), toByteOffset: offset, as: UInt32.self)
            raw.storeBytes(of: UInt32(field.end - base), toByteOffset: offset + 4, as: UInt32.self)
            offset += 8
        }
    }

    /// The storage, for the next head on the connection (`init(reusing:)`).
    consuming func takeStorage() -> [UInt8] { storage }

    /// Each field's name and value bytes, in order.
    @inline(__always)
    func forEachField(_ body: (_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Void) {
        var none: Void = ()
        forEachField(into: &none) { _, name, value in body(name, value) }
    }

    /// `forEachField` with the state `body` changes passed through: a `var` the
    /// closure captured instead was copied when returned after.
    @inline(__always)
    func forEachField<State>(
        into state: inout State, _ body: (inout State, _ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Void
    ) {
        storage.withUnsafeBytes { raw in
            var nameStart = 0
            var entry = tableStart
            for _ in 0..<fieldCount {
                let value = Int(raw.loadUnaligned(fromByteOffset: entry, as: UInt32.self))
                let end = Int(raw.loadUnaligned(fromByteOffset: entry + 4, as: UInt32.self))
                body(&state, UnsafeRawBufferPointer(rebasing: raw[nameStart..<value]), UnsafeRawBufferPointer(rebasing: raw[value..<end]))
                nameStart = end
                entry += 8
            }
        }
    }

    /// The values of the fields named `name` (any case), in order.
    func values(_ name: String) -> [String] {
        var found: [String] = []
        forEachField { field, value in
            if field.count == name.utf8.count && asciiEqualsIgnoringCase(field, name) {
                found.append(String(decoding: value, as: UTF8.self))
            }
        }
        return found
    }

    /// The head as NIO's type, strings and all, with room for the forwarding
    /// headers gw adds.
    func makeHead() -> HTTPRequestHead {
        // Built as a plain array: `HTTPHeaders.add` re-checks every name for ASCII,
        // which llhttp's token check already guarantees.
        var fields: [(String, String)] = []
        fields.reserveCapacity(fieldCount + 6)
        forEachField { name, value in
            fields.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
        return HTTPRequestHead(version: version, method: method, uri: uri, headers: HTTPHeaders(fields))
    }
}

extension ReceivedRequestHead {
    /// Write the head gw sends upstream, in one pass: what the general path does with
    /// `Exchange.prepareUpstreamHead`, the Host policy and `UpstreamConnection.write`
    /// (tested to agree: `UpstreamHeadTests`). The request line says HTTP/1.1. Left
    /// out: hop-by-hop fields, the client's x-request-id, x-forwarded-for and
    /// x-forwarded-proto (gw writes its own; x-forwarded-for extends the client's),
    /// an `Expect: 100-continue` (gw answers it), a Host the policy replaces, and
    /// Transfer-Encoding (the body is re-framed). Host comes first (RFC 9112 §3.2).
    /// The caller has checked that `Connection` names no other field
    /// (`RequestHeadScan.connectionListsOthers`). Returns whether the body goes
    /// chunked.
    /// `uri`: the target sent upstream (the route's rewrite applied); `host` replaces
    /// the client's Host (policies `target` and `fixed`; nil keeps it); `defaultHost`
    /// is sent when the client sent none and `host` is nil (policy `preserve`). Passed
    /// one by one, borrowed: a struct of them retained and released each string.
    func writeUpstreamHead(
        into buffer: inout ByteBuffer, scan: RequestHeadScan, uri: String, host policyHost: String?, defaultHost: String,
        requestID: RequestID, clientAddress: String, scheme: String
    ) -> Bool {
        let hasLength = scan.contentLength != nil
        let chunked = !hasLength && (scan.hasTransferEncoding || method.isPostPutOrPatch)
        let dropHost = policyHost != nil
        let dropExpect = scan.expectsContinue
        let host = policyHost ?? (scan.host == nil ? defaultHost : nil)
        // The kept fields fit in `storage` (its 8 table bytes per field cover ": " and
        // CRLF); the fixed text here is under 64 bytes.
        let bound =
            storage.count + HeadWriter.bound(method) + uri.utf8.count + (host?.utf8.count ?? 0) + 64
            + Self.forwardingLinesBound(scan: scan, requestID: requestID, clientAddress: clientAddress, scheme: scheme)
        buffer.writeHead(reserving: bound) { out in
            out.put(method)
            out.put(" ")
            out.put(uri)
            out.put(" HTTP/1.1\r\n")
            if let host {
                out.put("host: ")
                out.put(host)
                out.put("\r\n")
            }
            writeForwardedFields(
                into: &out, dropHost: dropHost, dropExpect: dropExpect, dropTransferEncoding: true,
                keepForwarded: scan.trustsForwarded
            ) { _ in }
            Self.writeForwardingLines(
                into: &out, scan: scan, requestID: requestID, clientAddress: clientAddress, scheme: scheme)
            if chunked { out.put("transfer-encoding: chunked\r\n") }
            out.put("\r\n")
        }
        return chunked
    }

    /// Write the received fields a proxy passes on (`forwards`) as `name: value` lines;
    /// `written` sees each name written.
    @inline(__always)
    private func writeForwardedFields(
        into out: inout HeadWriter, dropHost: Bool, dropExpect: Bool, dropTransferEncoding: Bool, keepForwarded: Bool,
        _ written: (UnsafeRawBufferPointer) -> Void
    ) {
        forEachField { name, value in
            guard
                Self.forwards(
                    name, dropHost: dropHost, dropExpect: dropExpect, dropTransferEncoding: dropTransferEncoding,
                    keepForwarded: keepForwarded)
            else {
                return
            }
            out.put(name)
            out.put(": ")
            out.put(value)
            out.put("\r\n")
            written(name)
        }
    }

    /// Write gw's own forwarding lines: its request id, x-forwarded-for (extending the
    /// client's), x-forwarded-proto and x-forwarded-host (from Host), each of the last
    /// two unless a trusted proxy sent its own (`RequestHeadScan.trustsForwarded`).
    /// Returns how many lines (2 to 4).
    @discardableResult
    static func writeForwardingLines(
        into out: inout HeadWriter, scan: RequestHeadScan, requestID: RequestID, clientAddress: String, scheme: String
    ) -> Int {
        out.put("x-request-id: ")
        out.put(requestID)
        out.put("\r\nx-forwarded-for: ")
        if let forwardedFor = scan.forwardedFor {
            out.put(forwardedFor)
            out.put(", ")
        }
        out.put(clientAddress)
        out.put("\r\n")
        var count = 2
        if !scan.keepsForwardedProto {
            out.put("x-forwarded-proto: ")
            out.put(scheme)
            out.put("\r\n")
            count += 1
        }
        guard let host = scan.host, !host.isEmpty, !scan.keepsForwardedHost else { return count }
        out.put("x-forwarded-host: ")
        out.put(host)
        out.put("\r\n")
        return count + 1
    }

    /// At least what `writeForwardingLines` writes (its fixed text is 76 bytes).
    static func forwardingLinesBound(scan: RequestHeadScan, requestID: RequestID, clientAddress: String, scheme: String) -> Int {
        96 + requestID.byteCount + (scan.forwardedFor?.utf8.count ?? 0) + clientAddress.utf8.count + scheme.utf8.count
            + (scan.host?.utf8.count ?? 0)
    }

    /// Whether a proxy passes on a received field named `name`: not a hop-by-hop
    /// field, nor the client's x-request-id or x-forwarded-for (gw writes its own), nor
    /// its x-forwarded-proto/-host/-port/-prefix and `Forwarded` unless `keepForwarded`
    /// (a trusted proxy's), nor what the caller drops.
    @inline(__always)
    static func forwards(
        _ name: UnsafeRawBufferPointer, dropHost: Bool, dropExpect: Bool, dropTransferEncoding: Bool, keepForwarded: Bool
    ) -> Bool {
        switch name.count {
        case 4 where dropHost && equalBytesIgnoringCase(name, "host"): return false
        case 6 where dropExpect && equalBytesIgnoringCase(name, "expect"): return false
        case 10 where equalBytesIgnoringCase(name, "connection"): return false
        case 12 where equalBytesIgnoringCase(name, "x-request-id"): return false
        case 15 where equalBytesIgnoringCase(name, "x-forwarded-for"): return false
        case 9 where !keepForwarded && equalBytesIgnoringCase(name, "forwarded"): return false
        case 16 where !keepForwarded && (equalBytesIgnoringCase(name, "x-forwarded-host") || equalBytesIgnoringCase(name, "x-forwarded-port")):
            return false
        case 17 where !keepForwarded && equalBytesIgnoringCase(name, "x-forwarded-proto"): return false
        case 18 where !keepForwarded && equalBytesIgnoringCase(name, "x-forwarded-prefix"): return false
        case 17 where dropTransferEncoding && equalBytesIgnoringCase(name, "transfer-encoding"): return false
        default: return !isFixedHopByHopName(name)
        }
    }

    /// `makeUpstreamHead` as lines (`RequestHeadBytes`): the same fields in the same
    /// order, written into one buffer, no string per field. Nil if there are more
    /// than `HeaderLines.maxLines` of them.
    func makeUpstreamHeadBytes(
        scan: RequestHeadScan, uri: String, requestID: RequestID, clientAddress: String, scheme: String, into buffer: inout ByteBuffer
    ) -> RequestHeadBytes? {
        guard fieldCount + 4 <= HeaderLines.maxLines else { return nil }
        // The caller gives it cleared: the lines start at its first readable byte.
        var count = 0
        // Name lengths present, gw's lines included (x-request-id, x-forwarded-for/-proto/-host).
        var nameLengths = HeaderLines.lengthBit(12) | HeaderLines.lengthBit(15) | HeaderLines.lengthBit(17) | HeaderLines.lengthBit(16)
        // The fields fit in `storage`, as in `writeUpstreamHead`.
        let bound = storage.count + Self.forwardingLinesBound(scan: scan, requestID: requestID, clientAddress: clientAddress, scheme: scheme)
        buffer.writeHead(reserving: bound) { out in
            writeForwardedFields(
                into: &out, dropHost: false, dropExpect: scan.expectsContinue, dropTransferEncoding: false,
                keepForwarded: scan.trustsForwarded
            ) { name in
                nameLengths |= HeaderLines.lengthBit(name.count)
                count += 1
            }
            count += Self.writeForwardingLines(into: &out, scan: scan, requestID: requestID, clientAddress: clientAddress, scheme: scheme)
        }
        // At most `fieldCount + 4` lines (checked above).
        return RequestHeadBytes(
            lines: HeaderLines(bytes: buffer, start: 0, lineCount: count, nameLengths: nameLengths), method: method, uri: uri,
            version: .http1_1)
    }

    /// The head the filters see and, after them, the upstream (as NIO's type): the
    /// fields `writeUpstreamHead` keeps, except that Host and Transfer-Encoding stay
    /// (the Host policy and the re-framing apply when it is written), then gw's
    /// forwarding lines; HTTP/1.1 and `uri`. The caller has checked that
    /// `Connection` names no other field.
    func makeUpstreamHead(scan: RequestHeadScan, uri: String, requestID: String, clientAddress: String, scheme: String) -> HTTPRequestHead {
        var fields: [(String, String)] = []
        // Room for gw's lines and a few a filter adds.
        fields.reserveCapacity(fieldCount + 8)
        let dropExpect = scan.expectsContinue
        forEachField { name, value in
            guard
                Self.forwards(
                    name, dropHost: false, dropExpect: dropExpect, dropTransferEncoding: false, keepForwarded: scan.trustsForwarded)
            else { return }
            fields.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
        fields.append(("x-request-id", requestID))
        fields.append(("x-forwarded-for", scan.forwardedFor.map { $0 + ", " + clientAddress } ?? clientAddress))
        if !scan.keepsForwardedProto { fields.append(("x-forwarded-proto", scheme)) }
        if let host = scan.host, !host.isEmpty, !scan.keepsForwardedHost { fields.append(("x-forwarded-host", host)) }
        return HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: HTTPHeaders(fields))
    }
}

extension RequestHeadBytes {
    /// Write the head of a filtered request kept as lines (`makeUpstreamHeadBytes`
    /// plus the filters' changes): what `UpstreamConnection.write` makes of the same
    /// head as NIO's type after the Host policy (tested to agree:
    /// `UpstreamHeadTests`). `host` replaces the lines' Host (policies `target` and
    /// `fixed`); `defaultHost` is sent when there is none. Transfer-Encoding lines
    /// are left out: the body is re-framed (chunked unless a Content-Length frames
    /// it). Filters cannot have changed Host or framing headers in this form
    /// (`HeaderLines.affectsFraming`), so `framing` still describes them. Returns
    /// whether the body goes chunked.
    func writeUpstreamHead(into buffer: inout ByteBuffer, framing: LinesFraming, host: String?, defaultHost: String) -> Bool {
        let chunked = !framing.hasContentLength && (framing.hasTransferEncoding || method.isPostPutOrPatch)
        let dropHost = host != nil
        let hostLine = host ?? (framing.hasHost ? nil : defaultHost)
        // The kept lines are a subset of the lines' bytes; the fixed text is under 64 bytes.
        let bound =
            lines.bytes.readableBytes + lines.addedLines.count + HeadWriter.bound(method) + uri.utf8.count
            + (hostLine?.utf8.count ?? 0) + 64
        let removed = lines.removedLines
        buffer.writeHead(reserving: bound) { out in
            out.put(method)
            out.put(" ")
            out.put(uri)
            out.put(" HTTP/1.1\r\n")
            if let hostLine {
                out.put("host: ")
                out.put(hostLine)
                out.put("\r\n")
            }
            // Runs of kept lines go out with one copy each; lines are looked at by name
            // only if the head has a line to drop (filters cannot add Host or framing lines).
            let hostLines = dropHost && framing.hasHost
            let transferEncodingLines = framing.hasTransferEncoding
            lines.bytes.withUnsafeReadableBytes { raw in
                var line = 0
                var run = lines.start
                var end = run
                HeaderLines.forEachLineRange(raw, from: lines.start) { range in
                    defer { line += 1 }
                    end = range.upperBound
                    let drop =
                        removed & (1 << UInt64(line)) != 0
                        || (hostLines && HeaderLines.line(raw, range, isNamed: "host"))
                        || (transferEncodingLines && HeaderLines.line(raw, range, isNamed: "transfer-encoding"))
                    if drop {
                        if range.lowerBound > run { out.put(UnsafeRawBufferPointer(rebasing: raw[run..<range.lowerBound])) }
                        run = range.upperBound
                    }
                    return true
                }
                if end > run { out.put(UnsafeRawBufferPointer(rebasing: raw[run..<end])) }
            }
            if !lines.addedLines.isEmpty { lines.addedLines.withUnsafeBytes { out.put($0) } }
            if chunked { out.put("transfer-encoding: chunked\r\n") }
            out.put("\r\n")
        }
        return chunked
    }
}
