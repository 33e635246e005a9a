/// The configured plain API keys' positions in `AuthConfig.keys`, found by a seeded
/// 64-bit hash of the presented bytes: open addressing, linear probing, at most half
/// full. One hash and, usually, one probe per request.
///
/// The hash is a word-at-a-time multiply-xorshift mix, not SipHash: the table is
/// built once from the config (nothing a client sends is ever inserted, so there is
/// nothing to flood), and a hash match only leads to the constant-time comparison
/// of `AuthConfig.plainMatch`, which is what keeps keys secret. The seed is random
/// per config so which slots are taken differs from process to process.
struct PlainKeyTable: Sendable {
    private struct Slot: Sendable {
        var hash: UInt64
        /// Index in `AuthConfig.keys`, -1 for an empty slot.
        var key: Int
    }

    private let seed: UInt64
    private let slots: [Slot]
    private let mask: Int
    /// Keys in the table: less than the plain keys when two shared a hash (the second
    /// is then found by its digest).
    let count: Int

    /// `plainKeys`: each plain key's bytes and index.
    init(_ plainKeys: [(bytes: [UInt8], index: Int)]) {
        var generator = SystemRandomNumberGenerator()
        seed = generator.next()
        var capacity = 4
        while capacity < plainKeys.count * 2 { capacity <<= 1 }
        var slots = [Slot](repeating: Slot(hash: 0, key: -1), count: capacity)
        let mask = capacity - 1
        var count = 0
        for (bytes, index) in plainKeys {
            let hash = bytes.withUnsafeBytes { [seed] in Self.hash($0, seed: seed) }
            var at = Int(truncatingIfNeeded: hash) & mask
            var taken = false
            while slots[at].key >= 0 {
                if slots[at].hash == hash { taken = true }
                at = (at + 1) & mask
            }
            guard !taken else { continue }
            slots[at] = Slot(hash: hash, key: index)
            count += 1
        }
        self.slots = slots
        self.mask = mask
        self.count = count
    }

    /// The index of the key whose hash equals the presented bytes' hash, if any (the
    /// caller compares the bytes themselves).
    func candidate(_ presented: UnsafeRawBufferPointer) -> Int? {
        let hash = Self.hash(presented, seed: seed)
        return slots.withUnsafeBufferPointer { slots in
            var at = Int(truncatingIfNeeded: hash) & mask
            while true {
                let slot = slots[at]
                if slot.key < 0 { return nil }
                if slot.hash == hash { return slot.key }
                at = (at + 1) & mask
            }
        }
    }

    /// Eight bytes at a time (the last, short word zero-padded), each mixed in with a
    /// multiply and an xorshift; the length goes into the start value and a
    /// SplitMix64 finaliser spreads the result.
    static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        var h = seed ^ (UInt64(bytes.count) &* 0x9e37_79b9_7f4a_7c15)
        guard let base = bytes.baseAddress else { return finalised(h) }
        let count = bytes.count
        var i = 0
        while i + 8 <= count {
            h = mixed(h ^ UInt64(littleEndian: (base + i).loadUnaligned(as: UInt64.self)))
            i += 8
        }
        if i < count {
            var word: UInt64 = 0
            var shift: UInt64 = 0
            while i < count {
                word |= UInt64(bytes[i]) << shift
                shift += 8
                i += 1
            }
            h = mixed(h ^ word)
        }
        return finalised(h)
    }

    @inline(__always)
    private static func mixed(_ x: UInt64) -> UInt64 {
        let y = x &* 0xff51_afd7_ed55_8ccd
        return y ^ (y >> 29)
    }

    @inline(__always)
    private static func finalised(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
