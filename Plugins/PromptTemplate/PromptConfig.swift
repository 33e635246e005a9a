import GatewayPluginSDK

/// The prompt_template filter's configuration: one prompt published as an API,
/// validated once (every problem collected with its key path).
struct PromptConfig: Sendable {
    struct Message: Sendable {
        let role: String
        let template: PromptTemplate
    }

    enum ResponseMode: String, Sendable {
        /// The chat completion as the AI route answers it.
        case raw
        /// `{"result", "finish_reason", "usage", "model"}`; streamed as `{"delta"}` events.
        case simple
    }

    static let keys = [
        "allow_stream", "description", "max_body_bytes", "messages", "model", "name", "params", "path", "response",
        "variables", "version",
    ]
    static let roles = ["system", "user", "assistant"]
    static let defaultMaxBodyBytes = 64 << 10

    let name: String
    let version: String
    let description: String?
    let model: String
    /// Chat Completions parameters copied into every request body.
    let params: [String: JSONValue]
    let messages: [Message]
    /// Sorted by name.
    let variables: [PromptVariable]
    let response: ResponseMode
    let allowStream: Bool
    let maxBodyBytes: Int
    /// The API's public path, for the OpenAPI document; nil: the path requests arrive on.
    let path: String?

    init(_ json: JSONValue) throws(ConfigRejection) {
        var reader = ConfigReader()
        let root = reader.object(json, at: "", allowed: Self.keys) ?? [:]

        name = Self.required(root, "name", &reader).flatMap { Self.promptName($0, &reader) } ?? ""
        version = Self.required(root, "version", &reader).flatMap { Self.headerSafe($0, at: "version", &reader) } ?? ""
        model = Self.required(root, "model", &reader) ?? ""
        description = root["description"].flatMap { reader.string($0, at: "description") }
        path = root["path"].flatMap { reader.string($0, at: "path") }.flatMap { Self.apiPath($0, &reader) }

        response = root["response"].flatMap { value -> ResponseMode? in
            guard let text = reader.string(value, at: "response") else { return nil }
            guard let mode = ResponseMode(rawValue: text) else {
                reader.problem(at: "response", "expected raw or simple, got \(JSONValue.quote(text))")
                return nil
            }
            return mode
        } ?? .raw
        allowStream = root["allow_stream"].flatMap { reader.bool($0, at: "allow_stream") } ?? false
        maxBodyBytes =
            root["max_body_bytes"].flatMap { reader.integer($0, at: "max_body_bytes", in: 2...(10 << 20)) } ?? Self.defaultMaxBodyBytes
        params = root["params"].map { PromptParams.read($0, at: "params", &reader) } ?? [:]

        var messages: [Message] = []
        var templates: [(path: String, template: PromptTemplate)] = []
        if let value = root["messages"] {
            for (i, item) in (reader.array(value, at: "messages") ?? []).enumerated() {
                let path = ConfigReader.path("messages", i)
                let (role, template) = Self.message(item, at: path, &reader)
                if let template { templates.append((ConfigReader.path(path, "content"), template)) }
                if let role, let template { messages.append(Message(role: role, template: template)) }
            }
        } else {
            reader.problem(at: "messages", "missing (a list of {role, content})")
        }
        self.messages = messages

        variables = root["variables"].map { Self.variables($0, &reader) } ?? []
        Self.crossCheck(templates, declared: Set(root["variables"]?.objectValue.map { Array($0.keys) } ?? []), &reader)
        try reader.finish()
    }

    private static func required(_ root: [String: JSONValue], _ key: String, _ reader: inout ConfigReader) -> String? {
        guard let value = root[key] else {
            reader.problem(at: key, "missing")
            return nil
        }
        return reader.string(value, at: key)
    }

    /// Letters, digits, `_`, `-` and `.`: it names the shared-KV key and the OpenAPI operation.
    private static func promptName(_ name: String, _ reader: inout ConfigReader) -> String? {
        let ok = name.utf8.count <= 64 && name.utf8.allSatisfy { c in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || "_-.".utf8.contains(c)
        }
        guard ok else {
            reader.problem(at: "name", "\(JSONValue.quote(name)) is not a valid prompt name (letters, digits, _, - and ., at most 64)")
            return nil
        }
        return name
    }

    private static func headerSafe(_ text: String, at path: String, _ reader: inout ConfigReader) -> String? {
        guard text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) else {
            reader.problem(at: path, "must be printable ASCII (it is sent in the x-gw-prompt-version header)")
            return nil
        }
        return text
    }

    private static func apiPath(_ path: String, _ reader: inout ConfigReader) -> String? {
        guard path.hasPrefix("/"), !path.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7f || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") })
        else {
            reader.problem(at: "path", "expected an absolute path such as /apis/summarize (no query, spaces or control characters)")
            return nil
        }
        return path
    }

    /// One `messages[i]` entry: its role and template, each nil if refused.
    private static func message(
        _ item: JSONValue, at path: String, _ reader: inout ConfigReader
    ) -> (role: String?, template: PromptTemplate?) {
        guard let fields = reader.object(item, at: path, allowed: ["content", "role"]) else { return (nil, nil) }
        var role: String?
        let rolePath = ConfigReader.path(path, "role")
        if let value = fields["role"] {
            if let text = reader.string(value, at: rolePath) {
                if roles.contains(text) {
                    role = text
                } else {
                    reader.problem(at: rolePath, "expected system, user or assistant, got \(JSONValue.quote(text))")
                }
            }
        } else {
            reader.problem(at: rolePath, "missing")
        }
        var template: PromptTemplate?
        let contentPath = ConfigReader.path(path, "content")
        if let value = fields["content"] {
            if let text = reader.string(value, at: contentPath) {
                do {
                    template = try PromptTemplate.parse(text)
                } catch {
                    reader.problem(at: contentPath, error.message)
                }
            }
        } else {
            reader.problem(at: contentPath, "missing")
        }
        return (role, template)
    }

    private static func variables(_ value: JSONValue, _ reader: inout ConfigReader) -> [PromptVariable] {
        guard case .object(let members) = value else {
            reader.problem(at: "variables", "expected an object of name: {type, ...}, got \(value.kindName)")
            return []
        }
        return members.keys.sorted().compactMap { name in
            PromptVariableReader.read(name, members[name]!, at: ConfigReader.path("variables", name), &reader)
        }
    }

    /// Every placeholder is a declared variable, and every declared variable is used.
    private static func crossCheck(
        _ templates: [(path: String, template: PromptTemplate)], declared: Set<String>, _ reader: inout ConfigReader
    ) {
        var used = Set<String>()
        for (path, template) in templates {
            for name in template.variables {
                used.insert(name)
                if !declared.contains(name) {
                    let known = declared.isEmpty ? "none declared" : "declared: " + declared.sorted().joined(separator: ", ")
                    reader.problem(at: path, "{{\(name)}} is not a declared variable (\(known))")
                }
            }
        }
        // (A bad name was reported where it was declared.)
        for name in declared.sorted() where !used.contains(name) && PromptVariableReader.isAllowedName(name) {
            reader.problem(at: ConfigReader.path("variables", name), "declared but not used in any message")
        }
    }
}

extension ConfigReader {
    /// A boolean.
    mutating func bool(_ value: JSONValue, at path: String) -> Bool? {
        guard case .bool(let b) = value else {
            problem(at: path, "expected true or false, got \(value.kindName)")
            return nil
        }
        return b
    }

    /// A finite number within `range`.
    mutating func number(_ value: JSONValue, at path: String, in range: ClosedRange<Double>) -> Double? {
        guard case .number(let n) = value, n.isFinite else {
            problem(at: path, "expected a number, got \(value.kindName)")
            return nil
        }
        guard range.contains(n) else {
            problem(
                at: path,
                "must be between \(PromptVariable.numberText(range.lowerBound)) and \(PromptVariable.numberText(range.upperBound)), got \(PromptVariable.numberText(n))"
            )
            return nil
        }
        return n
    }
}
