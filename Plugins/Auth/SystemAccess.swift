import Glibc

/// What the plugin needs from the system beyond libcrypto, without Foundation: the
/// wall clock for JWT times (the host table offers a monotonic clock only), and, at
/// config time, environment variables and small files (secrets, PEM keys, JWKS).
enum SystemAccess {
    /// Seconds since the Unix epoch (`CLOCK_REALTIME`).
    static func wallClockSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1_000_000_000
    }

    /// The value of environment variable `name`, or nil if it is not set.
    static func environment(_ name: String) -> [UInt8]? {
        guard let value = getenv(name) else { return nil }
        return Array(UnsafeRawBufferPointer(start: value, count: strlen(value)))
    }

    /// The contents of the regular file at `path`, at most `limit` bytes; otherwise
    /// why not ("No such file or directory", "larger than 1048576 bytes", ...).
    static func readFile(_ path: String, limit: Int) -> Result<[UInt8], FileError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(FileError(message: errorText(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .failure(FileError(message: errorText(errno))) }
        guard info.st_mode & S_IFMT == S_IFREG else { return .failure(FileError(message: "not a regular file")) }
        guard Int(info.st_size) <= limit else { return .failure(FileError(message: "larger than \(limit) bytes")) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(FileError(message: errorText(errno)))
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            guard bytes.count <= limit else { return .failure(FileError(message: "larger than \(limit) bytes")) }
        }
        return .success(bytes)
    }

    struct FileError: Error {
        let message: String
    }

    private static func errorText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }
}

extension Array where Element == UInt8 {
    /// Without trailing CR and LF (a secret file written by `echo` ends with a newline).
    func droppingTrailingLineBreaks() -> [UInt8] {
        var end = count
        while end > 0 && (self[end - 1] == 0x0a || self[end - 1] == 0x0d) { end -= 1 }
        return Array(self[0..<end])
    }
}
