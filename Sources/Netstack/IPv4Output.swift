// IPv4 output: what is IPv4's own in sending (the route lookup, the link address of broadcast
// and multicast destinations, the header, fragmentation above the MTU: RFC 791 3.2
// "Fragmentation"; RFC 1122 3.3.3); the steps shared with IPv6 (neighbour cache or parking
// behind ARP, the frame write, the fragment loop) are in IPOutput.swift.
// The IPv4 header and the transport header are built in one preallocated scratch buffer and
// the payload is handed to the link by reference: nothing is allocated or copied per packet.

import Link
import Wire

extension Stack {
    /// Sends one IPv4 datagram: `transportHeaderLength` bytes the closure writes, then `payload`.
    /// See TransportProtocol.swift ("OUTBOUND") for the contract.
    @discardableResult
    public func sendIPv4(
        _ request: IPv4SendRequest, transportHeaderLength: Int, payload: UnsafeRawBufferPointer,
        gso: GSOInfo? = nil,
        writeTransportHeader: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(SendError) -> SendOutcome {
        try send(
            request, transportHeaderLength: transportHeaderLength, payload: payload, gso: gso,
            writeTransportHeader: writeTransportHeader)
    }

    /// Builds the header(s) and writes the datagram, fragmenting when it exceeds `mtu`.
    func emitIPv4(
        _ request: IPv4SendRequest, nic: NIC, mtu: Int, linkDestination: MACAddress,
        transportHeaderLength: Int, payload: UnsafeRawBufferPointer, gso: GSOInfo?,
        writeTransportHeader: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(SendError) {
        let ipHeaderLength = IPv4Repr.headerLength
        let dataLength = transportHeaderLength + payload.count
        let totalLength = ipHeaderLength + dataLength
        let identification = nextIdentification
        nextIdentification &+= 1
        var repr = IPv4Repr(
            source: request.source, destination: request.destination, protocolNumber: request.protocolNumber,
            payloadLength: dataLength, ttl: request.ttl, dscpECN: request.dscpECN,
            identification: identification, dontFragment: request.dontFragment,
            moreFragments: false, fragmentOffset: 0)
        if leavesAsOneFrame(length: totalLength, mtu: mtu, gso: gso, on: nic) {
            // The Total Length field is all there is.
            guard totalLength <= 65_535 else { throw messageTooLong(on: nic, mtu: mtu) }
            repr.emit(into: UnsafeMutableRawBufferPointer(rebasing: txScratch[0..<ipHeaderLength]))
            try writeFrame(
                .ipv4, on: nic, to: linkDestination, ipHeaderLength: ipHeaderLength,
                transportHeaderLength: transportHeaderLength, payload: payload, gso: gso,
                writeTransportHeader: writeTransportHeader)
            return
        }
        // RFC 791: a datagram with DF that does not fit is not sent; the sender learns the MTU
        // (the local equivalent of ICMP "fragmentation needed", RFC 1191).
        if request.dontFragment || gso != nil || totalLength > 65_535 || mtu < ipHeaderLength + 8 {
            throw messageTooLong(on: nic, mtu: mtu)
        }
        // Every fragment but the last carries a multiple of 8 bytes (RFC 791); each has its own
        // IPv4 header with the offset and More Fragments flag of its piece.
        try writeFragments(
            .ipv4, on: nic, to: linkDestination, prefixLength: ipHeaderLength,
            chunk: (mtu - ipHeaderLength) & ~7, transportHeaderLength: transportHeaderLength,
            payload: payload, writeTransportHeader: writeTransportHeader
        ) { offset, end in
            repr.payloadLength = end - offset
            repr.fragmentOffset = offset
            repr.moreFragments = end < dataLength
            repr.emit(into: UnsafeMutableRawBufferPointer(rebasing: txScratch[0..<ipHeaderLength]))
        }
    }
}

extension IPv4SendRequest: IPFamilySendRequest {
    static var ipHeaderLength: Int { IPv4Repr.headerLength }
    var parked: PendingDatagram.Request { .v4(self) }
    static func ipAddress(_ address: IPv4Address) -> IPAddress { .v4(address) }

    func resolveRoute(on stack: Stack) -> Stack.ResolvedRoute<IPv4Address>? {
        stack.resolveRoute(destination, preferredSource: source)
    }

    func groupLinkDestination(on nic: NIC) -> MACAddress? {
        if destination.isBroadcast || nic.isBroadcast(destination) { return .broadcast }
        // RFC 1112 6.4: 01-00-5E plus the low 23 bits of the group address.
        if destination.isMulticast {
            return MACAddress(rawValue: 0x0100_5E00_0000 | UInt64(destination.rawValue & 0x7F_FFFF))
        }
        return nil
    }

    func emit(
        on stack: Stack, nic: NIC, mtu: Int, linkDestination: MACAddress, transportHeaderLength: Int,
        payload: UnsafeRawBufferPointer, gso: GSOInfo?,
        writeTransportHeader: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(SendError) {
        try stack.emitIPv4(
            self, nic: nic, mtu: mtu, linkDestination: linkDestination, transportHeaderLength: transportHeaderLength,
            payload: payload, gso: gso, writeTransportHeader: writeTransportHeader)
    }
}
