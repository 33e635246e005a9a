import GatewayPluginSDK

/// One request to a prompt API.
final class PromptStreamFilter: StreamFilter {
    let factory: PromptTemplateFilter
    var config: PromptConfig { factory.config }
    /// The answer is a JSON chat completion to simplify (buffered whole).
    private var simplifyJSON = false
    /// The answer is an SSE stream of chunks to simplify event by event.
    private var simplifyEvents = false

    static let openAPISuffix = "/openapi.json"

    init(_ factory: PromptTemplateFilter) {
        self.factory = factory
    }

    func onRequestHeaders(_ stream: Stream, endOfStream: Bool) -> FilterStatus {
        let method = stream.attribute(.method) ?? ""
        let path = stream.attribute(.path) ?? "/"
        if method == "GET" && path.hasSuffix(Self.openAPISuffix) {
            let apiPath = String(path.dropLast(Self.openAPISuffix.utf8.count))
            stream.sendLocalReply(
                status: 200, headers: [("content-type", "application/json"), factory.versionHeader],
                body: factory.document(requestPath: apiPath.isEmpty ? "/" : apiPath))
            return .stop
        }
        guard method == "POST" else {
            return reject(
                stream, status: 405, type: "method_not_allowed",
                message: "use POST with a JSON object of variables (GET <path>\(Self.openAPISuffix) describes the API)",
                extraHeaders: [("allow", "POST")])
        }
        factory.publishOnFirstRequest(path: path)
        stream.setMetadata(namespace: "prompt", key: "name", value: config.name)
        stream.setMetadata(namespace: "prompt", key: "version", value: config.version)
        if let length = stream.header("content-length").flatMap({ Int($0) }), length > config.maxBodyBytes {
            return tooLarge(stream)
        }
        if endOfStream {
            return reject(stream, status: 400, type: "invalid_request", message: "the request body must be a JSON object of variables; it is empty")
        }
        return .buffer
    }

    func onRequestBody(_ stream: Stream, chunk: UnsafeRawBufferPointer, endOfStream: Bool) -> FilterStatus {
        // The headers hook asked for the whole body: `chunk` is all of it.
        guard endOfStream else { return .buffer }
        guard chunk.count <= config.maxBodyBytes else { return tooLarge(stream) }
        switch PromptRequest.render(chunk, config) {
        case .failure(.malformed(let message)):
            return reject(stream, status: 400, type: "invalid_request", message: message)
        case .failure(.invalid(let problems)):
            stream.sendLocalReply(
                status: 400, headers: [("content-type", "application/json"), factory.versionHeader],
                body: PromptRequest.errorBody(problems), details: "prompt_template: invalid variables")
            return .stop
        case .success(let rendered):
            stream.replaceBody(.request, with: rendered.body)
            stream.setHeader("content-type", "application/json")
            stream.removeHeader("content-encoding")
            return .continue
        }
    }

    func onResponseHeaders(_ stream: Stream, endOfStream: Bool) -> FilterStatus {
        stream.setHeader(factory.versionHeader.0, factory.versionHeader.1, .response)
        guard config.response == .simple, !endOfStream,
            let status = stream.attribute(.responseStatus).flatMap({ Int($0) }), (200..<300).contains(status)
        else { return .continue }
        let type = (stream.header("content-type", .response) ?? "").lowercased()
        if type.hasPrefix("text/event-stream") {
            simplifyEvents = true
            // Events change size as they are rewritten: the length is no longer known.
            stream.removeHeader("content-length", .response)
            return .continue
        }
        if type.hasPrefix("application/json") {
            simplifyJSON = true
            return .buffer
        }
        return .continue
    }

    func onResponseBody(_ stream: Stream, chunk: UnsafeRawBufferPointer, endOfStream: Bool) -> FilterStatus {
        guard simplifyJSON else { return .continue }
        guard endOfStream else { return .buffer }
        if let simple = SimpleResponse.fromCompletion(chunk) { stream.replaceBody(.response, with: simple) }
        return .continue
    }

    func onResponseSSEEvent(_ stream: Stream, event: SSEEvent, endOfStream: Bool) -> FilterStatus {
        guard simplifyEvents, !event.data.isEmpty, event.event.isEmpty || event.event == "message" else { return .continue }
        if let events = SimpleResponse.fromChunk(event.data) { stream.replaceBody(.response, with: events) }
        return .continue
    }

    private func tooLarge(_ stream: Stream) -> FilterStatus {
        reject(stream, status: 413, type: "body_too_large", message: "the variables object exceeds \(config.maxBodyBytes) bytes")
    }

    private func reject(
        _ stream: Stream, status: Int, type: String, message: String, extraHeaders: [(String, String)] = []
    ) -> FilterStatus {
        stream.sendErrorReply(
            status: status, type: type, message: message, headers: [factory.versionHeader] + extraHeaders,
            details: "prompt_template: " + type)
        return .stop
    }
}
