import CGatewayPlugin

/// The feature bits this host offers, and their names for messages.
public enum HostFeatures {
    public static let offered: UInt64 =
        UInt64(GW_FEATURE_REQUEST_BODY) | UInt64(GW_FEATURE_RESPONSE_BODY) | UInt64(GW_FEATURE_HTTP_CALLOUT)
        | UInt64(GW_FEATURE_SHARED_KV) | UInt64(GW_FEATURE_SSE_EVENTS) | UInt64(GW_FEATURE_METRICS)
        | UInt64(GW_FEATURE_SHARED_STORE)

    static let names: [(UInt64, String)] = [
        (UInt64(GW_FEATURE_REQUEST_BODY), "request_body"),
        (UInt64(GW_FEATURE_RESPONSE_BODY), "response_body"),
        (UInt64(GW_FEATURE_HTTP_CALLOUT), "http_callout"),
        (UInt64(GW_FEATURE_SHARED_KV), "shared_kv"),
        (UInt64(GW_FEATURE_SSE_EVENTS), "sse_events"),
        (UInt64(GW_FEATURE_METRICS), "metrics"),
        (UInt64(GW_FEATURE_SHARED_STORE), "shared_store"),
    ]

    /// Names of the bits set in `bits`; unknown bits as `bit<N>`.
    public static func describe(_ bits: UInt64) -> [String] {
        var result: [String] = []
        for bit in 0..<64 {
            let mask = UInt64(1) << UInt64(bit)
            guard bits & mask != 0 else { continue }
            result.append(names.first { $0.0 == mask }?.1 ?? "bit\(bit)")
        }
        return result
    }
}
