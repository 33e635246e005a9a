import GatewayPluginSDK

/// The `params:` block: Chat Completions parameters copied into every request body,
/// each checked for its type and range so that a typo fails at load, not upstream.
enum PromptParams {
    enum Rule {
        case number(ClosedRange<Double>)
        case integer(ClosedRange<Int>)
        /// A string, or a list of 1 to 4 strings.
        case stop
        case object
    }

    static let rules: [String: Rule] = [
        "temperature": .number(0...2),
        "top_p": .number(0...1),
        "presence_penalty": .number(-2...2),
        "frequency_penalty": .number(-2...2),
        "max_tokens": .integer(1...1_000_000),
        "max_completion_tokens": .integer(1...1_000_000),
        "seed": .integer(-9_007_199_254_740_991...9_007_199_254_740_991),
        "stop": .stop,
        "response_format": .object,
    ]

    /// Members of the body the template itself sets.
    static let owned = ["messages", "model", "stream", "stream_options"]

    static func read(_ value: JSONValue, at path: String, _ reader: inout ConfigReader) -> [String: JSONValue] {
        guard case .object(let members) = value else {
            reader.problem(at: path, "expected an object, got \(value.kindName)")
            return [:]
        }
        var params: [String: JSONValue] = [:]
        for key in members.keys.sorted() {
            let keyPath = ConfigReader.path(path, key)
            let value = members[key]!
            guard let rule = rules[key] else {
                if owned.contains(key) {
                    reader.problem(at: keyPath, "set by the template (use model:, messages: and allow_stream:), not by params")
                } else {
                    reader.problem(at: keyPath, "unknown parameter (expected one of: \(rules.keys.sorted().joined(separator: ", ")))")
                }
                continue
            }
            if check(value, rule, at: keyPath, &reader) { params[key] = value }
        }
        return params
    }

    private static func check(_ value: JSONValue, _ rule: Rule, at path: String, _ reader: inout ConfigReader) -> Bool {
        switch rule {
        case .number(let range):
            return reader.number(value, at: path, in: range) != nil
        case .integer(let range):
            return reader.integer(value, at: path, in: range) != nil
        case .object:
            guard case .object = value else {
                reader.problem(at: path, "expected an object, got \(value.kindName)")
                return false
            }
            return true
        case .stop:
            if case .string = value { return reader.string(value, at: path) != nil }
            guard let items = reader.strings(value, at: path) else { return false }
            guard items.count <= 4 else {
                reader.problem(at: path, "at most 4 stop sequences, got \(items.count)")
                return false
            }
            return items.count == value.arrayValue?.count
        }
    }
}
