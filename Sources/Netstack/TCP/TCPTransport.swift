// TCP plugged into the stack (TransportProtocol.swift's seam): parses inbound segments with
// Wire, hands them to the demux with the flow seen from our side, and sends what the
// connections emit through `Stack.sendIPv4` or `Stack.sendIPv6`, building the TCP header in
// the stack's TX scratch space (no copy, no allocation). The one segment sink of the stack:
// plain hosts and the gateway send through it alike.
//
// Gateway mode (TCPTransport+Admission.swift): a SYN that no connection or listener of our
// own takes is put to the stack's gateway hook, which may answer at once or defer.

import Link
import Wire

public struct TCPTransportCounters: Sendable, Hashable {
    public var segmentsReceived = 0
    public var malformed = 0
    public var badChecksum = 0
    /// RFC 1122 4.2.3.10: segments to a broadcast address, discarded.
    public var broadcastDiscarded = 0
    public var sendFailures = 0
    /// Gateway SYNs refused with a RST, ICMP Destination Unreachable, or silently.
    public var gatewayRejected = 0
    public var gatewayUnreachable = 0
    public var gatewayDropped = 0
    /// Gateway SYNs held while the hook decided (`FlowVerdict.deferred`).
    public var synsHeld = 0
    /// Repeats of a held SYN (the app's retransmissions), dropped: the answer is coming.
    public var heldSYNRepeats = 0
    /// SYNs dropped because `maxHeldSYNs` were held already.
    public var heldSYNOverflows = 0
    /// TIME-WAIT connections given up for a new incarnation of their four-tuple (RFC 6191).
    public var timeWaitReused = 0
    public var icmpErrors = 0
    public init() {}
}

public final class TCPTransport: TransportProtocolHandler {
    public let demux = TCPDemux()
    public internal(set) var counters = TCPTransportCounters()
    /// Bounds the SYNs held for a deferred gateway verdict; more are dropped (counted), as a
    /// full SYN queue drops them.
    public var maxHeldSYNs = 4096
    /// SYNs whose gateway verdict is deferred, by flow (TCPTransport+Admission.swift).
    var heldSYNs: [TCPFlowID: TCPRepr] = [:]
    unowned let stack: Stack
    /// The link completes partial checksums (a packet socket speaking virtio_net_hdr, which
    /// marks them NEEDS_CSUM): every segment then leaves with its pseudo-header sum only, as
    /// Linux leaves them to a device with checksum offload, and neither this stack nor the
    /// receiving kernel sums the payload (a veth peer trusts a partial checksum).
    public var linkCompletesChecksums = false

    /// Creates the transport and registers it with `stack`.
    public init(stack: Stack) {
        self.stack = stack
        stack.register(self)
    }

    public var protocolNumber: IPProtocol { .tcp }

    /// The sink that turns segments into IP packets.
    public var output: TCPStackOutput { TCPStackOutput(transport: self) }

    public func handleSegment(_ segment: InboundSegment, now: NetstackInstant) -> SegmentVerdict {
        counters.segmentsReceived += 1
        let parsed: TCPSegment
        let repr: TCPRepr
        do {
            parsed = try TCPSegment(segment.bytes)
            repr = try TCPRepr.parse(parsed, checksum: segment.checksumVerified ? nil : segment.ip.pseudoHeader)
        } catch {
            // DropReason has no TCP cases yet: counted here instead.
            if error == .badChecksum { counters.badChecksum += 1 } else { counters.malformed += 1 }
            return .consumed
        }
        // RFC 1122 4.2.3.10: "A TCP implementation MUST silently discard an incoming SYN
        // segment that is addressed to a broadcast or multicast address"; no connection can
        // have such an address either.
        guard !segment.ip.isBroadcast else {
            counters.broadcastDiscarded += 1
            return .consumed
        }
        let flow = TCPFlowID(
            local: TCPSocketAddress(segment.ip.destination, repr.destinationPort),
            remote: TCPSocketAddress(segment.ip.source, repr.sourcePort))
        var sink = output
        if repr.isOpeningSYN {
            reopenTimeWait(flow, for: repr, now: now, output: &sink)
            if admitsThroughGateway(flow) {
                admit(repr, payload: parsed.payload, flow: flow, now: now, output: &sink)
                return .consumed
            }
        }
        demux.deliver(repr, payload: parsed.payload, flow: flow, now: now, output: &sink)
        return .consumed
    }

    /// A SYN for a four-tuple whose last connection waits in TIME-WAIT here, and that cannot
    /// be an old duplicate (`TCPConnection.acceptsNewIncarnation`): the old incarnation goes,
    /// silently (ABORT in TIME-WAIT sends nothing), and the SYN opens a new connection, as
    /// Linux does. Answering it from TIME-WAIT would cost the peer a reset and a SYN retry.
    private func reopenTimeWait(
        _ flow: TCPFlowID, for syn: TCPRepr, now: NetstackInstant,
        output: inout TCPStackOutput
    ) {
        guard let previous = demux.connections[flow], previous.acceptsNewIncarnation(syn) else { return }
        demux.remove(flow)
        previous.abort(now: now, output: &output)
        counters.timeWaitReused += 1
    }

    public func handleICMPError(_ error: TransportICMPError, now: NetstackInstant) -> Bool {
        guard error.quotedTransport.count >= 4 else { return false }
        let sourcePort = UInt16(error.quotedTransport[0]) << 8 | UInt16(error.quotedTransport[1])
        let destinationPort = UInt16(error.quotedTransport[2]) << 8 | UInt16(error.quotedTransport[3])
        let flow = TCPFlowID(
            local: TCPSocketAddress(error.quotedSource, sourcePort),
            remote: TCPSocketAddress(error.quotedDestination, destinationPort))
        guard let connection = demux.connections[flow] else { return false }
        counters.icmpErrors += 1
        if case .fragmentationNeeded(let mtu) = error.kind, error.quotedTransport.count >= 8 {
            // The quoted segment's sequence number: bytes 4-7 of the TCP header.
            let quoted = error.quotedTransport
            let sequence =
                UInt32(quoted[4]) << 24 | UInt32(quoted[5]) << 16 | UInt32(quoted[6]) << 8 | UInt32(quoted[7])
            var sink = output
            connection.handlePathMTU(
                reportedMTU: mtu, quotedSequence: SeqNumber(rawValue: sequence), quotedLength: error.quotedLength,
                now: now, output: &sink)
        }
        // Other errors are soft (RFC 5461, RFC 1122 4.2.3.9): the connection keeps retransmitting.
        return true
    }

    public var nextDeadline: NetstackInstant? {
        demux.nextDeadline
    }

    /// Runs the connections whose timers are due (and the listeners' SYN-ACK retransmissions).
    public func handleTimers(now: NetstackInstant) {
        var sink = output
        demux.pollDue(now: now, output: &sink)
    }

    /// Runs every connection (O(connections)): for owners that read or wrote on many
    /// connections and want their window updates and new data sent now.
    public func pollAllConnections(now: NetstackInstant) {
        var sink = output
        demux.poll(now: now, output: &sink)
    }

    /// The route MTU for a destination, for `TCPConfig.mtu` (MSS clamping).
    public func routeMTU(to destination: IPAddress) -> Int? { stack.route(to: destination)?.mtu }

    /// `segmentSize`: the payload is larger and the link cuts it (GSO, `TCPConfig.segmentationOffloadSize`);
    /// the checksum is then left partial for it to complete per segment (virtio_net_hdr).
    fileprivate func send(_ segment: TCPRepr, payload: UnsafeRawBufferPointer, flow: TCPFlowID, segmentSize: Int? = nil)
    {
        func offload(_ kind: GSOInfo.Kind, ipHeaderLength: Int) -> GSOInfo? {
            let cut = segmentSize.map { payload.count > $0 } ?? false
            guard cut || linkCompletesChecksums else { return nil }
            // The TCP checksum field sits 16 bytes into the TCP header (RFC 9293 3.1).
            return GSOInfo(
                kind: cut ? kind : .none, headerLength: UInt16(ipHeaderLength + segment.headerLength),
                segmentSize: cut ? UInt16(clamping: segmentSize ?? 0) : 0, checksumStart: UInt16(ipHeaderLength),
                checksumOffset: 16, needsChecksum: true)
        }
        do {
            switch (flow.local.address, flow.remote.address) {
            case (.v4(let source), .v4(let destination)):
                let request = IPv4SendRequest(
                    source: source, destination: destination, protocolNumber: .tcp, dontFragment: true)
                let pseudo = PseudoHeader.v4(source: source, destination: destination)
                let gso = offload(.tcpv4, ipHeaderLength: IPv4Repr.headerLength)
                _ = try stack.sendIPv4(request, transportHeaderLength: segment.headerLength, payload: payload, gso: gso)
                { header in
                    segment.emit(
                        into: header, payload: payload, pseudoHeader: pseudo, checksum: gso == nil ? .compute : .partial
                    )
                }
            case (.v6(let source), .v6(let destination)):
                // TCP does its own path-MTU sizing (MSS from the route MTU): the stack must
                // never fragment what it sends (RFC 8200 5: only the source fragments, and a
                // transport that sizes its segments asks it not to).
                let request = IPv6SendRequest(
                    source: source, destination: destination, protocolNumber: .tcp, dontFragment: true)
                let pseudo = PseudoHeader.v6(source: source, destination: destination)
                let gso = offload(.tcpv6, ipHeaderLength: IPv6Repr.headerLength)
                _ = try stack.sendIPv6(request, transportHeaderLength: segment.headerLength, payload: payload, gso: gso)
                { header in
                    segment.emit(
                        into: header, payload: payload, pseudoHeader: pseudo, checksum: gso == nil ? .compute : .partial
                    )
                }
            default:
                counters.sendFailures += 1
            }
        } catch {
            counters.sendFailures += 1
        }
    }
}

/// Sends TCP segments as IPv4 or IPv6 packets (by the flow's family) through the stack.
public struct TCPStackOutput: TCPSegmentOutput {
    fileprivate unowned let transport: TCPTransport

    public mutating func send(_ segment: TCPRepr, payload: UnsafeRawBufferPointer, flow: TCPFlowID) {
        transport.send(segment, payload: payload, flow: flow)
    }

    public mutating func send(_ segment: TCPRepr, payload: UnsafeRawBufferPointer, flow: TCPFlowID, segmentSize: Int) {
        transport.send(segment, payload: payload, flow: flow, segmentSize: segmentSize)
    }
}

extension TCPRepr {
    /// A SYN that opens a connection (no ACK, no RST).
    var isOpeningSYN: Bool { flags.contains(.syn) && flags.isDisjoint(with: [.ack, .rst]) }
}
