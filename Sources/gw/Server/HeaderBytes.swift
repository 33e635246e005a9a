import NIOHTTP1
import PluginHost

/// Header helpers over raw bytes, for heads gw reads without making strings
/// (`ReceivedRequestHead`, `ReceivedResponseHead`). `HopByHop` has the String forms.

/// `value` without the spaces and tabs around it (optional whitespace, RFC 9110 §5.6.3).
@inline(__always)
func trimmingWhitespace(_ value: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
    var first = 0
    var last = value.count
    while first < last && (value[first] == 32 || value[first] == 9) { first += 1 }
    while last > first && (value[last - 1] == 32 || value[last - 1] == 9) { last -= 1 }
    return UnsafeRawBufferPointer(rebasing: value[first..<last])
}

/// Each non-empty element of a comma-separated value (RFC 9110 §5.6.1), trimmed.
func forEachElement(_ value: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
    var i = 0
    while i < value.count {
        var end = i
        while end < value.count && value[end] != 44 { end += 1 }
        let element = trimmingWhitespace(UnsafeRawBufferPointer(rebasing: value[i..<end]))
        if !element.isEmpty { body(element) }
        i = end + 1
    }
}

/// The fixed hop-by-hop names of `HopByHop.names` other than `connection`.
func isFixedHopByHopName(_ name: UnsafeRawBufferPointer) -> Bool {
    switch name.count {
    case 2: return equalBytesIgnoringCase(name, "te")
    case 7: return equalBytesIgnoringCase(name, "trailer") || equalBytesIgnoringCase(name, "upgrade")
    case 10: return equalBytesIgnoringCase(name, "keep-alive")
    case 16: return equalBytesIgnoringCase(name, "proxy-connection")
    case 18: return equalBytesIgnoringCase(name, "proxy-authenticate")
    default: return false
    }
}

/// ASCII case-insensitive equality of raw bytes with a string (either case).
func asciiEqualsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ other: String) -> Bool {
    var i = 0
    for byte in other.utf8 {
        guard i < bytes.count else { return false }
        let a = bytes[i]
        if a != byte {
            let foldedA = (a >= 65 && a <= 90) ? a + 32 : a
            let foldedB = (byte >= 65 && byte <= 90) ? byte + 32 : byte
            if foldedA != foldedB { return false }
        }
        i += 1
    }
    return i == bytes.count
}

extension HTTPMethod {
    /// `self == .HEAD` without NIO's `==`, which builds and compares both raw-value
    /// strings (three of those per request were about 400 instructions).
    var isHEAD: Bool {
        if case .HEAD = self { return true }
        return false
    }

    /// POST, PUT or PATCH: a request of one of these without a framing header goes
    /// upstream chunked.
    var isPostPutOrPatch: Bool {
        switch self {
        case .POST, .PUT, .PATCH: return true
        default: return false
        }
    }
}
