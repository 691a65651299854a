// IPv6 output: what is IPv6's own in sending (the route, or the link of a link-scoped
// destination; the multicast link address; the fixed header; source fragmentation with a
// Fragment header above the MTU, RFC 8200 4.5); the steps shared with IPv4 (neighbour cache or
// parking behind Neighbor Discovery, the frame write, the fragment loop) are in
// IPOutput.swift. As for
// IPv4, the headers are built in the stack's preallocated TX scratch and the payload is handed
// to the link by reference: nothing is allocated or copied per packet.

import Link
import Wire

/// What a transport asks the stack to send over IPv6.
public struct IPv6SendRequest: Sendable, Equatable {
    /// `.any` lets the stack pick (see `Stack.route(to:)`).
    public var source: IPv6Address
    public var destination: IPv6Address
    /// The upper-layer protocol (the stack adds no extension header but the Fragment header).
    public var protocolNumber: IPProtocol
    public var hopLimit: UInt8
    public var trafficClass: UInt8
    /// 20 bits.
    public var flowLabel: UInt32
    /// Never fragment at the source (a transport doing path MTU discovery, such as TCP): a
    /// datagram larger than the path MTU fails with `messageTooLong`. IPv6 routers never
    /// fragment, so without this flag the stack fragments what it sends above the MTU.
    public var dontFragment: Bool
    /// The NIC a link-local or multicast destination is on (RFC 4007 zone); nil picks the first
    /// NIC with IPv6. Ignored for other destinations, which follow the routing table.
    public var nic: NICID?

    public init(
        source: IPv6Address = .any, destination: IPv6Address, protocolNumber: IPProtocol, hopLimit: UInt8 = 64,
        trafficClass: UInt8 = 0, flowLabel: UInt32 = 0, dontFragment: Bool = false, nic: NICID? = nil
    ) {
        self.source = source
        self.destination = destination
        self.protocolNumber = protocolNumber
        self.hopLimit = hopLimit
        self.trafficClass = trafficClass
        self.flowLabel = flowLabel
        self.dontFragment = dontFragment
        self.nic = nic
    }
}

extension Stack {
    /// Sends one IPv6 datagram: `transportHeaderLength` bytes the closure writes, then `payload`.
    /// The IPv6 twin of `sendIPv4`; see TransportProtocol.swift ("OUTBOUND") for the contract.
    @discardableResult
    public func sendIPv6(
        _ request: IPv6SendRequest, transportHeaderLength: Int, payload: UnsafeRawBufferPointer,
        gso: GSOInfo? = nil,
        writeTransportHeader: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(SendError) -> SendOutcome {
        try send(
            request, transportHeaderLength: transportHeaderLength, payload: payload, gso: gso,
            writeTransportHeader: writeTransportHeader)
    }

    /// Builds the header(s) and writes the datagram, fragmenting when it exceeds `mtu`.
    func emitIPv6(
        _ request: IPv6SendRequest, nic: NIC, mtu: Int, linkDestination: MACAddress,
        transportHeaderLength: Int, payload: UnsafeRawBufferPointer, gso: GSOInfo?,
        writeTransportHeader: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(SendError) {
        let fixed = IPv6Repr.headerLength
        let dataLength = transportHeaderLength + payload.count
        var repr = IPv6Repr(
            source: request.source, destination: request.destination, nextHeader: request.protocolNumber,
            hopLimit: request.hopLimit, trafficClass: request.trafficClass, flowLabel: request.flowLabel,
            payloadLength: dataLength)
        if leavesAsOneFrame(length: fixed + dataLength, mtu: mtu, gso: gso, on: nic) {
            // No jumbograms (RFC 2675): the payload length field is all there is.
            guard dataLength <= 65_535 else { throw messageTooLong(on: nic, mtu: mtu) }
            repr.emit(into: UnsafeMutableRawBufferPointer(rebasing: txScratch[0..<fixed]))
            try writeFrame(
                .ipv6, on: nic, to: linkDestination, ipHeaderLength: fixed,
                transportHeaderLength: transportHeaderLength, payload: payload, gso: gso,
                writeTransportHeader: writeTransportHeader)
            return
        }
        // RFC 8200 4.5: the source may fragment; the fragmentable part (everything after the
        // fixed header, as we add no other extension header) is cut into multiples of 8 bytes.
        let prefix = fixed + IPv6FragmentHeaderRepr.length
        // The reassembled packet's payload length is what must fit 16 bits (the Fragment
        // header is not part of it).
        if request.dontFragment || gso != nil || dataLength > 65_535
            || mtu < prefix + 8 || transportHeaderLength > Self.scratchSize - prefix
        {
            throw messageTooLong(on: nic, mtu: mtu)
        }
        // RFC 8200 4.5 (and RFC 7739): the identification must differ from that of any other
        // fragmented packet sent recently with the same addresses; one counter for all does it.
        let identification = nextIPv6Identification
        nextIPv6Identification &+= 1
        repr.nextHeader = .fragment
        // Each fragment: the fixed header, then a Fragment header with its piece's offset.
        try writeFragments(
            .ipv6, on: nic, to: linkDestination, prefixLength: prefix,
            chunk: (mtu - prefix) & ~7, transportHeaderLength: transportHeaderLength,
            payload: payload, writeTransportHeader: writeTransportHeader
        ) { offset, end in
            repr.payloadLength = IPv6FragmentHeaderRepr.length + end - offset
            repr.emit(into: UnsafeMutableRawBufferPointer(rebasing: txScratch[0..<fixed]))
            IPv6FragmentHeaderRepr(
                nextHeader: request.protocolNumber, fragmentOffset: offset, moreFragments: end < dataLength,
                identification: identification
            )
            .emit(into: UnsafeMutableRawBufferPointer(rebasing: txScratch[fixed..<prefix]))
        }
    }
}

extension IPv6SendRequest: IPFamilySendRequest {
    static var ipHeaderLength: Int { IPv6Repr.headerLength }
    var parked: PendingDatagram.Request { .v6(self) }
    static func ipAddress(_ address: IPv6Address) -> IPAddress { .v6(address) }

    func resolveRoute(on stack: Stack) -> Stack.ResolvedRoute<IPv6Address>? {
        stack.resolveRoute(destination, preferredSource: source, scope: nic)
    }

    /// RFC 2464 7: a multicast destination maps to 33:33 and the group's low 32 bits.
    func groupLinkDestination(on nic: NIC) -> MACAddress? {
        destination.isMulticast ? destination.multicastMAC : nil
    }

    func emit(
        on stack: Stack, nic: NIC, mtu: Int, linkDestination: MACAddress, transportHeaderLength: Int,
        payload: UnsafeRawBufferPointer, gso: GSOInfo?,
        writeTransportHeader: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(SendError) {
        try stack.emitIPv6(
            self, nic: nic, mtu: mtu, linkDestination: linkDestination, transportHeaderLength: transportHeaderLength,
            payload: payload, gso: gso, writeTransportHeader: writeTransportHeader)
    }
}
