import NIOCore
import Testing

@testable import gw

/// The address ranges of a listener's `trusted_proxies`.
@Suite struct IPNetworkTests {
    static func peer(_ ip: String) throws -> SocketAddress { try SocketAddress(ipAddress: ip, port: 40000) }

    @Test func anIPv4BlockHoldsItsAddressesAndNoOthers() throws {
        let net = try IPNetwork(parsing: "10.20.0.0/14")
        #expect(net.description == "10.20.0.0/14")
        #expect(net.contains(try Self.peer("10.20.0.1")))
        #expect(net.contains(try Self.peer("10.23.255.255")))
        #expect(!net.contains(try Self.peer("10.24.0.0")))
        #expect(!net.contains(try Self.peer("10.19.255.255")))
        #expect(!net.contains(try Self.peer("::1")))
    }

    @Test func oneAddressIsAFullLengthPrefix() throws {
        let net = try IPNetwork(parsing: "192.0.2.7")
        #expect(net.prefix == 32)
        #expect(net.contains(try Self.peer("192.0.2.7")))
        #expect(!net.contains(try Self.peer("192.0.2.8")))
        let six = try IPNetwork(parsing: "::1")
        #expect(six.prefix == 128 && six.description == "::1")
        #expect(six.contains(try Self.peer("::1")))
        #expect(!six.contains(try Self.peer("127.0.0.1")))
    }

    @Test func anIPv4BlockHoldsTheMappedFormADualStackSocketReports() throws {
        let net = try IPNetwork(parsing: "203.0.113.0/24")
        #expect(net.contains(try Self.peer("::ffff:203.0.113.9")))
        #expect(!net.contains(try Self.peer("::ffff:203.0.114.9")))
        #expect(!net.contains(try Self.peer("64:ff9b::203.0.113.9")), "only ::ffff:0:0/96 is the mapped form")
    }

    @Test func aMappedIPv6EntryIsItsIPv4Range() throws {
        let net = try IPNetwork(parsing: "::ffff:10.0.0.0/104")
        #expect(net.description == "10.0.0.0/8")
        #expect(net.contains(try Self.peer("10.9.8.7")))
        #expect(net.contains(try Self.peer("::ffff:10.9.8.7")))
        #expect(!net.contains(try Self.peer("11.0.0.1")))
    }

    @Test func anIPv6BlockAndTheWholeSpace() throws {
        let net = try IPNetwork(parsing: "2001:db8:ab00::/40")
        #expect(net.contains(try Self.peer("2001:db8:abff:1::5")))
        #expect(!net.contains(try Self.peer("2001:db8:ac00::1")))
        let any4 = try IPNetwork(parsing: "0.0.0.0/0")
        #expect(any4.contains(try Self.peer("198.51.100.1")))
        #expect(!any4.contains(try Self.peer("2001:db8::1")))
        #expect(try IPNetwork(parsing: "::/0").contains(try Self.peer("2001:db8::1")))
        #expect([IPNetwork]().contains(try Self.peer("127.0.0.1")) == false)
        #expect([net].contains(nil as SocketAddress?) == false)
    }

    @Test(arguments: ["", "10.0.0", "10.0.0.0/", "10.0.0.0/8/1", "10.0.0.0/+8", "10.0.0.0/ 8", "lb.internal", "1.2.3.4:80", "::1/129"])
    func whatIsNoAddressRangeIsRefused(_ text: String) {
        #expect(throws: IPNetwork.ParseError.self) { try IPNetwork(parsing: text) }
    }

    @Test func bitsPastThePrefixAreRefusedWithTheBlockMeant() {
        #expect(throws: IPNetwork.ParseError.hostBitsSet(suggestion: "172.16.0.0/12")) { try IPNetwork(parsing: "172.16.5.4/12") }
        #expect(throws: IPNetwork.ParseError.hostBitsSet(suggestion: "2001:db8::/32")) { try IPNetwork(parsing: "2001:db8::1/32") }
    }
}
