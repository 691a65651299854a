// What IPv4 and IPv6 output share once the family-specific work (routing, the link address of
// broadcast and multicast destinations, the IP header itself) is done: the next hop's link
// address from the neighbour cache (or parking the datagram until it resolves), the one-frame
// write, and the fragment loop that cuts transport header and payload into pieces behind a
// header prefix each family emits its own way. Everything here works in the stack's TX
// scratch buffers and borrows the payload: nothing is allocated per packet but a parked copy.

import Link
import Wire

/// What the shared send path needs from a family's send request (`IPv4SendRequest`,
/// `IPv6SendRequest`): its route, the link address of a group destination, how it parks, and
/// its own header emission. `Stack.send` is specialised per family, so nothing is boxed.
protocol IPFamilySendRequest {
    associatedtype Address
    static var ipHeaderLength: Int { get }
    var source: Address { get set }
    /// The request as the neighbour queue keeps it.
    var parked: PendingDatagram.Request { get }
    static func ipAddress(_ address: Address) -> IPAddress
    func resolveRoute(on stack: Stack) -> Stack.ResolvedRoute<Address>?
    /// The link address of a broadcast or multicast destination (no resolution); nil for unicast.
    func groupLinkDestination(on nic: NIC) -> MACAddress?
    /// Builds the header(s) and writes the datagram, fragmenting when it exceeds `mtu`.
    func emit(
        on stack: Stack, nic: NIC, mtu: Int, linkDestination: MACAddress, transportHeaderLength: Int,
        payload: UnsafeRawBufferPointer, gso: GSOInfo?,
        writeTransportHeader: (UnsafeMutableRawBufferPointer) -> Void) throws(SendError)
}

extension Stack {
    /// `sendIPv4` and `sendIPv6`: route, source, next-hop link address (or park), emit.
    @inline(__always)
    func send<Request: IPFamilySendRequest>(
        _ request: Request, transportHeaderLength: Int, payload: UnsafeRawBufferPointer,
        gso: GSOInfo?,
        writeTransportHeader: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(SendError) -> SendOutcome {
        guard transportHeaderLength >= 0, transportHeaderLength <= Self.scratchSize - Request.ipHeaderLength else {
            throw .invalidArgument
        }
        guard let route = request.resolveRoute(on: self) else {
            noRouteDrops &+= 1
            throw .noRoute
        }
        var request = request
        request.source = route.source
        let nic = route.nic
        let linkDestination: MACAddress
        if let group = request.groupLinkDestination(on: nic) {
            linkDestination = group
        } else if let mac = unicastLinkDestination(nextHop: Request.ipAddress(route.nextHop), on: nic) {
            linkDestination = mac
        } else {
            try park(
                request.parked, nextHop: Request.ipAddress(route.nextHop), on: nic, mtu: route.mtu,
                transportHeaderLength: transportHeaderLength, payload: payload, gso: gso,
                writeTransportHeader: writeTransportHeader)
            return .queuedForResolution
        }
        try request.emit(
            on: self, nic: nic, mtu: route.mtu, linkDestination: linkDestination,
            transportHeaderLength: transportHeaderLength, payload: payload, gso: gso,
            writeTransportHeader: writeTransportHeader)
        return .sent
    }

    /// The link address to send a unicast datagram to via `nextHop`: all zeros on a link that
    /// resolves nothing, the cached neighbour entry (sending the unicast refresh request when
    /// it is due), or nil when the datagram has to wait for resolution (see `park`).
    @inline(__always)
    func unicastLinkDestination(nextHop: IPAddress, on nic: NIC) -> MACAddress? {
        guard nic.capabilities.contains(.resolutionRequired) else { return .zero }
        guard let (mac, refresh) = nic.neighbours.resolve(nextHop, now: now) else { return nil }
        if refresh { sendResolutionRequest(for: nextHop, on: nic, to: mac) }
        return mac
    }

    /// Copies the datagram into the neighbour queue of `nextHop` and, for a new entry, sends the
    /// first resolution request. This path runs once per unresolved neighbour, not per packet
    /// in steady state, so the copy is allowed.
    func park(
        _ request: PendingDatagram.Request, nextHop: IPAddress, on nic: NIC, mtu: Int, transportHeaderLength: Int,
        payload: UnsafeRawBufferPointer, gso: GSOInfo?,
        writeTransportHeader: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(SendError) {
        let header = UnsafeMutableRawBufferPointer(rebasing: auxScratch[0..<transportHeaderLength])
        writeTransportHeader(header)
        let datagram = PendingDatagram(
            request: request, transportHeader: Array(header), payload: Array(payload),
            gso: gso, mtu: mtu)
        switch nic.neighbours.enqueue(datagram, for: nextHop, now: now) {
        case .queuedSendRequest:
            sendResolutionRequest(for: nextHop, on: nic)
        case .queued:
            break
        case .queuedDroppingOlder(let count):
            for _ in 0..<count { nic.counters.countDrop(.neighbourQueueFull) }
        case .dropped(let reason):
            nic.counters.countDrop(reason)
            throw .resolutionQueueFull
        }
    }

    /// Whether a datagram of `length` bytes (IP header included) leaves as one frame: it fits
    /// the MTU, or it is a GSO super-frame the link segments itself. A GSOInfo on a frame that
    /// fits goes down too: it may carry only a checksum-offload request.
    @inline(__always)
    func leavesAsOneFrame(length: Int, mtu: Int, gso: GSOInfo?, on nic: NIC) -> Bool {
        length <= mtu || (gso != nil && nic.capabilities.contains(.gso) && length <= nic.gsoMaxSize)
    }

    /// Counts a datagram that cannot be sent at this size and says why.
    func messageTooLong(on nic: NIC, mtu: Int) -> SendError {
        nic.counters.countDrop(.messageTooLong)
        return .messageTooLong(mtu: mtu)
    }

    /// Writes one frame whose IP header the caller emitted into `txScratch[0..<ipHeaderLength]`:
    /// the transport header goes right behind it, the payload by reference.
    @inline(__always)
    func writeFrame(
        _ etherType: EtherType, on nic: NIC, to linkDestination: MACAddress, ipHeaderLength: Int,
        transportHeaderLength: Int, payload: UnsafeRawBufferPointer, gso: GSOInfo?,
        writeTransportHeader: (UnsafeMutableRawBufferPointer) -> Void
    ) throws(SendError) {
        let headerEnd = ipHeaderLength + transportHeaderLength
        writeTransportHeader(UnsafeMutableRawBufferPointer(rebasing: txScratch[ipHeaderLength..<headerEnd]))
        let packet = OutboundPacket(
            protocolNumber: etherType, remoteLinkAddress: linkDestination,
            header: UnsafeRawBufferPointer(rebasing: txScratch[0..<headerEnd]),
            payload: payload, gso: gso)
        do { try nic.write(packet) } catch { throw .link(error) }
    }

    /// Cuts the transport header plus `payload` into fragments of `chunk` bytes (a multiple of
    /// 8, RFC 791 and RFC 8200 4.5; the last one shorter) and writes each behind the
    /// `prefixLength` bytes of IP header(s) that `emitPrefix(offset, end)` puts into
    /// `txScratch[0..<prefixLength]` for the fragment carrying bytes [offset, end).
    /// The caller checked that `prefixLength + transportHeaderLength` fits the scratch.
    func writeFragments(
        _ etherType: EtherType, on nic: NIC, to linkDestination: MACAddress, prefixLength: Int,
        chunk: Int, transportHeaderLength: Int, payload: UnsafeRawBufferPointer,
        writeTransportHeader: (UnsafeMutableRawBufferPointer) -> Void,
        emitPrefix: (_ offset: Int, _ end: Int) -> Void
    ) throws(SendError) {
        // The transport header is written once, aside, then cut like the payload.
        let transportHeader = UnsafeMutableRawBufferPointer(rebasing: auxScratch[0..<transportHeaderLength])
        writeTransportHeader(transportHeader)
        let dataLength = transportHeaderLength + payload.count
        var offset = 0
        while offset < dataLength {
            let end = min(offset + chunk, dataLength)
            emitPrefix(offset, end)
            // The part of [offset, end) inside the transport header goes into the header buffer.
            var headerEnd = prefixLength
            if offset < transportHeaderLength {
                let count = min(end, transportHeaderLength) - offset
                UnsafeMutableRawBufferPointer(rebasing: txScratch[prefixLength..<(prefixLength + count)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: transportHeader[offset..<(offset + count)]))
                headerEnd += count
            }
            let payloadStart = max(offset, transportHeaderLength) - transportHeaderLength
            let payloadEnd = max(end, transportHeaderLength) - transportHeaderLength
            let packet = OutboundPacket(
                protocolNumber: etherType, remoteLinkAddress: linkDestination,
                header: UnsafeRawBufferPointer(rebasing: txScratch[0..<headerEnd]),
                payload: UnsafeRawBufferPointer(rebasing: payload[payloadStart..<payloadEnd]))
            do { try nic.write(packet) } catch { throw .link(error) }
            nic.counters.fragmentsSent &+= 1
            offset = end
        }
    }
}
