import GatewayPluginSDK

/// Header, query, path and status rewriting, and JSON body edits.
///
/// Without body edits the config object is also the filter of every stream
/// (stateless, no allocation) and its body hooks pass every chunk on at once: bodies
/// stream through uncopied. With body edits each stream gets a `BodyEditingStream`
/// that asks the host for the whole body (GW_BUFFER) only when the body is JSON.
final class TransformFilter: FilterFactory, StreamFilter {
    let config: TransformConfig

    init(config: JSONValue, context: ConfigContext) throws {
        self.config = try TransformConfig(config)
    }

    /// Body hooks are registered for every transform filter (the hook table is per
    /// plugin); each filter then declares what its own config does without
    /// (`unusedHooks`), so on a host of ABI 1.2 or later a filter without body edits
    /// is never called per chunk, and bodies stream past it. (An older host calls
    /// them; they return `.continue` at once.)
    static let hooks: FilterHooks = [.requestHeaders, .requestBody, .responseHeaders, .responseBody]

    var unusedHooks: FilterHooks {
        var unused: FilterHooks = []
        if !config.hasRequestWork { unused.insert(.requestHeaders) }
        if config.requestBody == nil { unused.insert(.requestBody) }
        if !config.hasResponseWork { unused.insert(.responseHeaders) }
        if config.responseBody == nil { unused.insert(.responseBody) }
        return unused
    }

    func makeFilter(stream: Stream) -> (any StreamFilter)? {
        config.hasBodyEdits ? BodyEditingStream(config: config) : self
    }

    func onRequestHeaders(_ stream: Stream, endOfStream: Bool) -> FilterStatus {
        guard config.hasRequestWork else { return .continue }
        Self.applyRequest(config, stream)
        return .continue
    }

    func onResponseHeaders(_ stream: Stream, endOfStream: Bool) -> FilterStatus {
        guard config.hasResponseWork else { return .continue }
        Self.applyResponse(config, stream)
        return .continue
    }

    /// Order: path, query (remove, add), headers (remove, rename, set, add).
    static func applyRequest(_ config: TransformConfig, _ stream: Stream) {
        if let rewrite = config.pathRewrite, let path = stream.attribute(.path), let rewritten = rewrite.rewrite(path), rewritten != path {
            if !stream.setAttribute(.path, rewritten) {
                PluginLog.warning("transform: the host refused the rewritten path \(rewritten); the path is unchanged")
            }
        }
        if !config.queryRemove.isEmpty { stream.removeQueryParameters(config.queryRemove) }
        if !config.queryAdd.isEmpty { stream.appendQueryPairs(config.queryAdd) }
        apply(config.requestHeaders, stream, .request)
    }

    /// Order: status mapping, then headers (remove, rename, set, add).
    static func applyResponse(_ config: TransformConfig, _ stream: Stream) {
        if !config.statusMap.isEmpty, let status = stream.attribute(.responseStatus).flatMap({ Int($0) }),
            let mapped = config.statusMap[status]
        {
            stream.setAttribute(.responseStatus, mapped)
        }
        apply(config.responseHeaders, stream, .response)
    }

    private static func apply(_ ops: TransformConfig.HeaderOps, _ stream: Stream, _ direction: Stream.Direction) {
        guard !ops.isEmpty else { return }
        for name in ops.remove { stream.removeHeader(name, direction) }
        for (from, to) in ops.rename {
            let values = stream.headerValues(from, direction)
            guard !values.isEmpty else { continue }
            stream.removeHeader(from, direction)
            stream.removeHeader(to, direction)
            for value in values { stream.addHeader(to, value, direction) }
        }
        for (name, value) in ops.set { stream.setHeader(name, value, direction) }
        for (name, value) in ops.add { stream.addHeader(name, value, direction) }
    }
}

/// One stream of a filter with body edits: remembers, per direction, whether it asked
/// for the whole body, so the body hook knows a whole JSON body from a streamed chunk.
final class BodyEditingStream: StreamFilter {
    let config: TransformConfig
    private var bufferingRequest = false
    private var bufferingResponse = false

    init(config: TransformConfig) {
        self.config = config
    }

    func onRequestHeaders(_ stream: Stream, endOfStream: Bool) -> FilterStatus {
        TransformFilter.applyRequest(config, stream)
        guard config.requestBody != nil, !endOfStream, Self.isEditableJSON(stream, .request) else { return .continue }
        bufferingRequest = true
        return .buffer
    }

    func onRequestBody(_ stream: Stream, chunk: UnsafeRawBufferPointer, endOfStream: Bool) -> FilterStatus {
        guard bufferingRequest, let edits = config.requestBody else { return .continue }
        bufferingRequest = false
        return edit(stream, .request, body: chunk, edits: edits)
    }

    func onResponseHeaders(_ stream: Stream, endOfStream: Bool) -> FilterStatus {
        TransformFilter.applyResponse(config, stream)
        guard config.responseBody != nil, !endOfStream, Self.isEditableJSON(stream, .response) else { return .continue }
        bufferingResponse = true
        return .buffer
    }

    func onResponseBody(_ stream: Stream, chunk: UnsafeRawBufferPointer, endOfStream: Bool) -> FilterStatus {
        guard bufferingResponse, let edits = config.responseBody else { return .continue }
        bufferingResponse = false
        return edit(stream, .response, body: chunk, edits: edits)
    }

    /// JSON by its content type, and not content-encoded (a gzip body cannot be edited).
    static func isEditableJSON(_ stream: Stream, _ direction: Stream.Direction) -> Bool {
        guard BodyEdits.isJSON(contentType: stream.header("content-type", direction)) else { return false }
        guard let encoding = stream.header("content-encoding", direction) else { return true }
        return encoding.lowercased() == "identity"
    }

    /// The whole body (after GW_BUFFER): parse, edit, and replace it only if an edit
    /// changed something (the host then fixes Content-Length).
    private func edit(_ stream: Stream, _ direction: Stream.Direction, body: UnsafeRawBufferPointer, edits: BodyEdits) -> FilterStatus {
        var document: JSONNode
        do {
            document = try JSONNode.parse(body, maxDepth: BodyEdits.maxDepth)
        } catch {
            guard edits.rejectInvalid else { return .continue }
            if direction == .request {
                stream.sendErrorReply(
                    status: 400, type: "invalid_json", message: "the request body is not valid JSON: \(error)",
                    details: "transform: invalid JSON request body")
            } else {
                stream.sendErrorReply(
                    status: 502, type: "invalid_upstream_json", message: "the upstream response body is not valid JSON",
                    details: "transform: invalid JSON response body: \(error)")
            }
            return .stop
        }
        guard edits.apply(to: &document) else { return .continue }
        if !stream.replaceBody(direction, with: document.serialized()) {
            PluginLog.warning("transform: the host refused the edited body (over the buffer limit?); the body is unchanged")
        }
        return .continue
    }
}

/// The one exported symbol.
@c(gw_plugin_entry_v1)
public func gwPluginEntryV1(_ host: UnsafePointer<gw_host_v1>, _ handle: OpaquePointer) -> UnsafePointer<gw_plugin_v1>? {
    GatewayPluginExport.export(
        TransformFilter.self, name: "transform", version: "0.2.0", optional: [.requestBody, .responseBody], host: host, handle: handle)
}
