// ICMP errors about a flow rather than about a packet in hand. In gateway mode the verdict on
// a flow can come after the packet that opened it is gone (a TCP SYN held while the host
// connect runs), and errors the host side reports (a host socket's error queue) concern a
// flow, not a frame. The quote is then rebuilt from the flow: the IP header the app sent
// (app -> destination) and the first 8 transport bytes, which RFC 792 and RFC 4443 2.4(c)
// ask for and which are what the app's stack checks (the ports, then the UDP length and
// checksum or the TCP sequence number: RFC 5927 4.1).
//
// These are not rate-limited like the stack's own errors: each answers one flow's opening or
// a host-side error, so their rate is bounded by the flows the gateway admits.

import Wire

extension Stack {
    /// Sends the app an ICMP error about one of its IPv4 flows, from the flow's destination.
    /// `word`: transport bytes 4-7 of the quote (the TCP sequence number, or UDP length and
    /// checksum). False when the flow is not IPv4 or the stack could not send.
    @discardableResult
    public func sendICMPv4Error(_ repr: ICMPv4Repr, about flow: FlowKey, word: UInt32) -> Bool {
        guard case .v4(let app) = flow.source, case .v4(let peer) = flow.destination else { return false }
        IPv4Repr(source: app, destination: peer, protocolNumber: flow.protocolNumber, payloadLength: 8).emit(
            into: quoteScratch)
        let quote = Self.quote(flow, word: word, transportAt: IPv4Repr.headerLength, in: quoteScratch)
        let request = IPv4SendRequest(source: peer, destination: app, protocolNumber: .icmp)
        return
            (try? sendIPv4(request, transportHeaderLength: repr.headerLength, payload: quote) { header in
                repr.emit(into: header, data: quote)
            }) != nil
    }

    /// The ICMPv6 twin of `sendICMPv4Error` (RFC 4443 3: the quote starts at the invoking
    /// packet's IPv6 header).
    @discardableResult
    public func sendICMPv6Error(_ repr: ICMPv6Repr, about flow: FlowKey, word: UInt32) -> Bool {
        guard case .v6(let app) = flow.source, case .v6(let peer) = flow.destination else { return false }
        IPv6Repr(source: app, destination: peer, nextHeader: flow.protocolNumber, payloadLength: 8).emit(
            into: quoteScratch)
        let quote = Self.quote(flow, word: word, transportAt: IPv6Repr.headerLength, in: quoteScratch)
        let request = IPv6SendRequest(source: peer, destination: app, protocolNumber: .icmpv6)
        return
            (try? sendIPv6(request, transportHeaderLength: repr.headerLength, payload: quote) { header in
                repr.emit(into: header, data: quote, source: peer, destination: app)
            }) != nil
    }

    /// Destination Unreachable about a flow, in its family (the ICMPv6 code is the nearest
    /// meaning of the ICMPv4 one, as for the stack's own errors).
    @discardableResult
    public func sendDestinationUnreachable(_ code: ICMPv4UnreachableCode, about flow: FlowKey, word: UInt32) -> Bool {
        if case .v6 = flow.source {
            return sendICMPv6Error(
                .destinationUnreachable(code: ICMPv6UnreachableCode(gatewayCode: code)), about: flow, word: word)
        }
        return sendICMPv4Error(.destinationUnreachable(code: code, nextHopMTU: 0), about: flow, word: word)
    }

    /// Writes the 8 transport bytes after the IP header already in `scratch` and returns the
    /// whole quote.
    private static func quote(
        _ flow: FlowKey, word: UInt32, transportAt offset: Int,
        in scratch: UnsafeMutableRawBufferPointer
    ) -> UnsafeRawBufferPointer {
        scratch.storeBytes(of: flow.sourcePort.bigEndian, toByteOffset: offset, as: UInt16.self)
        scratch.storeBytes(of: flow.destinationPort.bigEndian, toByteOffset: offset + 2, as: UInt16.self)
        scratch.storeBytes(of: word.bigEndian, toByteOffset: offset + 4, as: UInt32.self)
        return UnsafeRawBufferPointer(rebasing: scratch[0..<(offset + 8)])
    }
}
