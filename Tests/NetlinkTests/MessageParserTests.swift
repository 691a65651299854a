import Netlink
import Testing

/// The reply parser treats kernel bytes as hostile: every malformation is a typed error.
@Suite struct MessageParserTests {
    /// A well-formed RTM_NEWLINK (type 16) for index 7, "eth0", MTU 1500, a MAC and kind "veth".
    static let newLink: [UInt8] = {
        var payload: [UInt8] = [0, 0, 1, 0] + le32(7) + le32(0x1043) + le32(0)
        payload += attribute(3, Array("eth0".utf8) + [0]) // IFLA_IFNAME
        payload += attribute(4, le32(1500)) // IFLA_MTU
        payload += attribute(1, [2, 0, 0, 0, 0, 1]) // IFLA_ADDRESS
        payload += attribute(18 | 0x8000, attribute(1, Array("veth".utf8) + [0])) // IFLA_LINKINFO{KIND}
        return le32(UInt32(16 + payload.count)) + le16(16) + le16(0) + le32(9) + le32(0) + payload
    }()

    @Test func wellFormedNewLinkParses() throws {
        let messages = try NetlinkMessage.split(Self.newLink[...])
        #expect(messages.count == 1)
        #expect(messages[0].type == 16)
        #expect(messages[0].sequence == 9)
        let link = try Link(newLinkPayload: messages[0].payload)
        #expect(link.index == 7)
        #expect(link.name == "eth0")
        #expect(link.mtu == 1500)
        #expect(link.macAddress?.description == "02:00:00:00:00:01")
        #expect(link.kind == "veth")
        #expect(link.isUp)
    }

    @Test func everyTruncationIsATypedErrorOrAShorterValidParse() {
        for cut in 1..<Self.newLink.count {
            let bytes = Self.newLink[0..<cut]
            do {
                for message in try NetlinkMessage.split(bytes) { _ = try Link(newLinkPayload: message.payload) }
                Issue.record("truncation at \(cut) parsed")
            } catch {
                guard case .malformedReply = error else {
                    Issue.record("cut \(cut): \(error)")
                    continue
                }
            }
        }
    }

    @Test(arguments: [
        (le32(15) + [UInt8](repeating: 0, count: 12), "nlmsg_len below the header"),
        (le32(64) + [UInt8](repeating: 0, count: 12), "nlmsg_len beyond the datagram"),
        ([UInt8](repeating: 0, count: 7), "a datagram shorter than a header")
    ])
    func lyingMessageLengthsAreRejected(bytes: [UInt8], _ why: String) {
        #expect(throws: NetlinkError.self, "\(why)") { try NetlinkMessage.split(bytes[...]) }
    }

    @Test func lyingAttributeLengthsAreRejected() {
        let header: [UInt8] = [0, 0, 1, 0] + le32(7) + le32(0) + le32(0)
        for attributeBytes in [le16(3) + le16(3), le16(200) + le16(3) + [0, 0, 0, 0], le16(8) + le16(4) + [1]] {
            #expect(throws: NetlinkError.self) { try Link(newLinkPayload: (header + attributeBytes)[...]) }
        }
        // An MTU attribute of the wrong size is an error, not a misread.
        #expect(throws: NetlinkError.self) {
            try Link(newLinkPayload: (header + attribute(3, [0x61, 0]) + attribute(4, [1, 2]))[...])
        }
    }

    /// Random bytes (a fixed-seed generator, so a failure reproduces) never trap the parser.
    @Test func randomBytesNeverTrap() {
        var generator = SplitMix64(seed: 0x5EED)
        var parsed = 0, rejected = 0
        for round in 0..<20_000 {
            var bytes = round % 2 == 0 ? Self.newLink : []
            if bytes.isEmpty {
                bytes = (0..<Int(generator.next() % 96)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            } else {
                for _ in 0..<(1 + Int(generator.next() % 4)) {
                    let at = Int(generator.next() % UInt64(bytes.count))
                    bytes[at] = UInt8(truncatingIfNeeded: generator.next())
                }
            }
            do {
                for message in try NetlinkMessage.split(bytes[...]) { _ = try Link(newLinkPayload: message.payload) }
                parsed += 1
            } catch {
                rejected += 1
            }
        }
        #expect(parsed + rejected == 20_000)
        #expect(rejected > 0)
        #expect(parsed > 0)
    }
}

func le16(_ v: UInt16) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
func attribute(_ type: UInt16, _ payload: [UInt8]) -> [UInt8] {
    var out = le16(UInt16(4 + payload.count)) + le16(type) + payload
    while out.count % 4 != 0 { out.append(0) }
    return out
}

struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E4B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
