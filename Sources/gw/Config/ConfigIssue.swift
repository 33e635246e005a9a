/// One problem in a configuration file: where it is and what is wrong.
struct ConfigIssue: Error, CustomStringConvertible, Sendable, Equatable {
    var file: String
    var line: Int?
    var keyPath: String
    var message: String

    var description: String {
        let location = line.map { "\(file):\($0)" } ?? file
        return keyPath.isEmpty ? "\(location): \(message)" : "\(location): \(keyPath): \(message)"
    }
}

/// Every problem found in a configuration, reported together.
struct ConfigError: Error, CustomStringConvertible, Sendable {
    var issues: [ConfigIssue]
    var description: String { issues.map(\.description).joined(separator: "\n") }
}
