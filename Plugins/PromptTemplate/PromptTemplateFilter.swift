import GatewayPluginSDK
import Synchronization

/// A prompt published as a REST API: validates the caller's variables, renders the
/// template into an OpenAI Chat Completions request for the route's AI action, and
/// optionally simplifies the answer. Also serves the API's OpenAPI document.
final class PromptTemplateFilter: FilterFactory {
    let config: PromptConfig
    /// The document for `config.path` (without a path it is made per request).
    let openAPIDocument: String?
    /// `gw.openapi.prompt.<name>` in the shared KV.
    let openAPIKey: String
    /// Set once the document is in the shared KV.
    private let published: Atomic<Bool>
    let versionHeader: (String, String)

    static let hooks: FilterHooks = [.requestHeaders, .requestBody, .responseHeaders, .responseBody, .responseSSEEvent]

    /// A raw answer (the default) passes through as the AI route gives it: the response
    /// body and its events stream past this filter without a call per chunk or event.
    var unusedHooks: FilterHooks { config.response == .simple ? [] : [.responseBody, .responseSSEEvent] }

    init(config json: JSONValue, context: ConfigContext) throws {
        let config = try PromptConfig(json)
        if config.response == .simple && config.allowStream && !GatewayHost.offers(.sseEvents) {
            throw ConfigRejection("allow_stream: a simple streamed response needs the host's SSE event hook, which this gw lacks")
        }
        self.config = config
        openAPIKey = "gw.openapi.prompt." + config.name
        versionHeader = ("x-gw-prompt-version", config.version)
        openAPIDocument = config.path.map { PromptOpenAPI.document(config, path: $0) }
        published = Atomic(false)
        if let document = openAPIDocument { publish(document) }
    }

    func makeFilter(stream: Stream) -> (any StreamFilter)? {
        PromptStreamFilter(self)
    }

    /// The OpenAPI document for the API at `path` (the configured path if there is one).
    func document(requestPath path: String) -> String {
        if let openAPIDocument { return openAPIDocument }
        let document = PromptOpenAPI.document(config, path: path)
        publish(document)
        return document
    }

    /// Without a configured path, the first request tells where the API lives.
    func publishOnFirstRequest(path: String) {
        guard openAPIDocument == nil, !published.load(ordering: .relaxed) else { return }
        publish(PromptOpenAPI.document(config, path: path))
    }

    private func publish(_ document: String) {
        guard !published.exchange(true, ordering: .relaxed) else { return }
        do {
            try SharedKV.set(openAPIKey, Array(document.utf8))
        } catch {
            PluginLog.warning("prompt \(config.name): could not publish the OpenAPI document under \(openAPIKey): \(error)")
        }
    }
}

/// The one exported symbol.
@c(gw_plugin_entry_v1)
public func gwPluginEntryV1(_ host: UnsafePointer<gw_host_v1>, _ handle: OpaquePointer) -> UnsafePointer<gw_plugin_v1>? {
    GatewayPluginExport.export(
        PromptTemplateFilter.self, name: "prompt_template", version: "0.1.0",
        required: [.requestBody, .responseBody, .sharedKV], optional: [.sseEvents], host: host, handle: handle)
}
