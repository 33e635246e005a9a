import GatewayPluginSDK

/// The filter's configuration, parsed once and shared by every event loop.
final class HelloConfig: FilterFactory {
    let responseHeader: String
    let responseValue: String
    let rejectHeader: String?

    init(config: JSONValue, context: ConfigContext) throws {
        guard let fields = config.objectValue else { throw ConfigRejection("config must be a JSON object") }
        for key in fields.keys where !["response_header", "response_value", "reject_header"].contains(key) {
            throw ConfigRejection("unknown key \"\(key)\" (expected response_header, response_value, reject_header)")
        }
        func string(_ key: String, default value: String?) throws -> String? {
            guard let field = fields[key] else { return value }
            guard let text = field.stringValue, !text.isEmpty, !text.contains("\r"), !text.contains("\n") else {
                throw ConfigRejection("\(key) must be a non-empty string without CR or LF")
            }
            return text
        }
        responseHeader = try string("response_header", default: "x-sample-swift") ?? "x-sample-swift"
        responseValue = try string("response_value", default: "hello from Swift") ?? "hello from Swift"
        rejectHeader = try string("reject_header", default: nil)
    }

    /// Only these hooks are registered: bodies stream past this filter untouched.
    static let hooks: FilterHooks = [.requestHeaders, .responseHeaders]

    func makeFilter(stream: Stream) -> (any StreamFilter)? {
        HelloFilter(config: self)
    }
}

/// Adds a response header; answers 403 when the request carries `reject_header`.
final class HelloFilter: StreamFilter {
    let config: HelloConfig

    init(config: HelloConfig) {
        self.config = config
    }

    func onRequestHeaders(_ stream: Stream, endOfStream: Bool) -> FilterStatus {
        guard let reject = config.rejectHeader, stream.header(reject) != nil else { return .continue }
        stream.sendLocalReply(
            status: 403, headers: [("content-type", "application/json")],
            body: "{\"error\":{\"type\":\"rejected_by_plugin\",\"message\":\"request carries header \(reject)\"}}")
        return .stop
    }

    func onResponseHeaders(_ stream: Stream, endOfStream: Bool) -> FilterStatus {
        stream.setHeader(config.responseHeader, config.responseValue, .response)
        return .continue
    }
}

/// The one exported symbol.
@c(gw_plugin_entry_v1)
public func gwPluginEntryV1(_ host: UnsafePointer<gw_host_v1>, _ handle: OpaquePointer) -> UnsafePointer<gw_plugin_v1>? {
    GatewayPluginExport.export(HelloConfig.self, name: "sample_swift", version: "1.0.0", host: host, handle: handle)
}
