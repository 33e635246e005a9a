import GatewayPluginSDK

/// Turns a caller's variables object into the Chat Completions request body.
enum PromptRequest {
    enum Failure: Error {
        /// Not JSON, or not an object: the parser's message.
        case malformed(String)
        /// Every variable problem, sorted by variable name.
        case invalid([PromptVariable.Problem])
    }

    struct Rendered {
        /// The Chat Completions request, as JSON text.
        let body: [UInt8]
        let stream: Bool
    }

    static func render(_ bytes: UnsafeRawBufferPointer, _ config: PromptConfig) -> Result<Rendered, Failure> {
        let input: JSONValue
        do {
            input = try JSONValue.parse(bytes)
        } catch {
            return .failure(.malformed("the request body is not valid JSON (\(error.description))"))
        }
        guard case .object(let members) = input else {
            return .failure(.malformed("the request body must be a JSON object of variables, got \(input.kindName)"))
        }

        var problems: [PromptVariable.Problem] = []
        var texts: [String: String] = [:]
        for variable in config.variables {
            if let value = members[variable.name] {
                if let problem = variable.problem(with: value) {
                    problems.append(problem)
                } else {
                    texts[variable.name] = PromptVariable.text(of: value)
                }
            } else if variable.required {
                problems.append(.init(variable: variable.name, code: "missing", message: "required"))
            } else if let value = variable.defaultValue {
                texts[variable.name] = PromptVariable.text(of: value)
            }
        }
        var stream = false
        for name in members.keys.sorted() where !config.variables.contains(where: { $0.name == name }) {
            if name == "stream" {
                switch (members[name]!, config.allowStream) {
                case (.bool(let wanted), true): stream = wanted
                case (.bool(false), false): break
                case (.bool(true), false):
                    problems.append(.init(variable: name, code: "not_allowed", message: "this prompt API does not stream"))
                default:
                    problems.append(.init(variable: name, code: "wrong_type", message: "expected a boolean, got \(members[name]!.kindName)"))
                }
                continue
            }
            let known = config.variables.map(\.name).joined(separator: ", ")
            problems.append(
                .init(variable: name, code: "unknown", message: "not a variable of this prompt (variables: \(known.isEmpty ? "none" : known))"))
        }
        guard problems.isEmpty else {
            return .failure(.invalid(problems.sorted { $0.variable < $1.variable }))
        }

        var body = config.params
        body["model"] = .string(config.model)
        body["messages"] = .array(
            config.messages.map { message in
                .object(["role": .string(message.role), "content": .string(message.template.render(texts))])
            })
        body["stream"] = .bool(stream)
        if stream { body["stream_options"] = .object(["include_usage": .bool(true)]) }
        var out: [UInt8] = []
        JSONValue.object(body).serialize(into: &out)
        return .success(Rendered(body: out, stream: stream))
    }

    /// At most this many problems are listed: a body of many unknown members must not
    /// turn into a much larger answer.
    static let maxListedProblems = 50

    /// The 400 body: `{"error":{"type":"invalid_variables","message","details":[{variable, problem, message}]}}`.
    static func errorBody(_ all: [PromptVariable.Problem]) -> String {
        let problems = all.prefix(maxListedProblems)
        let summary = problems.map { "\($0.variable) (\($0.code == "missing" ? "missing" : $0.message))" }.joined(separator: "; ")
        let details = problems.map { p -> JSONValue in
            .object(["variable": .string(p.variable), "problem": .string(p.code), "message": .string(p.message)])
        }
        let count = all.count == 1 ? "1 invalid variable" : "\(all.count) invalid variables"
        let listed = all.count > problems.count ? " (the first \(problems.count) listed)" : ""
        let error: JSONValue = .object([
            "type": .string("invalid_variables"),
            "message": .string("\(count)\(listed): \(summary)"),
            "details": .array(Array(details)),
        ])
        return JSONValue.object(["error": error]).serialized()
    }
}
