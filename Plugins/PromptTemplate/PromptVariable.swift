import GatewayPluginSDK

/// One declared variable of a prompt: its type and constraints, checked against the
/// value a caller sends, and how that value is written into the prompt text.
struct PromptVariable: Sendable {
    enum Kind: String, Sendable, CaseIterable {
        case string, number, integer, boolean
        case `enum`
    }

    /// Why a caller's value was refused; `code` is the `problem` of the 400's details.
    struct Problem: Sendable, Equatable {
        let variable: String
        let code: String
        let message: String
    }

    let name: String
    let kind: Kind
    /// The allowed values of an `enum` (strings).
    let values: [String]
    let required: Bool
    let defaultValue: JSONValue?
    /// Most Unicode scalars a string (or enum) value may have, as JSON Schema's `maxLength` counts.
    let maxLength: Int?
    let description: String?

    /// Integers beyond 2^53 cannot be told apart as JSON numbers (IEEE doubles).
    static let largestExactInteger = 9_007_199_254_740_992.0

    /// Nil if `value` is acceptable.
    func problem(with value: JSONValue) -> Problem? {
        switch (kind, value) {
        case (.string, .string(let text)):
            return lengthProblem(text)
        case (.enum, .string(let text)):
            guard values.contains(text) else {
                return Problem(
                    variable: name, code: "not_in_enum",
                    message: "expected one of: \(values.map { JSONValue.quote($0) }.joined(separator: ", "))")
            }
            return nil
        case (.number, .number(let n)) where n.isFinite:
            return nil
        case (.integer, .number(let n)):
            guard n.rounded() == n, n.magnitude <= Self.largestExactInteger else {
                return Problem(variable: name, code: "wrong_type", message: "expected an integer, got \(Self.numberText(n))")
            }
            return nil
        case (.boolean, .bool):
            return nil
        default:
            return Problem(variable: name, code: "wrong_type", message: "expected \(expectedKind), got \(value.kindName)")
        }
    }

    private func lengthProblem(_ text: String) -> Problem? {
        guard let maxLength else { return nil }
        let length = text.unicodeScalars.count
        guard length > maxLength else { return nil }
        return Problem(variable: name, code: "too_long", message: "\(length) characters, at most \(maxLength) allowed")
    }

    var expectedKind: String {
        switch kind {
        case .string, .enum: return "a string"
        case .number: return "a number"
        case .integer: return "an integer"
        case .boolean: return "a boolean"
        }
    }

    /// The value as it appears in the prompt: strings as they are; numbers in their
    /// shortest form (`3`, not `3.0`; `0.1`); booleans `true` / `false`.
    static func text(of value: JSONValue) -> String {
        switch value {
        case .string(let s): return s
        case .number(let n): return numberText(n)
        case .bool(let b): return b ? "true" : "false"
        case .null: return ""
        case .array, .object: return ""
        }
    }

    /// Whole numbers up to 2^53 without a fraction, others in Swift's shortest
    /// round-tripping form (as the SDK's serializer writes them).
    static func numberText(_ n: Double) -> String {
        JSONValue.numberText(n)
    }
}
