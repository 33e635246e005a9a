import Yams

/// Walks a YAML node tree and records every problem with file, line and key path.
/// Readers return nil (after recording an issue) instead of throwing, so that one
/// pass reports all problems.
final class YAMLReader {
    let file: String
    private(set) var issues: [ConfigIssue] = []

    init(file: String) {
        self.file = file
    }

    func issue(_ node: Node?, _ path: String, _ message: String) {
        issues.append(ConfigIssue(file: file, line: node?.mark?.line, keyPath: path, message: message))
    }

    func issue(line: Int?, _ path: String, _ message: String) {
        issues.append(ConfigIssue(file: file, line: line, keyPath: path, message: message))
    }

    /// The pairs of a mapping node; records an issue for unknown keys.
    func mapping(_ node: Node, _ path: String, allowed: Set<String>? = nil) -> [(key: String, value: Node)]? {
        guard case .mapping(let mapping) = node else {
            issue(node, path, "expected a mapping")
            return nil
        }
        var result: [(String, Node)] = []
        var seen = Set<String>()
        for (keyNode, value) in mapping {
            guard let key = keyNode.scalar?.string else {
                issue(keyNode, path, "keys must be strings")
                continue
            }
            let child = path.isEmpty ? key : "\(path).\(key)"
            if !seen.insert(key).inserted {
                issue(keyNode, child, "duplicate key")
                continue
            }
            if let allowed, !allowed.contains(key) {
                issue(keyNode, child, "unknown key (expected one of: \(allowed.sorted().joined(separator: ", ")))")
                continue
            }
            result.append((key, value))
        }
        return result
    }

    func sequence(_ node: Node, _ path: String) -> [Node]? {
        guard case .sequence(let sequence) = node else {
            issue(node, path, "expected a list")
            return nil
        }
        return Array(sequence)
    }

    func string(_ node: Node, _ path: String, nonEmpty: Bool = true) -> String? {
        guard case .scalar(let scalar) = node else {
            issue(node, path, "expected a string")
            return nil
        }
        if nonEmpty && scalar.string.isEmpty {
            issue(node, path, "must not be empty")
            return nil
        }
        return scalar.string
    }

    func int(_ node: Node, _ path: String, min: Int = Int.min, max: Int = Int.max) -> Int? {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any, let value = Int(scalar.string) else {
            issue(node, path, "expected an integer")
            return nil
        }
        guard value >= min && value <= max else {
            issue(node, path, "must be between \(min) and \(max)")
            return nil
        }
        return value
    }

    func bool(_ node: Node, _ path: String) -> Bool? {
        guard case .scalar(let scalar) = node else {
            issue(node, path, "expected true or false")
            return nil
        }
        switch scalar.string.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            issue(node, path, "expected true or false")
            return nil
        }
    }

    /// Sizes: a plain integer (bytes) or with a suffix: 10KiB, 4MiB, 1GiB (also KB, MB, GB as powers of 1000).
    func size(_ node: Node, _ path: String) -> Int? {
        guard case .scalar(let scalar) = node else {
            issue(node, path, "expected a size such as 1048576 or 1MiB")
            return nil
        }
        let text = scalar.string.trimmingSpaces
        let units: [(String, Int)] = [
            ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1000), ("B", 1),
        ]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            if let number = Int(text.dropLast(suffix.count).trimmingSpaces), number >= 0 { return number * factor }
        }
        if let number = Int(text), number >= 0 { return number }
        issue(node, path, "expected a size such as 1048576 or 1MiB")
        return nil
    }

    /// Durations: "250ms", "2s", "5m", "1h", or a plain integer of milliseconds.
    func duration(_ node: Node, _ path: String) -> Duration? {
        guard case .scalar(let scalar) = node else {
            issue(node, path, "expected a duration such as 500ms, 2s or 1m")
            return nil
        }
        let text = scalar.string.trimmingSpaces
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            if let number = Int64(text.dropLast(suffix.count)), number >= 0 { return .milliseconds(number * factor) }
        }
        if let number = Int64(text), number >= 0 { return .milliseconds(number) }
        issue(node, path, "expected a duration such as 500ms, 2s or 1m")
        return nil
    }

    /// A node converted to JSON text (plugin configs are JSON by convention).
    func json(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain || scalar.style == .any {
                let text = scalar.string
                switch text {
                case "", "~", "null", "Null", "NULL": return "null"
                case "true", "True", "TRUE": return "true"
                case "false", "False", "FALSE": return "false"
                default:
                    if Int64(text) != nil { return text }
                    if let number = Double(text), number.isFinite, text.first != "." { return text }
                }
            }
            return JSON.quote(scalar.string)
        case .mapping(let mapping):
            let members = mapping.map { key, value in JSON.quote(key.scalar?.string ?? "") + ":" + json(value) }
            return "{" + members.joined(separator: ",") + "}"
        case .sequence(let sequence):
            return "[" + sequence.map { json($0) }.joined(separator: ",") + "]"
        case .alias:
            return "null"
        }
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}
