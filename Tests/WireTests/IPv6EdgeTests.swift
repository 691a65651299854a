import Testing
import Wire

@Suite struct IPv6EdgeTests {
    let source = IPv6Address(high: 0xFD00 << 48, low: 0x100)
    let destination = IPv6Address(high: 0xFD00 << 48, low: 2)

    /// An IPv6 packet whose payload is `payload`, first header `next`.
    func packet(_ next: IPProtocol, _ payload: [UInt8]) -> [UInt8] {
        let repr = IPv6Repr(source: source, destination: destination, nextHeader: next, payloadLength: payload.count)
        var out = [UInt8](repeating: 0, count: 40) + payload
        out.withUnsafeMutableBytes { repr.emit(into: $0) }
        return out
    }

    func walk(_ bytes: [UInt8]) throws -> (upperLayer: IPProtocol, offset: Int, fragment: IPv6FragmentHeaderRepr?) {
        try bytes.withUnsafeBytes { try IPv6ExtensionWalk.walk(IPv6Packet($0)) }
    }

    @Test func lengthChecks() throws {
        let p = packet(.udp, [0, 1, 0, 2, 0, 8, 0, 0])
        #expect(throws: WireError.truncated) { try with(Array(p[0..<39])) { try IPv6Packet($0) } }
        #expect(throws: WireError.truncated) { try with(Array(p.dropLast())) { try IPv6Packet($0) } }
        var bad = p
        bad[0] = 0x45
        #expect(throws: WireError.badVersion) { try with(bad) { try IPv6Packet($0) } }
        #expect(try with(p + [0, 0]) { try IPv6Packet($0).payload.count } == 8)
    }

    @Test func multicastSourceIsMalformed() {
        var p = packet(.udp, [])
        p[8] = 0xFF
        #expect(throws: WireError.malformed) { try with(p) { try IPv6Repr.parse(IPv6Packet($0)) } }
    }

    @Test func reprRoundTrips() throws {
        let repr = IPv6Repr(
            source: source, destination: destination, nextHeader: .tcp, hopLimit: 1,
            trafficClass: 0xB8, flowLabel: 0xABCDE, payloadLength: 0)
        var out = [UInt8](repeating: 0, count: 40)
        out.withUnsafeMutableBytes { repr.emit(into: $0) }
        #expect(try with(out) { try IPv6Repr.parse(IPv6Packet($0)) } == repr)
    }

    @Test func walksHopByHopRoutingDestinationOptionsToUpperLayer() throws {
        let hopByHop: [UInt8] = [IPProtocol.routing.rawValue, 0, 1, 4, 0, 0, 0, 0]
        let routing: [UInt8] = [IPProtocol.destinationOptions.rawValue, 2, 2, 0] + [UInt8](repeating: 0, count: 20)
        let destinationOptions: [UInt8] = [IPProtocol.tcp.rawValue, 0, 1, 4, 0, 0, 0, 0]
        let result = try walk(packet(.hopByHop, hopByHop + routing + destinationOptions + [9, 9]))
        #expect(result.upperLayer == .tcp && result.offset == 8 + 24 + 8 && result.fragment == nil)
    }

    @Test func stopsAfterFragmentHeader() throws {
        let fragment = IPv6FragmentHeaderRepr(
            nextHeader: .destinationOptions, fragmentOffset: 1448, moreFragments: true,
            identification: 0xDEAD_BEEF)
        var header = [UInt8](repeating: 0, count: 8)
        header.withUnsafeMutableBytes { fragment.emit(into: $0) }
        let result = try walk(packet(.fragment, header + [1, 2, 3]))
        #expect(result.upperLayer == .destinationOptions && result.offset == 8 && result.fragment == fragment)
    }

    @Test func noNextHeaderEndsTheWalk() throws {
        let result = try walk(packet(.destinationOptions, [IPProtocol.noNextHeader.rawValue, 0, 1, 4, 0, 0, 0, 0]))
        #expect(result.upperLayer == .noNextHeader && result.offset == 8)
    }

    @Test func hostileChains() {
        let options: (IPProtocol) -> [UInt8] = { [$0.rawValue, 0, 1, 4, 0, 0, 0, 0] }
        // Hop-by-hop after another header.
        #expect(throws: WireError.malformed) {
            try walk(packet(.destinationOptions, options(.hopByHop) + options(.tcp)))
        }
        // A routing header we would have to forward.
        #expect(throws: WireError.unsupported) {
            try walk(packet(.routing, [IPProtocol.tcp.rawValue, 0, 4, 1, 0, 0, 0, 0]))
        }
        // Header length past the payload, and a header cut short.
        #expect(throws: WireError.truncated) { try walk(packet(.destinationOptions, [6, 1, 1, 4, 0, 0, 0, 0])) }
        #expect(throws: WireError.truncated) { try walk(packet(.destinationOptions, [6, 0, 1])) }
        #expect(throws: WireError.truncated) { try walk(packet(.fragment, [6, 0, 0, 0])) }
        // A long chain of destination options headers is cut off by the bound.
        var chain: [UInt8] = []
        for _ in 0..<20 { chain += options(.destinationOptions) }
        #expect(throws: WireError.malformed) { try walk(packet(.destinationOptions, chain)) }
    }
}

@Suite struct ICMPEdgeTests {
    let source = IPv6Address(high: 0xFE80 << 48, low: 1)
    let destination = IPv6Address(high: 0xFF02 << 48, low: 1)

    @Test func icmpv4RoundTripsAndChecksChecksum() throws {
        let data: [UInt8] = [1, 2, 3, 4, 5] // odd length on purpose; .other needs its 4-byte rest of header
        for repr in [
            ICMPv4Repr.echoRequest(identifier: 1, sequence: 2), .echoReply(identifier: 0xFFFF, sequence: 0),
            .destinationUnreachable(code: .fragmentationNeeded, nextHopMTU: 1280),
            .destinationUnreachable(code: .communicationAdministrativelyProhibited, nextHopMTU: 0),
            .timeExceeded(code: 1), .other(type: 13, code: 0)
        ] {
            var message = [UInt8](repeating: 0xEE, count: repr.headerLength) + data
            message.withUnsafeMutableBytes { raw in data.withUnsafeBytes { repr.emit(into: raw, data: $0) } }
            let (parsed, body) = try with(message) { raw in
                let (r, d) = try ICMPv4Repr.parse(raw, verifyChecksum: true)
                return (r, Array(d))
            }
            #expect(parsed == repr)
            #expect(body == data)
            message[message.count - 1] ^= 0x10
            #expect(throws: WireError.badChecksum) {
                try with(message) { try ICMPv4Repr.parse($0, verifyChecksum: true) }
            }
        }
        #expect(throws: WireError.truncated) {
            try with([8, 0, 0, 0, 0, 0, 0]) { try ICMPv4Repr.parse($0, verifyChecksum: false) }
        }
    }

    @Test func icmpv6RoundTrips() throws {
        let data: [UInt8] = [0x60, 0, 0, 0, 9]
        var prefixes = NDPPrefixes()
        prefixes.append(
            NDPPrefixInformation(
                prefix: IPv6Address(high: 0xFD00 << 48, low: 0), prefixLength: 64,
                validLifetime: 86400, preferredLifetime: 14400))
        prefixes.append(
            NDPPrefixInformation(
                prefix: IPv6Address(high: 0x2001_0DB8 << 32, low: 0), prefixLength: 48,
                onLink: false, autonomous: false, validLifetime: 0, preferredLifetime: 0))
        let mac = MACAddress(2, 0, 0, 0, 0, 2)
        let target = IPv6Address(high: 0xFD00 << 48, low: 2)
        let reprs: [(ICMPv6Repr, [UInt8])] = [
            (.echoRequest(identifier: 9, sequence: 10), data), (.echoReply(identifier: 9, sequence: 10), []),
            (.destinationUnreachable(code: .portUnreachable), data), (.packetTooBig(mtu: 1280), data),
            (.timeExceeded(code: 0), data), (.parameterProblem(code: 1, pointer: 40), data),
            (.other(type: 143, code: 0), data),
            (.ndp(.routerSolicitation(NDPRouterSolicitation(sourceLinkAddress: mac))), []),
            (.ndp(.routerSolicitation(NDPRouterSolicitation())), []),
            (
                .ndp(
                    .routerAdvertisement(
                        NDPRouterAdvertisement(
                            flags: 0xC0, routerLifetime: 1800, sourceLinkAddress: mac,
                            mtu: 65520, prefixes: prefixes))), []
            ),
            (.ndp(.neighborSolicitation(NDPNeighborSolicitation(target: target, sourceLinkAddress: mac))), []),
            (.ndp(.neighborSolicitation(NDPNeighborSolicitation(target: target, nonce: 0xA1B2_C3D4_E5F6))), []),
            (
                .ndp(
                    .neighborAdvertisement(
                        NDPNeighborAdvertisement(
                            router: true, solicited: true, override: false,
                            target: target, targetLinkAddress: mac))), []
            )
        ]
        for (repr, body) in reprs {
            var message = [UInt8](repeating: 0xEE, count: repr.headerLength) + body
            message.withUnsafeMutableBytes { raw in
                body.withUnsafeBytes { repr.emit(into: raw, data: $0, source: source, destination: destination) }
            }
            let (parsed, parsedBody) = try with(message) { raw in
                let (r, d) = try ICMPv6Repr.parse(raw, source: source, destination: destination, verifyChecksum: true)
                return (r, Array(d))
            }
            #expect(parsed == repr)
            #expect(parsedBody == body)
            // The pseudo-header is covered: another destination fails the check.
            #expect(throws: WireError.badChecksum) {
                try with(message) {
                    try ICMPv6Repr.parse($0, source: source, destination: target, verifyChecksum: true)
                }
            }
        }
    }

    @Test func ndpValidity() {
        func ns(options: [UInt8], code: UInt8 = 0, target: UInt8 = 0xFD) -> [UInt8] {
            [135, code, 0, 0, 0, 0, 0, 0, target] + [UInt8](repeating: 0, count: 14) + [1] + options
        }
        func parse(_ bytes: [UInt8]) throws -> ICMPv6Repr {
            try with(bytes) {
                try ICMPv6Repr.parse($0, source: source, destination: destination, verifyChecksum: false).repr
            }
        }
        #expect(throws: WireError.malformed) { try parse(ns(options: [1, 0, 0, 0, 0, 0, 0, 0])) } // zero length
        #expect(throws: WireError.truncated) { try parse(ns(options: [1, 2, 0, 0, 0, 0, 0, 0])) } // past the end
        #expect(throws: WireError.truncated) { try parse(ns(options: [1])) }
        #expect(throws: WireError.malformed) { try parse(ns(options: [], code: 1)) }
        #expect(throws: WireError.malformed) { try parse(ns(options: [], target: 0xFF)) } // multicast target
        #expect(throws: WireError.truncated) { try parse(Array(ns(options: [])[0..<23])) }
        #expect(throws: WireError.malformed) {
            try parse([134, 0, 0, 0] + [UInt8](repeating: 0, count: 12) + [5, 2] + [UInt8](repeating: 0, count: 14))
        }
        // Unknown option skipped; an option foreign to the message (TLLA in an NS) ignored.
        let skipped = try? parse(ns(options: [200, 1, 0, 0, 0, 0, 0, 0, 2, 1, 2, 0, 0, 0, 0, 9]))
        #expect(
            skipped
                == .ndp(.neighborSolicitation(NDPNeighborSolicitation(target: IPv6Address(high: 0xFD00 << 48, low: 1))))
        )
    }
}
