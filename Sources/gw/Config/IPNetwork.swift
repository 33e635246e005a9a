import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An address range as a listener's `trusted_proxies` names it: one address
/// (`10.1.2.3`, `::1`) or a CIDR block (`10.0.0.0/8`, `2001:db8::/32`). An IPv4
/// range also holds the IPv4-mapped IPv6 form of its addresses (`::ffff:10.1.2.3`,
/// what a dual-stack socket reports).
struct IPNetwork: Sendable, Equatable, CustomStringConvertible {
    /// The network's address, 4 or 16 bytes, with the bits past `prefix` zero.
    let address: [UInt8]
    let prefix: Int

    enum ParseError: Error, Equatable {
        case notAnAddress
        case badPrefix
        /// Bits past the prefix are set (`10.0.0.1/8`): almost always a typo.
        case hostBitsSet(suggestion: String)
    }

    init(parsing text: String) throws(ParseError) {
        let slash = text.firstIndex(of: "/")
        let addressText = String(slash.map { text[..<$0] } ?? text[...])
        guard let address = Self.parseAddress(addressText) else { throw .notAnAddress }
        let bits = address.count * 8
        var prefix = bits
        if let slash {
            let digits = text[text.index(after: slash)...]
            guard !digits.isEmpty, digits.count <= 3, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let p = Int(digits), p <= bits
            else { throw .badPrefix }
            prefix = p
        }
        let masked = Self.mask(address, prefix: prefix)
        if masked != address {
            throw .hostBitsSet(suggestion: "\(Self.format(masked))/\(prefix)")
        }
        // `::ffff:10.0.0.0/104` is the IPv4 range 10.0.0.0/8, and matches peers of both forms.
        if masked.count == 16, prefix >= 96, masked[0..<10].allSatisfy({ $0 == 0 }), masked[10] == 0xff, masked[11] == 0xff {
            self.address = Array(masked[12..<16])
            self.prefix = prefix - 96
            return
        }
        self.address = masked
        self.prefix = prefix
    }

    var description: String { prefix == address.count * 8 ? Self.format(address) : "\(Self.format(address))/\(prefix)" }

    /// Whether `peer` is in the range (Unix-domain sockets never are).
    func contains(_ peer: SocketAddress) -> Bool {
        switch peer {
        case .v4(let a):
            return withUnsafeBytes(of: a.address.sin_addr) { matches(Array($0)) }
        case .v6(let a):
            return withUnsafeBytes(of: a.address.sin6_addr) { bytes in
                let v6 = Array(bytes)
                if address.count == 4 {
                    // ::ffff:a.b.c.d
                    guard v6[0..<10].allSatisfy({ $0 == 0 }), v6[10] == 0xff, v6[11] == 0xff else { return false }
                    return matches(Array(v6[12..<16]))
                }
                return matches(v6)
            }
        case .unixDomainSocket:
            return false
        }
    }

    private func matches(_ peer: [UInt8]) -> Bool {
        peer.count == address.count && Self.mask(peer, prefix: prefix) == address
    }

    private static func mask(_ bytes: [UInt8], prefix: Int) -> [UInt8] {
        var out = bytes
        for i in 0..<out.count {
            let keep = max(0, min(8, prefix - i * 8))
            out[i] &= keep == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - keep))
        }
        return out
    }

    private static func parseAddress(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: v6) { Array($0) } }
        return nil
    }

    private static func format(_ bytes: [UInt8]) -> String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let ok = bytes.withUnsafeBytes { raw in
            inet_ntop(bytes.count == 4 ? AF_INET : AF_INET6, raw.baseAddress, &text, socklen_t(text.count)) != nil
        }
        guard ok else { return bytes.map(String.init).joined(separator: ".") }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension Array where Element == IPNetwork {
    /// Whether any range holds `peer` (false for none or no ranges).
    func contains(_ peer: SocketAddress?) -> Bool {
        guard let peer, !isEmpty else { return false }
        return contains { $0.contains(peer) }
    }
}
