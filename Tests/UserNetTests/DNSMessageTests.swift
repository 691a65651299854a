import Testing
import UserNet
import Wire

@Suite struct DNSMessageTests {
    func parse(_ bytes: [UInt8]) throws -> DNSMessage {
        try bytes.withUnsafeBytes { try DNSMessage.parse($0) }
    }

    @Test func parsesQueryHeaderAndQuestion() throws {
        let message = try parse(DNSTestMessages.query(id: 0xBEEF, name: "WWW.Example.com", type: 28))
        #expect(message.header.id == 0xBEEF)
        #expect(!message.header.isResponse)
        #expect(
            message.questions == [
                DNSQuestion(name: try #require(DNSName("www.example.com")), type: .aaaa, recordClass: 1)
            ])
        #expect(message.answers.isEmpty)
    }

    @Test func followsCompressionAndCNAMEChains() throws {
        let bytes = try DNSTestMessages.response(
            id: 1, name: "www.example.com", cname: "edge.cdn.net",
            addresses: ["93.184.216.34", "2001:db8::7"], ttl: 300)
        let message = try parse(bytes)
        #expect(message.header.isResponse && message.header.responseCode == 0)
        #expect(message.answers.count == 3)
        #expect(message.answers[0].data == .cname(try #require(DNSName("edge.cdn.net"))))
        #expect(message.answers[1].name == DNSName("edge.cdn.net"))
        let found = message.addresses(for: try #require(DNSName("www.example.com")))
        #expect(found.map(\.address) == [.v4(IPv4Address(93, 184, 216, 34)), try #require(IPAddress("2001:db8::7"))])
        #expect(found.allSatisfy { $0.ttl == 300 })
    }

    @Test func ttlWithTopBitSetIsZero() throws {
        var bytes = try DNSTestMessages.response(id: 1, name: "a.b", addresses: ["1.2.3.4"], ttl: 0x8000_0001)
        let message = try parse(bytes)
        #expect(message.answers[0].ttl == 0)
        bytes.removeLast()
        #expect(throws: DNSParseError.truncated) { try parse(bytes) }
    }

    @Test func pointerLoopsAndForwardPointersAreRefused() {
        let header: [UInt8] = [0, 1, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        // A name that points at itself.
        #expect(throws: DNSParseError.badPointer) { try parse(header + [0xC0, 12, 0, 1, 0, 1]) }
        // A name that points forward.
        #expect(throws: DNSParseError.badPointer) { try parse(header + [0xC0, 14, 1, 0x61, 0, 0, 1, 0, 1]) }
        // Two names pointing at each other: label "a" then pointer back to 12, which is that label.
        #expect(throws: DNSParseError.badPointer) { try parse(header + [1, 0x61, 0xC0, 12, 0, 1, 0, 1]) }
    }

    @Test func reservedLabelTypesAndLongNamesAreRefused() {
        let header: [UInt8] = [0, 1, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        #expect(throws: DNSParseError.badLabelType) { try parse(header + [0x41, 0, 0, 1, 0, 1]) }
        var long: [UInt8] = []
        for _ in 0..<5 { long += [63] + [UInt8](repeating: 0x61, count: 63) }
        #expect(throws: DNSParseError.nameTooLong) { try parse(header + long + [0, 0, 1, 0, 1]) }
        #expect(throws: DNSParseError.truncated) { try parse(header + [5, 0x61]) }
        #expect(throws: DNSParseError.truncated) { try parse([0, 1, 2]) }
    }

    @Test func recordDataMustFitItsType() throws {
        var bytes = try DNSTestMessages.response(id: 1, name: "a.b", addresses: ["1.2.3.4"], ttl: 1)
        // RDLENGTH of the A record is the 2 bytes before the last 4.
        bytes[bytes.count - 5] = 5
        #expect(throws: DNSParseError.truncated) { try parse(bytes) }
        bytes[bytes.count - 5] = 3
        #expect(throws: DNSParseError.badRecordData) { try parse(bytes) }
    }

    @Test func labelsWithDotsCannotImpersonateTwoLabels() throws {
        // One label "example.com" under "evil": its text must not read as evil.example.com.
        let header: [UInt8] = [0, 1, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0]
        let name: [UInt8] = [4] + Array("evil".utf8) + [11] + Array("example.com".utf8) + [0]
        let message = try parse(header + name + [0, 1, 0, 1])
        let parsed = message.questions[0].name
        #expect(parsed.labels == ["evil", "example\\046com"])
        #expect(!parsed.isWithin(try #require(DNSName("example.com"))))
    }

    @Test func randomBytesNeverTrap() {
        // Deterministic xorshift so a failure is reproducible.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        var parsed = 0
        let seed =
            (try? DNSTestMessages.response(
                id: 3, name: "x.example.com", cname: "y.example.net", addresses: ["1.2.3.4"], ttl: 5)) ?? []
        for _ in 0..<20_000 {
            var bytes = seed
            let flips = Int(next() % 6) + 1
            for _ in 0..<flips {
                let i = Int(next() % UInt64(bytes.count))
                bytes[i] = UInt8(truncatingIfNeeded: next())
            }
            if next() % 4 == 0 { bytes.removeLast(Int(next() % UInt64(bytes.count))) }
            if (try? parse(bytes)) != nil { parsed += 1 }
        }
        // Some mutations only touch data bytes, so a share still parses; all of them returned.
        #expect(parsed > 0)
    }
}
