import Testing
import Wire

@Suite struct AddressTests {
    @Test func ipv4RoundTripsThroughText() {
        let address = IPv4Address("10.0.2.100")
        #expect(address == IPv4Address(10, 0, 2, 100))
        #expect(address?.description == "10.0.2.100")
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "a.b.c.d", "1.2.3.+4", "1.2.3.٤"])
    func ipv4RejectsMalformedText(_ text: String) {
        #expect(IPv4Address(text) == nil)
    }

    @Test func ipv4Classifies() {
        #expect(IPv4Address(127, 0, 0, 1).isLoopback)
        #expect(IPv4Address(169, 254, 169, 254).isLinkLocal)
        #expect(IPv4Address(224, 0, 0, 1).isMulticast)
        #expect(!IPv4Address(10, 0, 2, 2).isLinkLocal)
    }

    @Test(arguments: [
        ("fd00::2", "fd00::2"),
        ("FD00:0:0:0:0:0:0:3", "fd00::3"),
        ("::1", "::1"),
        ("::", "::"),
        ("1:0:0:1:0:0:0:1", "1:0:0:1::1"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1")
    ])
    func ipv6PrintsRFC5952Form(_ input: String, _ expected: String) {
        #expect(IPv6Address(input)?.description == expected)
    }

    @Test(arguments: ["", ":::", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "g::1", "1:2:3:4:5:6:7", "+1::"])
    func ipv6RejectsMalformedText(_ text: String) {
        #expect(IPv6Address(text) == nil)
    }

    @Test(arguments: ["1.2.3.4", "::1.2.3", "::1.2.3.4.5", "::ffff:1.2.3.256", "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3.4:5"])
    func ipv6RejectsMalformedEmbeddedIPv4(_ text: String) {
        #expect(IPv6Address(text) == nil)
    }

    @Test func ipv6CarriesEmbeddedIPv4() {
        #expect(IPv6Address("::ffff:127.0.0.1") == IPv6Address("::ffff:7f00:1"))
        #expect(IPv6Address("::ffff:127.0.0.1")?.ipv4Mapped == IPv4Address(127, 0, 0, 1))
        #expect(IPv6Address("::ffff:7f00:1")?.description == "::ffff:127.0.0.1", "RFC 5952 5")
        #expect(IPv6Address("::10.0.0.1")?.ipv4Compatible == IPv4Address(10, 0, 0, 1))
        #expect(IPv6Address("::1")?.ipv4Compatible == nil && IPv6Address("::")?.ipv4Compatible == nil)
        #expect(IPv6Address("64:ff9b::192.0.2.5")?.nat64WellKnown == IPv4Address(192, 0, 2, 5))
        #expect(IPv6Address("64:ff9b:1::1")?.isNAT64LocalUse == true)
        #expect(IPv6Address("64:ff9b::1:0:0:1")?.nat64WellKnown == nil, "outside the /96")
        #expect(IPv6Address("2001:db8::ffff:1.2.3.4")?.ipv4Mapped == nil)
    }

    @Test func ipv6Classifies() {
        #expect(IPv6Address("fe80::1")?.isLinkLocal == true)
        #expect(IPv6Address("ff02::1")?.isMulticast == true)
        #expect(IPv6Address("fd00::2")?.isLinkLocal == false)
    }

    @Test func macAddressParsesAndClassifies() {
        let mac = MACAddress("02:00:0a:00:02:02")
        #expect(mac == MACAddress(0x02, 0x00, 0x0A, 0x00, 0x02, 0x02))
        #expect(mac?.description == "02:00:0a:00:02:02")
        #expect(mac?.isUnicast == true)
        #expect(MACAddress.broadcast.isMulticast)
        #expect(MACAddress("02:00:0a:00:02") == nil)
        #expect(MACAddress("02:00:0a:00:02:zz") == nil)
    }
}
