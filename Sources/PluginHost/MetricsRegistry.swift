import Synchronization

/// Counters, gauges and histograms defined by plugins (and by the gateway itself),
/// rendered in the Prometheus text format on the admin listener.
public final class MetricsRegistry: Sendable {
    public enum Kind: Sendable, Equatable {
        case counter, gauge, histogram
    }

    /// Histogram bucket upper bounds (seconds-friendly, Prometheus defaults).
    static let buckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    struct Series {
        var value: Double = 0
        var bucketCounts: [UInt64] = []
        var count: UInt64 = 0
    }

    struct Metric {
        var name: String
        var kind: Kind
        var labelNames: [String]
        var series: [[String]: Series] = [:]
    }

    private let state = Mutex<[Metric]>([])

    public init() {}

    /// Define (or find) a metric; returns its id. Fails if the name exists with another
    /// kind or other labels.
    public func define(name: String, kind: Kind, labelNames: [String]) -> UInt32? {
        state.withLock { metrics in
            if let index = metrics.firstIndex(where: { $0.name == name }) {
                let metric = metrics[index]
                return metric.kind == kind && metric.labelNames == labelNames ? UInt32(index) : nil
            }
            metrics.append(Metric(name: name, kind: kind, labelNames: labelNames))
            return UInt32(metrics.count - 1)
        }
    }

    /// Record a value; false if the id or label count is wrong.
    @discardableResult
    public func record(id: UInt32, labels: [String], value: Double) -> Bool {
        state.withLock { metrics in
            let index = Int(id)
            guard index < metrics.count, metrics[index].labelNames.count == labels.count else { return false }
            var series = metrics[index].series[labels] ?? Series()
            switch metrics[index].kind {
            case .counter: series.value += value
            case .gauge: series.value = value
            case .histogram:
                if series.bucketCounts.isEmpty { series.bucketCounts = Array(repeating: 0, count: Self.buckets.count) }
                for (i, bound) in Self.buckets.enumerated() where value <= bound { series.bucketCounts[i] += 1 }
                series.value += value
                series.count += 1
            }
            metrics[index].series[labels] = series
            return true
        }
    }

    /// The Prometheus text exposition of every metric.
    public func render() -> String {
        let metrics = state.withLock { $0 }
        var out = ""
        for metric in metrics {
            let type = metric.kind == .counter ? "counter" : metric.kind == .gauge ? "gauge" : "histogram"
            out += "# TYPE \(metric.name) \(type)\n"
            for (labels, series) in metric.series.sorted(by: { $0.key.joined() < $1.key.joined() }) {
                let pairs = zip(metric.labelNames, labels).map { "\($0)=\"\(Self.escape($1))\"" }
                func labelText(_ extra: [String] = []) -> String {
                    let all = pairs + extra
                    return all.isEmpty ? "" : "{" + all.joined(separator: ",") + "}"
                }
                if metric.kind == .histogram {
                    for (i, bound) in Self.buckets.enumerated() {
                        out += "\(metric.name)_bucket\(labelText(["le=\"\(bound)\""])) \(series.bucketCounts[i])\n"
                    }
                    out += "\(metric.name)_bucket\(labelText(["le=\"+Inf\""])) \(series.count)\n"
                    out += "\(metric.name)_sum\(labelText()) \(series.value)\n"
                    out += "\(metric.name)_count\(labelText()) \(series.count)\n"
                } else {
                    out += "\(metric.name)\(labelText()) \(series.value)\n"
                }
            }
        }
        return out
    }

    static func escape(_ value: String) -> String {
        var out = ""
        for ch in value {
            switch ch {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(ch)
            }
        }
        return out
    }
}
