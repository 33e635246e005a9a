import CGatewayPlugin
import Logging
import NIOCore
import NIOHTTP1

/// The one `gw_host_v1` table every plugin receives. Its callbacks are non-capturing
/// closures; per-object context arrives through the opaque handles.
final class HostTable: @unchecked Sendable {
    // @unchecked: the table is written once in init and only read afterwards.
    static let shared = HostTable()
    static let version = "gw/0.1.0"
    let pointer: UnsafeMutablePointer<gw_host_v1>

    private init() {
        let versionBytes = UnsafeMutableBufferPointer<CChar>.allocate(capacity: Self.version.utf8.count)
        _ = versionBytes.initialize(from: Self.version.utf8.map { CChar(bitPattern: $0) })
        pointer = .allocate(capacity: 1)
        pointer.initialize(
            to: gw_host_v1(
                struct_size: UInt32(MemoryLayout<gw_host_v1>.size),
                abi_major: UInt16(GW_ABI_MAJOR),
                abi_minor: UInt16(GW_ABI_MINOR),
                host_version: gw_str(ptr: versionBytes.baseAddress, len: versionBytes.count),
                features: HostFeatures.offered,
                worker_count: UInt32(System.coreCount),
                reserved0: 0,
                log_enabled: hostLogEnabled,
                log: hostLog,
                monotonic_ns: { MonotonicClock.nanoseconds() },
                config_error: hostConfigError,
                metric_define: hostMetricDefine,
                metric_record: hostMetricRecord,
                header_get: hostHeaderGet,
                headers_get: hostHeadersGet,
                header_set: hostHeaderSet,
                header_add: hostHeaderAdd,
                header_remove: hostHeaderRemove,
                attribute_get: hostAttributeGet,
                attribute_set: hostAttributeSet,
                body_get: hostBodyGet,
                body_replace: hostBodyReplace,
                body_append: hostBodyAppend,
                send_local_reply: hostSendLocalReply,
                stream_continue: hostStreamContinue,
                stream_reset: hostStreamReset,
                async_acquire: hostAsyncAcquire,
                async_post: hostAsyncPost,
                async_resume: hostAsyncResume,
                async_release: { Unmanaged<AsyncHandle>.fromOpaque(UnsafeRawPointer($0)).release() },
                http_callout: hostHTTPCallout,
                metadata_set: hostMetadataSet,
                metadata_get: hostMetadataGet,
                kv_get: hostKVGet,
                kv_set: hostKVSet,
                kv_incr: hostKVIncr,
                kv_delete: hostKVDelete,
                shared_gcra: { s, key, limits, count, cost, id in hostSharedGCRA(s, key, limits, count, cost, id) },
                shared_incr: { s, key, delta, ttl, id in hostSharedIncr(s, key, delta, ttl, id) },
                shared_get: { s, key, id in hostSharedGet(s, key, id) },
                shared_set: { s, key, value, ttl, id in hostSharedSet(s, key, value, ttl, id) },
                config_skip_hooks: hostConfigSkipHooks
            ))
    }
}

// MARK: - Helpers

extension gw_str {
    var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: ptr, count: ptr == nil ? 0 : len) }
    var string: String { String(self) }
    /// A header name or value must not contain CR, LF or NUL.
    var isSafeHeaderText: Bool { !buffer.contains { $0 == 13 || $0 == 10 || $0 == 0 } }
    /// A header name is a token (RFC 9110 §5.6.2): anything else would make an invalid
    /// head (a space, a colon) or, outside ASCII, trap in `HTTPHeaders.add`.
    var isHeaderName: Bool { len > 0 && buffer.allSatisfy(isTokenByte) }
}

/// Whether `fields` has a header `name` (compared without case, no allocation).
private func contains(_ fields: HTTPHeaders, _ name: UnsafeRawBufferPointer) -> Bool {
    for (fieldName, _) in fields where equalsIgnoringCase(fieldName, name) { return true }
    return false
}

extension gw_bytes {
    var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: ptr, count: ptr == nil ? 0 : len) }
}

/// ASCII case-insensitive comparison of a Swift string with raw bytes, no allocation.
func equalsIgnoringCase(_ string: String, _ bytes: UnsafeRawBufferPointer) -> Bool {
    // A native string knows its UTF-8 length: most names differ in it.
    guard string.utf8.count == bytes.count else { return false }
    var index = 0
    for c in string.utf8 {
        guard index < bytes.count else { return false }
        var a = c
        var b = bytes[index]
        if a >= 65 && a <= 90 { a += 32 }
        if b >= 65 && b <= 90 { b += 32 }
        guard a == b else { return false }
        index += 1
    }
    return index == bytes.count
}

/// The run behind `s`, if the call is made inside one of its hooks on its loop.
@inline(__always)
func hookRun(_ s: OpaquePointer) -> FilterChainRun? {
    let run = FilterChainRun.from(s)
    guard run.hookDepth > 0, run.onLoop else { return nil }
    return run
}

/// `body` with the run behind `s` if the call is made inside one of its hooks on its
/// loop, else GW_E_WRONG_CONTEXT. The run is alive while its hook runs, so it is lent
/// to `body` without a retain: bound to an `unowned(unsafe)` local instead, it was
/// still retained and released around each call that changes it (a stored
/// property's mutation, an argument read from it), ~40 instructions each.
@inline(__always)
func withHookRun(_ s: OpaquePointer, _ body: (FilterChainRun) -> gw_result) -> gw_result {
    Unmanaged<FilterChainRun>.fromOpaque(UnsafeRawPointer(s))._withUnsafeGuaranteedRef { run in
        guard run.hookDepth > 0, run.onLoop else { return GW_E_WRONG_CONTEXT }
        return body(run)
    }
}

private func level(_ l: gw_log_level) -> Logger.Level {
    switch l.rawValue {
    case GW_LOG_TRACE.rawValue: return .trace
    case GW_LOG_DEBUG.rawValue: return .debug
    case GW_LOG_INFO.rawValue: return .info
    case GW_LOG_WARN.rawValue: return .warning
    default: return .error
    }
}

// MARK: - Logging, config errors, metrics

private let hostLogEnabled: @convention(c) (OpaquePointer, gw_log_level) -> Bool = { p, l in
    LoadedPlugin.from(p).services.logger.logLevel <= level(l)
}

private let hostLog: @convention(c) (OpaquePointer, gw_log_level, gw_str) -> Void = { p, l, message in
    let plugin = LoadedPlugin.from(p)
    plugin.services.logger.log(level: level(l), "\(message.string)", metadata: ["gw.plugin": "\(plugin.name)"])
}

private let hostConfigError: @convention(c) (OpaquePointer, gw_str) -> Void = { c, message in
    let handle = ConfigHandle.from(c)
    guard handle.inConfigNew else { return }
    handle.errors.append(message.string)
}

private let hostConfigSkipHooks: @convention(c) (OpaquePointer, UInt64) -> gw_result = { c, hooks in
    let handle = ConfigHandle.from(c)
    guard handle.inConfigNew else { return GW_E_WRONG_CONTEXT }
    handle.skippedHooks = hooks
    return GW_OK
}

private let hostMetricDefine:
    @convention(c) (OpaquePointer, gw_metric_kind, gw_str, UnsafePointer<gw_str>?, Int, UnsafeMutablePointer<UInt32>) ->
        gw_result = { c, kind, name, labels, count, idOut in
            let handle = ConfigHandle.from(c)
            guard handle.inConfigNew else { return GW_E_WRONG_CONTEXT }
            let metricName = name.string
            guard !metricName.isEmpty, metricName.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 })
            else { return GW_E_BAD_ARGUMENT }
            let metricKind: MetricsRegistry.Kind
            switch kind.rawValue {
            case GW_METRIC_COUNTER.rawValue: metricKind = .counter
            case GW_METRIC_GAUGE.rawValue: metricKind = .gauge
            case GW_METRIC_HISTOGRAM.rawValue: metricKind = .histogram
            default: return GW_E_BAD_ARGUMENT
            }
            var names: [String] = []
            for i in 0..<count { names.append(labels.map { String($0[i]) } ?? "") }
            guard let id = handle.plugin.services.metrics.define(name: "gw_plugin_" + metricName, kind: metricKind, labelNames: names)
            else { return GW_E_BAD_ARGUMENT }
            idOut.pointee = id
            return GW_OK
        }

private let hostMetricRecord: @convention(c) (OpaquePointer, UInt32, UnsafePointer<gw_str>?, Int, Double) -> gw_result = {
    c, id, labels, count, value in
    let handle = ConfigHandle.from(c)
    var values: [String] = []
    for i in 0..<count { values.append(labels.map { String($0[i]) } ?? "") }
    return handle.plugin.services.metrics.record(id: id, labels: values, value: value) ? GW_OK : GW_E_BAD_ARGUMENT
}

// MARK: - Headers

private func isRequest(_ dir: gw_direction) -> Bool { dir.rawValue == GW_REQUEST.rawValue }

/// The header list of a direction as NIO's type (a head in line form is turned
/// into one first).
private func headers(of run: FilterChainRun, _ dir: gw_direction) -> HTTPHeaders? {
    if isRequest(dir) {
        run.materializeRequestHead()
        return run.storedRequestHead.headers
    }
    run.materializeResponseHead()
    return run.responseHead?.headers
}

private func mutateHeaders(_ run: FilterChainRun, _ dir: gw_direction, _ body: (inout HTTPHeaders) -> Void) -> gw_result {
    if isRequest(dir) {
        run.materializeRequestHead()
        body(&run.storedRequestHead.headers)
        return GW_OK
    }
    run.materializeResponseHead()
    guard run.responseHead != nil else { return GW_E_WRONG_CONTEXT }
    body(&run.responseHead!.headers)
    return GW_OK
}

/// A header change the line form carries (`HeaderLines`): true if done. A framing
/// or hop-by-hop name (or a request's Host) turns the head into NIO's type instead.
/// `adds`: the edit may add a line (then a spare array of the loop's holds them).
private func editLines(
    _ run: FilterChainRun, _ dir: gw_direction, _ name: gw_str, adds: Bool = true, _ edit: (inout HeaderLines) -> Void
) -> Bool {
    if isRequest(dir) {
        guard run.requestBytes != nil, !HeaderLines.affectsFraming(name.buffer, request: true) else { return false }
        if adds { provideAddedLines(&run.requestBytes!.lines, run.arena) }
        edit(&run.requestBytes!.lines)
        return true
    }
    guard run.responseBytes != nil, !HeaderLines.affectsFraming(name.buffer) else { return false }
    if adds { provideAddedLines(&run.responseBytes!.lines, run.arena) }
    edit(&run.responseBytes!.lines)
    return true
}

@inline(__always)
private func provideAddedLines(_ lines: inout HeaderLines, _ arena: HookArena) {
    if lines.addedLines.capacity == 0 { lines.adopt(arena.takeSpare()) }
}

/// The lines of a direction's head, if it is in line form, read in place: a copy
/// would retain (and later release) both of its buffers on every header read.
@inline(__always)
private func withLines<R>(of run: FilterChainRun, _ dir: gw_direction, _ body: (inout HeaderLines) -> R) -> R? {
    if isRequest(dir) {
        guard run.requestBytes != nil else { return nil }
        return body(&run.requestBytes!.lines)
    }
    guard run.responseBytes != nil else { return nil }
    return body(&run.responseBytes!.lines)
}

/// What the direction's last `header_get` found (`HeaderLines.remove(name:noted:)`
/// checks that it was the same name). Not checked here: the head would be passed by
/// value, a copy (two retains) of lines held in place.
@inline(__always)
private func notedLines(_ run: FilterChainRun, _ dir: gw_direction) -> HeaderLines.NameLines? {
    isRequest(dir) ? run.notedRequestLines : run.notedResponseLines
}

private let hostHeaderGet:
    @convention(c) (OpaquePointer, gw_direction, gw_str, Int, UnsafeMutablePointer<gw_str>, UnsafeMutablePointer<Int>?) ->
        gw_result = { s, dir, name, index, valueOut, countOut in
            withHookRun(s) { run in
                let wanted = name.buffer
                let inLines: gw_result? = withLines(of: run, dir) { head in
                    guard head.mayContain(wanted) else {
                        countOut?.pointee = 0
                        return GW_E_NOT_FOUND
                    }
                    var seen = 0
                    var found: UnsafeRawBufferPointer?
                    let noted = head.forEachValueNoting(named: wanted) { value in
                        if seen == index { found = run.arena.store(value) }
                        seen += 1
                        // The count is asked for: every match is counted.
                        return found == nil || countOut != nil
                    }
                    if isRequest(dir) { run.notedRequestLines = noted } else { run.notedResponseLines = noted }
                    countOut?.pointee = seen
                    guard let found else { return GW_E_NOT_FOUND }
                    valueOut.pointee = gw_str(ptr: found.baseAddress?.assumingMemoryBound(to: CChar.self), len: found.count)
                    return GW_OK
                }
                if let inLines { return inLines }
                guard let fields = headers(of: run, dir) else { return GW_E_WRONG_CONTEXT }
                var seen = 0
                var found: String?
                for (fieldName, value) in fields where equalsIgnoringCase(fieldName, wanted) {
                    if seen == index { found = value }
                    seen += 1
                }
                countOut?.pointee = seen
                guard let found else { return GW_E_NOT_FOUND }
                valueOut.pointee = run.arena.store(found)
                return GW_OK
            }
        }

private let hostHeadersGet:
    @convention(c) (OpaquePointer, gw_direction, UnsafeMutablePointer<gw_header>?, Int, UnsafeMutablePointer<Int>) -> gw_result = {
        s, dir, out, capacity, countOut in
        withHookRun(s) { run in
            guard let fields = headers(of: run, dir) else { return GW_E_WRONG_CONTEXT }
            countOut.pointee = fields.count
            guard capacity >= fields.count else { return GW_E_BUFFER_TOO_SMALL }
            guard let out else { return fields.isEmpty ? GW_OK : GW_E_BAD_ARGUMENT }
            for (i, field) in fields.enumerated() {
                out[i] = gw_header(name: run.arena.store(field.name), value: run.arena.store(field.value))
            }
            return GW_OK
        }
    }

private let hostHeaderSet: @convention(c) (OpaquePointer, gw_direction, gw_str, gw_str) -> gw_result = { s, dir, name, value in
    withHookRun(s) { run in
        guard name.isHeaderName, value.isSafeHeaderText else { return GW_E_BAD_ARGUMENT }
        // Read before the edit: an edit closure that reads the run made the run be
        // retained around its lines' change.
        let noted = notedLines(run, dir)
        if editLines(run, dir, name, { head in
            head.remove(name: name.buffer, noted: noted)
            head.add(name: name.buffer, value: value.buffer)
        }) {
            return GW_OK
        }
        return mutateHeaders(run, dir) { fields in
            // Most sets add a header that is not there yet: no search-and-remove then.
            let nameString = name.string
            if contains(fields, name.buffer) { fields.remove(name: nameString) }
            fields.add(name: nameString, value: value.string)
        }
    }
}

private let hostHeaderAdd: @convention(c) (OpaquePointer, gw_direction, gw_str, gw_str) -> gw_result = { s, dir, name, value in
    withHookRun(s) { run in
        guard name.isHeaderName, value.isSafeHeaderText else { return GW_E_BAD_ARGUMENT }
        if editLines(run, dir, name, { $0.add(name: name.buffer, value: value.buffer) }) { return GW_OK }
        return mutateHeaders(run, dir) { $0.add(name: name.string, value: value.string) }
    }
}

private let hostHeaderRemove: @convention(c) (OpaquePointer, gw_direction, gw_str) -> gw_result = { s, dir, name in
    withHookRun(s) { run in
        let noted = notedLines(run, dir)
        if editLines(run, dir, name, adds: false, { $0.remove(name: name.buffer, noted: noted) }) { return GW_OK }
        return mutateHeaders(run, dir) { fields in
            if contains(fields, name.buffer) { fields.remove(name: name.string) }
        }
    }
}

// MARK: - Attributes

private let hostAttributeGet: @convention(c) (OpaquePointer, gw_attribute, UnsafeMutablePointer<gw_str>) -> gw_result = {
    s, attr, out in
    withHookRun(s) { run in
        guard let value = run.attribute(attr.rawValue) else { return GW_E_NOT_FOUND }
        out.pointee = run.arena.store(value)
        return GW_OK
    }
}

private let hostAttributeSet: @convention(c) (OpaquePointer, gw_attribute, gw_str) -> gw_result = { s, attr, value in
    withHookRun(s) { run in
        guard value.isSafeHeaderText else { return GW_E_BAD_ARGUMENT }
        return run.setAttribute(attr.rawValue, value.string)
    }
}

// MARK: - Body

private let hostBodyGet: @convention(c) (OpaquePointer, gw_direction, UnsafeMutablePointer<gw_bytes>) -> gw_result = {
    s, dir, out in
    guard let run = hookRun(s), dir.rawValue <= 1, let body = run.currentBody[Int(dir.rawValue)] else {
        return GW_E_WRONG_CONTEXT
    }
    let view = body.withUnsafeReadableBytes { run.arena.store($0) }
    out.pointee = gw_bytes(ptr: view.baseAddress?.assumingMemoryBound(to: UInt8.self), len: view.count)
    return GW_OK
}

private let hostBodyReplace: @convention(c) (OpaquePointer, gw_direction, gw_bytes) -> gw_result = { s, dir, data in
    guard let run = hookRun(s), dir.rawValue <= 1, run.currentBody[Int(dir.rawValue)] != nil else { return GW_E_WRONG_CONTEXT }
    guard data.len <= run.bufferLimit else { return GW_E_LIMIT }
    run.currentBody[Int(dir.rawValue)] = ByteBuffer(bytes: data.buffer)
    run.directions[Int(dir.rawValue)].bodyModified = true
    return GW_OK
}

private let hostBodyAppend: @convention(c) (OpaquePointer, gw_direction, gw_bytes) -> gw_result = { s, dir, data in
    guard let run = hookRun(s), dir.rawValue <= 1, run.currentBody[Int(dir.rawValue)] != nil else { return GW_E_WRONG_CONTEXT }
    guard (run.currentBody[Int(dir.rawValue)]?.readableBytes ?? 0) + data.len <= run.bufferLimit else { return GW_E_LIMIT }
    run.currentBody[Int(dir.rawValue)]?.writeBytes(data.buffer)
    run.directions[Int(dir.rawValue)].bodyModified = true
    return GW_OK
}

// MARK: - Flow control

private let hostSendLocalReply:
    @convention(c) (OpaquePointer, UInt32, UnsafePointer<gw_header>?, Int, gw_bytes, gw_str) -> gw_result = {
        s, status, headerList, count, body, details in
        guard let run = hookRun(s), !run.terminated else { return GW_E_WRONG_CONTEXT }
        guard status >= 200 && status <= 599 else { return GW_E_BAD_ARGUMENT }
        var fields = HTTPHeaders()
        for i in 0..<count {
            guard let header = headerList?[i], header.name.isHeaderName, header.value.isSafeHeaderText
            else { return GW_E_BAD_ARGUMENT }
            fields.add(name: header.name.string, value: header.value.string)
        }
        let bytes = body.buffer
        if !fields.contains(name: "content-type") && bytes.first == UInt8(ascii: "{") {
            fields.add(name: "content-type", value: "application/json")
        }
        run.pendingReply = LocalReply(
            status: HTTPResponseStatus(statusCode: Int(status)), headers: fields, body: ByteBuffer(bytes: bytes),
            details: details.string)
        return GW_OK
    }

private let hostStreamContinue: @convention(c) (OpaquePointer) -> gw_result = { s in
    withHookRun(s) { run in
        guard run.isPaused(by: run.currentFilter) else { return GW_E_WRONG_CONTEXT }
        run.continueRequested = true
        return GW_OK
    }
}

private let hostStreamReset: @convention(c) (OpaquePointer, gw_str) -> gw_result = { s, reason in
    guard let run = hookRun(s), !run.terminated else { return GW_E_WRONG_CONTEXT }
    run.pendingReset = reason.string.isEmpty ? "reset by filter" : reason.string
    return GW_OK
}

// MARK: - Async

private let hostAsyncAcquire: @convention(c) (OpaquePointer) -> OpaquePointer? = { s in
    guard let run = hookRun(s), !run.finished, run.currentFilter >= 0 else { return nil }
    let handle = AsyncHandle(run: run, filterIndex: run.currentFilter)
    run.asyncHandles.append(handle)
    return OpaquePointer(Unmanaged.passRetained(handle).toOpaque())
}

/// An opaque pointer the host never dereferences, carried across threads.
private struct OpaqueData: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer?
}

private let hostAsyncPost: @convention(c) (OpaquePointer, UInt64, UnsafeMutableRawPointer?, UInt64) -> gw_result = {
    a, eventID, data, delay in
    let handle = Unmanaged<AsyncHandle>.fromOpaque(UnsafeRawPointer(a)).takeUnretainedValue()
    let payload = OpaqueData(pointer: data)
    let posted = handle.post(after: .milliseconds(Int64(min(delay, UInt64(Int64.max / 1_000_000))))) { run, index in
        run.deliverAsyncEvent(filter: index, eventID: eventID, data: payload.pointer)
    }
    return posted ? GW_OK : GW_E_STREAM_GONE
}

private let hostAsyncResume: @convention(c) (OpaquePointer) -> gw_result = { a in
    let handle = Unmanaged<AsyncHandle>.fromOpaque(UnsafeRawPointer(a)).takeUnretainedValue()
    let posted = handle.post(after: .zero) { run, index in
        run.resume(filter: index)
    }
    return posted ? GW_OK : GW_E_STREAM_GONE
}

// MARK: - Call-outs

private let hostHTTPCallout:
    @convention(c) (OpaquePointer, gw_str, gw_str, UnsafePointer<gw_header>?, Int, gw_bytes, UInt64, UnsafeMutablePointer<UInt64>) ->
        gw_result = { s, method, url, headerList, count, body, timeout, idOut in
            withHookRun(s) { run in
                var fields: [(String, String)] = []
                for i in 0..<count {
                    guard let header = headerList?[i], header.name.isHeaderName, header.value.isSafeHeaderText else {
                        return GW_E_BAD_ARGUMENT
                    }
                    fields.append((header.name.string, header.value.string))
                }
                let request = CalloutRequest(
                    method: method.string, url: url.string, headers: fields, body: ByteBuffer(bytes: body.buffer),
                    timeout: .milliseconds(Int64(min(timeout == 0 ? 30_000 : timeout, 3_600_000))))
                return run.startCallout(request, idOut: idOut)
            }
        }
