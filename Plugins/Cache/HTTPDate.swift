#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// HTTP dates (RFC 9110 §5.6.7) for `Expires` and `Date`: the IMF-fixdate form
/// `Sun, 06 Nov 1994 08:49:37 GMT`, which every current server sends. The two obsolete
/// forms are not parsed; an `Expires` that does not parse counts as already expired
/// (RFC 9111 §5.3), so such a response is simply not stored on its `Expires`.
enum HTTPDate {
    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// Seconds since the Unix epoch, or nil.
    static func parse(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        // "Sun, 06 Nov 1994 08:49:37 GMT" is exactly 29 bytes.
        guard bytes.count == 29, bytes[3] == 0x2C, bytes[4] == 0x20, bytes[7] == 0x20, bytes[11] == 0x20, bytes[16] == 0x20,
            bytes[19] == 0x3A, bytes[22] == 0x3A, bytes[25] == 0x20, String(decoding: bytes[26...], as: UTF8.self) == "GMT"
        else { return nil }
        guard let day = number(bytes[5...6]), let year = number(bytes[12...15]), let hour = number(bytes[17...18]),
            let minute = number(bytes[20...21]), let second = number(bytes[23...24])
        else { return nil }
        let monthName = String(decoding: bytes[8...10], as: UTF8.self).lowercased()
        guard let monthIndex = months.firstIndex(of: monthName) else { return nil }
        guard (1...31).contains(day), hour < 24, minute < 60, second < 61, year >= 1970 else { return nil }
        return daysFromCivil(year: year, month: monthIndex + 1, day: day) * 86_400 + hour * 3600 + minute * 60 + second
    }

    /// The wall clock, in seconds since the epoch (only for an `Expires` without `Date`).
    static func now() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec)
    }

    private static func number(_ digits: ArraySlice<UInt8>) -> Int64? {
        var result: Int64 = 0
        for c in digits {
            guard c >= 0x30 && c <= 0x39 else { return nil }
            result = result * 10 + Int64(c - 0x30)
        }
        return result
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int64, month: Int, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
