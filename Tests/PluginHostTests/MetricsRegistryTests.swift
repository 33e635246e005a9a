import Testing

@testable import PluginHost

@Suite struct MetricsRegistryTests {
    let registry = MetricsRegistry()

    @Test func aCounterAddsAndRendersPerLabelSet() throws {
        let id = try #require(registry.define(name: "gw_plugin_hits", kind: .counter, labelNames: ["route"]))
        #expect(registry.record(id: id, labels: ["a"], value: 1))
        #expect(registry.record(id: id, labels: ["a"], value: 2))
        #expect(registry.record(id: id, labels: ["b"], value: 5))
        let text = registry.render()
        #expect(text.contains("# TYPE gw_plugin_hits counter\n"))
        #expect(text.contains("gw_plugin_hits{route=\"a\"} 3.0\n"))
        #expect(text.contains("gw_plugin_hits{route=\"b\"} 5.0\n"))
    }

    @Test func aGaugeKeepsTheLastValue() throws {
        let id = try #require(registry.define(name: "g", kind: .gauge, labelNames: []))
        registry.record(id: id, labels: [], value: 7)
        registry.record(id: id, labels: [], value: 3)
        #expect(registry.render() == "# TYPE g gauge\ng 3.0\n")
    }

    @Test func aHistogramRendersCumulativeBucketsSumAndCount() throws {
        let id = try #require(registry.define(name: "lat", kind: .histogram, labelNames: []))
        registry.record(id: id, labels: [], value: 0.003)
        registry.record(id: id, labels: [], value: 0.2)
        registry.record(id: id, labels: [], value: 20)
        let text = registry.render()
        #expect(text.contains("# TYPE lat histogram\n"))
        #expect(text.contains("lat_bucket{le=\"0.001\"} 0\n"))
        #expect(text.contains("lat_bucket{le=\"0.005\"} 1\n"))
        #expect(text.contains("lat_bucket{le=\"0.25\"} 2\n"))
        #expect(text.contains("lat_bucket{le=\"10.0\"} 2\n"))
        #expect(text.contains("lat_bucket{le=\"+Inf\"} 3\n"))
        #expect(text.contains("lat_count 3\n"))
        #expect(text.contains("lat_sum 20.203\n"))
    }

    @Test func definingTheSameMetricTwiceReturnsTheSameIdAndAConflictIsRefused() throws {
        let id = try #require(registry.define(name: "m", kind: .counter, labelNames: ["x"]))
        #expect(registry.define(name: "m", kind: .counter, labelNames: ["x"]) == id)
        #expect(registry.define(name: "m", kind: .gauge, labelNames: ["x"]) == nil)
        #expect(registry.define(name: "m", kind: .counter, labelNames: ["y"]) == nil)
        #expect(registry.define(name: "other", kind: .counter, labelNames: []) != id)
    }

    @Test func aRecordWithTheWrongLabelCountOrIdIsRefused() throws {
        let id = try #require(registry.define(name: "m", kind: .counter, labelNames: ["a", "b"]))
        #expect(!registry.record(id: id, labels: ["only one"], value: 1))
        #expect(!registry.record(id: id + 100, labels: ["a", "b"], value: 1))
        #expect(registry.render() == "# TYPE m counter\n")
    }

    @Test func labelValuesAreEscaped() throws {
        let id = try #require(registry.define(name: "m", kind: .counter, labelNames: ["v"]))
        registry.record(id: id, labels: ["a\"b\\c\nd"], value: 1)
        #expect(registry.render().contains(#"m{v="a\"b\\c\nd"} 1.0"#))
    }
}
