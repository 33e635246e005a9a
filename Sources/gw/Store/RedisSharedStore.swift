import NIOCore
import PluginHost

/// The shared store on Redis: every operation is one atomic Lua script on the server,
/// on the server's clock, so several gw instances enforce one limit together.
final class RedisSharedStore: SharedStore {
    let client: RedisClient
    let prefix: String

    init(client: RedisClient, prefix: String) {
        self.client = client
        self.prefix = prefix
    }

    /// GCRA over n limits in nanoseconds, as the in-process store computes it: an
    /// interval is rarely a whole number of microseconds (600,000 per second is 1,666.67
    /// ns), and rounding it to one would loosen a fast limit by up to 2×. Lua numbers are
    /// doubles, exact to 2^53 (104 days in ns): too few for a time since 1970, so each
    /// stored TAT is `seconds:nanoseconds` on the server's clock (`TIME`) and only the
    /// differences to now, bounded by the tolerance, are computed in nanoseconds.
    /// ARGV: cost, then interval and tolerance (ns) per limit. Reply: admitted,
    /// refused_by, wait (ns), ahead (ns) per limit. The key is `gcra2:` (the earlier
    /// format kept microseconds under `gcra:`; those keys expire on their own).
    static let gcraScript = """
        local t = redis.call('TIME')
        local sec = tonumber(t[1])
        local ns = tonumber(t[2]) * 1000
        local cost = tonumber(ARGV[1])
        local n = (#ARGV - 1) / 2
        local aheads = {}
        local stored = redis.call('GET', KEYS[1])
        if stored then
          local i = 1
          for s, f in string.gmatch(stored, '(%d+):(%d+)') do
            aheads[i] = math.max((tonumber(s) - sec) * 1000000000 + (tonumber(f) - ns), 0)
            i = i + 1
          end
        end
        local refusing, longest = -1, 0
        for i = 1, n do
          local ahead = (aheads[i] or 0) + tonumber(ARGV[2 * i]) * cost
          local tol = tonumber(ARGV[2 * i + 1])
          if ahead > tol and (refusing < 0 or ahead - tol > longest) then refusing, longest = i - 1, ahead - tol end
        end
        local out = {}
        if refusing >= 0 then
          out[1], out[2], out[3] = 0, refusing, longest
          for i = 1, n do out[3 + i] = aheads[i] or 0 end
          return out
        end
        local parts, longestAhead = {}, 0
        out[1], out[2], out[3] = 1, 0, 0
        for i = 1, n do
          local ahead = (aheads[i] or 0) + tonumber(ARGV[2 * i]) * cost
          local total = ns + ahead
          local carry = math.floor(total / 1000000000)
          parts[i] = string.format('%.0f:%.0f', sec + carry, total - carry * 1000000000)
          out[3 + i] = ahead
          if ahead > longestAhead then longestAhead = ahead end
        end
        redis.call('SET', KEYS[1], table.concat(parts, ','), 'PX', math.floor(longestAhead / 1000000) + 1)
        return out
        """

    static let incrScript = """
        local v = redis.call('INCRBY', KEYS[1], ARGV[1])
        if tonumber(ARGV[2]) > 0 and redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return v
        """

    func gcra(key: String, limits: [GCRALimit], cost: UInt32, on loop: any EventLoop) -> EventLoopFuture<GCRAOutcome> {
        var args = ["EVAL", Self.gcraScript, "1", prefix + "gcra2:" + key, String(cost)]
        for limit in limits {
            args.append(String(max(1, limit.interval)))
            args.append(String(limit.tolerance))
        }
        let count = limits.count
        return client.send(args, on: loop).flatMapThrowing { reply in
            guard case .array(let items?) = reply, items.count == 3 + count,
                let admitted = items[0].integer, let refusedBy = items[1].integer, let wait = items[2].integer
            else { throw SharedStoreUnavailable("unexpected reply to the GCRA script: \(reply)") }
            let ahead = items[3...].map { UInt64(max(0, $0.integer ?? 0)) }
            return GCRAOutcome(admitted: admitted == 1, refusedBy: Int(refusedBy), waitNanoseconds: UInt64(max(0, wait)), ahead: ahead)
        }
    }

    func increment(key: String, by delta: Int64, ttlMilliseconds: UInt64, on loop: any EventLoop) -> EventLoopFuture<Int64> {
        let args = ["EVAL", Self.incrScript, "1", prefix + "incr:" + key, String(delta), String(ttlMilliseconds)]
        return client.send(args, on: loop).flatMapThrowing { reply in
            guard case .integer(let value) = reply else { throw SharedStoreUnavailable("unexpected reply to INCRBY: \(reply)") }
            return value
        }
    }

    func get(key: String, on loop: any EventLoop) -> EventLoopFuture<[UInt8]?> {
        client.send(["GET", prefix + "value:" + key], on: loop).flatMapThrowing { reply in
            switch reply {
            case .bulk(let bytes): return bytes
            default: throw SharedStoreUnavailable("unexpected reply to GET: \(reply)")
            }
        }
    }

    func set(key: String, value: [UInt8], ttlMilliseconds: UInt64, on loop: any EventLoop) -> EventLoopFuture<Void> {
        var args: [RESPArgument] = [.text("SET"), .text(prefix + "value:" + key), .bytes(value)]
        if ttlMilliseconds > 0 { args += [.text("PX"), .text(String(ttlMilliseconds))] }
        return client.send(args, on: loop).map { _ in }
    }
}
