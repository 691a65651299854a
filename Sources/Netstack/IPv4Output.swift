// IPv4 output: route, next-hop link address (or park the datagram behind ARP), header,
// fragmentation above the MTU (RFC 791 3.2 "Fragmentation"; RFC 1122 3.3.3), and the write.
// The IPv4 header and the transport header are built in one preallocated scratch buffer and
// the payload is handed to the link by reference: nothing is allocated or copied per packet.

import Link
import Wire

extension Stack {
    /// Sends one IPv4 datagram: `transportHeaderLength` bytes the closure writes, then `payload`.
    /// See TransportProtocol.swift ("OUTBOUND") for the contract.
    @discardableResult
    public func sendIPv4(_ request: IPv4SendRequest, transportHeaderLength: Int, payload: UnsafeRawBufferPointer,
                         gso: GSOInfo? = nil,
                         writeTransportHeader: (UnsafeMutableRawBufferPointer) -> Void) throws(SendError) -> SendOutcome {
        guard transportHeaderLength >= 0, transportHeaderLength <= Self.scratchSize - IPv4Repr.headerLength else {
            throw .invalidArgument
        }
        guard let route = resolveRoute(request.destination, preferredSource: request.source) else {
            noRouteDrops &+= 1
            throw .noRoute
        }
        var request = request
        request.source = route.source
        let nic = route.nic
        let linkDestination: MACAddress
        if request.destination.isBroadcast || nic.isBroadcast(request.destination) {
            linkDestination = .broadcast
        } else if request.destination.isMulticast {
            // RFC 1112 6.4: 01-00-5E plus the low 23 bits of the group address.
            linkDestination = MACAddress(rawValue: 0x0100_5E00_0000 | UInt64(request.destination.rawValue & 0x7F_FFFF))
        } else if !nic.capabilities.contains(.resolutionRequired) {
            linkDestination = .zero
        } else if let (mac, refresh) = nic.neighbours.resolve(route.nextHop, now: now) {
            linkDestination = mac
            if refresh { sendARPRequest(for: route.nextHop, on: nic, to: mac) }
        } else {
            try park(request, route: route, transportHeaderLength: transportHeaderLength, payload: payload,
                     gso: gso, writeTransportHeader: writeTransportHeader)
            return .queuedForResolution
        }
        try emitIPv4(request, route: route, linkDestination: linkDestination, transportHeaderLength: transportHeaderLength,
                     payload: payload, gso: gso, writeTransportHeader: writeTransportHeader)
        return .sent
    }

    /// Copies the datagram into the neighbour queue and asks for the next hop.
    private func park(_ request: IPv4SendRequest, route: ResolvedRoute, transportHeaderLength: Int,
                      payload: UnsafeRawBufferPointer, gso: GSOInfo?,
                      writeTransportHeader: (UnsafeMutableRawBufferPointer) -> Void) throws(SendError) {
        let nic = route.nic
        let header = UnsafeMutableRawBufferPointer(rebasing: auxScratch[0..<transportHeaderLength])
        writeTransportHeader(header)
        let datagram = PendingDatagram(request: request, transportHeader: Array(header), payload: Array(payload),
                                       gso: gso, mtu: route.mtu)
        switch nic.neighbours.enqueue(datagram, for: route.nextHop, now: now) {
        case .queuedSendRequest:
            sendARPRequest(for: route.nextHop, on: nic)
        case .queued:
            break
        case .queuedDroppingOlder(let count):
            for _ in 0..<count { nic.counters.countDrop(.neighbourQueueFull) }
        case .dropped(let reason):
            nic.counters.countDrop(reason)
            throw .resolutionQueueFull
        }
    }

    /// Builds the header(s) and writes the datagram, fragmenting when it exceeds the MTU.
    func emitIPv4(_ request: IPv4SendRequest, route: ResolvedRoute, linkDestination: MACAddress,
                  transportHeaderLength: Int, payload: UnsafeRawBufferPointer, gso: GSOInfo?,
                  writeTransportHeader: (UnsafeMutableRawBufferPointer) -> Void) throws(SendError) {
        let nic = route.nic
        let ipHeaderLength = IPv4Repr.headerLength
        let dataLength = transportHeaderLength + payload.count
        let totalLength = ipHeaderLength + dataLength
        let identification = nextIdentification
        nextIdentification &+= 1
        var repr = IPv4Repr(source: request.source, destination: request.destination, protocolNumber: request.protocolNumber,
                            payloadLength: dataLength, ttl: request.ttl, dscpECN: request.dscpECN,
                            identification: identification, dontFragment: request.dontFragment,
                            moreFragments: false, fragmentOffset: 0)

        // One frame: the common case, and GSO super-frames the link segments itself. A GSOInfo
        // on a frame that fits goes down too: it may carry only a checksum-offload request.
        let fitsOneFrame = totalLength <= route.mtu
        let gsoAllowed = gso != nil && nic.capabilities.contains(.gso) && totalLength <= nic.gsoMaxSize
        if fitsOneFrame || gsoAllowed {
            guard totalLength <= 65_535 else {
                nic.counters.countDrop(.messageTooLong)
                throw .messageTooLong(mtu: route.mtu)
            }
            repr.emit(into: UnsafeMutableRawBufferPointer(rebasing: txScratch[0..<ipHeaderLength]))
            writeTransportHeader(UnsafeMutableRawBufferPointer(rebasing: txScratch[ipHeaderLength..<(ipHeaderLength + transportHeaderLength)]))
            let packet = OutboundPacket(protocolNumber: .ipv4, remoteLinkAddress: linkDestination,
                                        header: UnsafeRawBufferPointer(rebasing: txScratch[0..<(ipHeaderLength + transportHeaderLength)]),
                                        payload: payload, gso: gso)
            do { try nic.write(packet) } catch { throw .link(error) }
            return
        }
        // RFC 791: a datagram with DF that does not fit is not sent; the sender learns the MTU
        // (the local equivalent of ICMP "fragmentation needed", RFC 1191).
        if request.dontFragment || gso != nil || totalLength > 65_535 || route.mtu < ipHeaderLength + 8 {
            nic.counters.countDrop(.messageTooLong)
            throw .messageTooLong(mtu: route.mtu)
        }
        // The transport header is written once, aside, then cut like the payload.
        let transportHeader = UnsafeMutableRawBufferPointer(rebasing: auxScratch[0..<transportHeaderLength])
        writeTransportHeader(transportHeader)
        // Every fragment but the last carries a multiple of 8 bytes (RFC 791).
        let chunk = (route.mtu - ipHeaderLength) & ~7
        var offset = 0
        while offset < dataLength {
            let end = min(offset + chunk, dataLength)
            repr.payloadLength = end - offset
            repr.fragmentOffset = offset
            repr.moreFragments = end < dataLength
            repr.emit(into: UnsafeMutableRawBufferPointer(rebasing: txScratch[0..<ipHeaderLength]))
            // The part of [offset, end) inside the transport header goes into the header buffer.
            var headerEnd = ipHeaderLength
            if offset < transportHeaderLength {
                let count = min(end, transportHeaderLength) - offset
                UnsafeMutableRawBufferPointer(rebasing: txScratch[ipHeaderLength..<(ipHeaderLength + count)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: transportHeader[offset..<(offset + count)]))
                headerEnd += count
            }
            let payloadStart = max(offset, transportHeaderLength) - transportHeaderLength
            let payloadEnd = max(end, transportHeaderLength) - transportHeaderLength
            let packet = OutboundPacket(protocolNumber: .ipv4, remoteLinkAddress: linkDestination,
                                        header: UnsafeRawBufferPointer(rebasing: txScratch[0..<headerEnd]),
                                        payload: UnsafeRawBufferPointer(rebasing: payload[payloadStart..<payloadEnd]))
            do { try nic.write(packet) } catch { throw .link(error) }
            nic.counters.fragmentsSent &+= 1
            offset = end
        }
    }
}
