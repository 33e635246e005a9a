import Testing

/// End-to-end tests: a real gateway on 127.0.0.1 port 0, real upstream servers and
/// real plugin files. Serialized: the machine is small, some tests measure timing,
/// and the gateway's shutdown waits on a process-wide connection count.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct EndToEnd {}
