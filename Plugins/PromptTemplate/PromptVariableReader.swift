import GatewayPluginSDK

/// Reads one `variables.<name>` entry of the config.
enum PromptVariableReader {
    static let keys = ["default", "description", "max_length", "required", "type", "values"]
    /// Request-body members that are not variables.
    static let reserved = ["stream"]

    static func isAllowedName(_ name: String) -> Bool {
        PromptTemplate.isValidName(name) && !reserved.contains(name)
    }

    static func read(_ name: String, _ value: JSONValue, at path: String, _ reader: inout ConfigReader) -> PromptVariable? {
        let before = reader.problems.count
        if reserved.contains(name) {
            reader.problem(at: path, "\(JSONValue.quote(name)) is reserved (the request's \"\(name)\" member)")
        } else if !PromptTemplate.isValidName(name) {
            reader.problem(at: path, "\(JSONValue.quote(name)) is not a valid variable name (letters, digits and _, not starting with a digit)")
        }
        guard let fields = reader.object(value, at: path, allowed: keys) else { return nil }

        var kind: PromptVariable.Kind?
        let kinds = PromptVariable.Kind.allCases.map(\.rawValue)
        let typePath = ConfigReader.path(path, "type")
        if let value = fields["type"] {
            if let text = reader.string(value, at: typePath) {
                kind = PromptVariable.Kind(rawValue: text)
                if kind == nil { reader.problem(at: typePath, "expected one of \(kinds.joined(separator: ", ")), got \(JSONValue.quote(text))") }
            }
        } else {
            reader.problem(at: typePath, "missing (one of \(kinds.joined(separator: ", ")))")
        }

        var values: [String] = []
        let valuesPath = ConfigReader.path(path, "values")
        if let value = fields["values"] {
            if kind != nil && kind != .enum {
                reader.problem(at: valuesPath, "only for type enum")
            } else if let items = reader.strings(value, at: valuesPath) {
                for item in items {
                    if values.contains(item.value) {
                        reader.problem(at: item.path, "duplicate value \(JSONValue.quote(item.value))")
                    } else {
                        values.append(item.value)
                    }
                }
            }
        } else if kind == .enum {
            reader.problem(at: valuesPath, "missing (the allowed values of an enum)")
        }

        let required = fields["required"].flatMap { reader.bool($0, at: ConfigReader.path(path, "required")) } ?? false
        let description = fields["description"].flatMap { reader.string($0, at: ConfigReader.path(path, "description")) }

        var maxLength: Int?
        let maxPath = ConfigReader.path(path, "max_length")
        if let value = fields["max_length"] {
            if kind != nil && kind != .string {
                reader.problem(at: maxPath, "only for type string")
            } else {
                maxLength = reader.integer(value, at: maxPath, in: 1...1_000_000)
            }
        }

        guard reader.problems.count == before, let kind else { return nil }
        var variable = PromptVariable(
            name: name, kind: kind, values: values, required: required, defaultValue: nil, maxLength: maxLength,
            description: description)
        if let value = fields["default"] {
            let defaultPath = ConfigReader.path(path, "default")
            if required {
                reader.problem(at: defaultPath, "a required variable never uses its default (remove one of the two)")
            } else if let problem = variable.problem(with: value) {
                reader.problem(at: defaultPath, problem.message)
            } else {
                variable = PromptVariable(
                    name: name, kind: kind, values: values, required: false, defaultValue: value, maxLength: maxLength,
                    description: description)
            }
        }
        return reader.problems.count == before ? variable : nil
    }
}
