/// Reads a filter's JSON config and collects every problem with the key path at
/// fault, so that a config is refused once, with all its errors:
///
/// ```swift
/// var reader = ConfigReader()
/// let root = reader.object(config, at: "", allowed: ["keys", "header"]) ?? [:]
/// let header = root["header"].flatMap { reader.string($0, at: "header") } ?? "authorization"
/// try reader.finish()   // throws ConfigRejection(messages: ["header: expected a string", ...])
/// ```
///
/// Paths read like the YAML they come from: `limits[1].per`, `request.headers.add`.
/// The config root is the empty path. Every accessor returns nil after recording a problem.
public struct ConfigReader {
    public private(set) var problems: [String] = []

    public init() {}

    /// `base.key` (or `key` at the root).
    public static func path(_ base: String, _ key: String) -> String {
        base.isEmpty ? key : base + "." + key
    }

    /// `base[index]`.
    public static func path(_ base: String, _ index: Int) -> String {
        base + "[" + String(index) + "]"
    }

    /// Record a problem: "path: message" (or just the message at the root).
    public mutating func problem(at path: String, _ message: String) {
        problems.append(path.isEmpty ? message : path + ": " + message)
    }

    /// Throws `ConfigRejection` with every recorded problem, if any.
    public func finish() throws(ConfigRejection) {
        guard problems.isEmpty else { throw ConfigRejection(messages: problems) }
    }

    /// The members of an object. Keys not in `allowed` are problems, named in sorted order.
    public mutating func object(_ value: JSONValue, at path: String, allowed: [String]) -> [String: JSONValue]? {
        guard case .object(let members) = value else {
            problem(at: path, path.isEmpty ? "config must be an object" : "expected an object, got \(value.kindName)")
            return nil
        }
        for key in members.keys.sorted() where !allowed.contains(key) {
            problem(at: Self.path(path, key), "unknown key (expected one of: \(allowed.sorted().joined(separator: ", ")))")
        }
        return members
    }

    /// A string, non-empty unless `allowEmpty`.
    public mutating func string(_ value: JSONValue, at path: String, allowEmpty: Bool = false) -> String? {
        guard case .string(let text) = value else {
            problem(at: path, "expected a string, got \(value.kindName)")
            return nil
        }
        guard allowEmpty || !text.isEmpty else {
            problem(at: path, "must not be empty")
            return nil
        }
        return text
    }

    /// A whole number within `range`.
    public mutating func integer(_ value: JSONValue, at path: String, in range: ClosedRange<Int>) -> Int? {
        guard case .number(let number) = value, number.rounded() == number, number.magnitude < 9.0e15 else {
            problem(at: path, "expected an integer, got \(value.kindName)")
            return nil
        }
        let integer = Int(number)
        guard range.contains(integer) else {
            problem(at: path, "must be between \(range.lowerBound) and \(range.upperBound), got \(integer)")
            return nil
        }
        return integer
    }

    /// The items of an array, non-empty unless `allowEmpty`.
    public mutating func array(_ value: JSONValue, at path: String, allowEmpty: Bool = false) -> [JSONValue]? {
        guard case .array(let items) = value else {
            problem(at: path, "expected a list, got \(value.kindName)")
            return nil
        }
        guard allowEmpty || !items.isEmpty else {
            problem(at: path, "must not be empty")
            return nil
        }
        return items
    }

    /// A list of strings; each item that is not a non-empty string is a problem at `path[i]`.
    public mutating func strings(_ value: JSONValue, at path: String, allowEmpty: Bool = false) -> [(path: String, value: String)]? {
        guard let items = array(value, at: path, allowEmpty: allowEmpty) else { return nil }
        var result: [(path: String, value: String)] = []
        for (i, item) in items.enumerated() {
            let itemPath = Self.path(path, i)
            if let text = string(item, at: itemPath) { result.append((itemPath, text)) }
        }
        return result
    }

    /// An object whose values are strings, as (key, value) pairs sorted by key.
    public mutating func stringMap(_ value: JSONValue, at path: String) -> [(path: String, key: String, value: String)]? {
        guard case .object(let members) = value else {
            problem(at: path, "expected an object, got \(value.kindName)")
            return nil
        }
        var result: [(path: String, key: String, value: String)] = []
        for key in members.keys.sorted() {
            let memberPath = Self.path(path, key)
            guard case .string(let text) = members[key]! else {
                problem(at: memberPath, "expected a string, got \(members[key]!.kindName)")
                continue
            }
            result.append((memberPath, key, text))
        }
        return result
    }
}

extension JSONValue {
    /// "a string", "a number", ...: for messages.
    public var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "a list"
        case .object: return "an object"
        }
    }
}
