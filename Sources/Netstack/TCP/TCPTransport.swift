// TCP plugged into the stack (TransportProtocol.swift's seam): parses inbound segments with
// Wire, hands them to the demux with the flow seen from our side, and sends what the
// connections emit through `Stack.sendIPv4` or `Stack.sendIPv6`, building the TCP header in the stack's TX scratch
// space (no copy, no allocation).
//
// Gateway mode: a SYN to an address we impersonate, for which no connection or listener exists,
// asks `Stack.gatewayVerdict`; on `.accept` it goes to `gatewayListener` (the "accept for any
// destination" listener); `.reject` answers with a RST, `.drop` with nothing.

import Link
import Wire

public struct TCPTransportCounters: Sendable, Hashable {
    public var segmentsReceived = 0
    public var malformed = 0
    public var badChecksum = 0
    public var sendFailures = 0
    public var gatewayRejected = 0
    public var gatewayDropped = 0
    public var icmpErrors = 0
    public init() {}
}

public final class TCPTransport: TransportProtocolHandler {
    public let demux = TCPDemux()
    /// Receives SYNs the gateway hook accepted, for any destination.
    public var gatewayListener: TCPListener?
    public private(set) var counters = TCPTransportCounters()
    private unowned let stack: Stack

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
        let ip = segment.ip
        let flow = TCPFlowID(local: TCPSocketAddress(ip.destination, repr.destinationPort),
                             remote: TCPSocketAddress(ip.source, repr.sourcePort))
        let tcpNow = TCPInstant(stack: now)
        var sink = output
        if !ip.isLocalAddress, repr.flags.contains(.syn), !repr.flags.contains(.ack),
           demux.connections[flow] == nil, let listener = gatewayListener {
            let key = FlowKey(protocolNumber: .tcp, source: ip.source, sourcePort: repr.sourcePort,
                              destination: ip.destination, destinationPort: repr.destinationPort)
            switch stack.gatewayVerdict(for: key, now: now) {
            case .accept:
                if let connection = listener.handle(repr, payload: parsed.payload, flow: flow, now: tcpNow, output: &sink) {
                    demux.register(connection)
                }
            case .reject:
                counters.gatewayRejected += 1
                if let reset = TCPConnection.resetReply(to: repr) {
                    sink.send(reset, payload: UnsafeRawBufferPointer(start: nil, count: 0), flow: flow)
                }
            case .drop:
                counters.gatewayDropped += 1
            }
            return .consumed
        }
        if !ip.isLocalAddress, demux.connections[flow] == nil, let listener = gatewayListener,
           !repr.flags.contains(.syn) {
            // The ACK completing a gateway handshake, or a stray for an impersonated address.
            if let connection = listener.handle(repr, payload: parsed.payload, flow: flow, now: tcpNow, output: &sink) {
                demux.register(connection)
            }
            return .consumed
        }
        demux.deliver(repr, payload: parsed.payload, flow: flow, now: tcpNow, output: &sink)
        return .consumed
    }

    public func handleICMPError(_ error: TransportICMPError, now: NetstackInstant) -> Bool {
        guard error.quotedTransport.count >= 4 else { return false }
        let sourcePort = UInt16(error.quotedTransport[0]) << 8 | UInt16(error.quotedTransport[1])
        let destinationPort = UInt16(error.quotedTransport[2]) << 8 | UInt16(error.quotedTransport[3])
        let flow = TCPFlowID(local: TCPSocketAddress(error.quotedSource, sourcePort),
                             remote: TCPSocketAddress(error.quotedDestination, destinationPort))
        guard demux.connections[flow] != nil else { return false }
        // RFC 5461 / RFC 1122 4.2.3.9: soft errors; the connection keeps retransmitting.
        counters.icmpErrors += 1
        return true
    }

    public var nextDeadline: NetstackInstant? {
        demux.nextDeadline.map { NetstackInstant(nanoseconds: UInt64(max($0.nanoseconds, 0))) }
    }

    public func handleTimers(now: NetstackInstant) {
        var sink = output
        demux.poll(now: TCPInstant(stack: now), output: &sink)
    }

    /// Runs the connections after the owner read or wrote (window updates, new data).
    public func flushConnections(now: NetstackInstant) {
        handleTimers(now: now)
    }

    /// The route MTU for a destination, for `TCPConfig.mtu` (MSS clamping).
    public func routeMTU(to destination: IPAddress) -> Int? { stack.route(to: destination)?.mtu }

    /// `segmentSize`: the payload is larger and the link cuts it (GSO, `TCPConfig.segmentationOffloadSize`);
    /// the checksum is then left partial for it to complete per segment (virtio_net_hdr).
    fileprivate func send(_ segment: TCPRepr, payload: UnsafeRawBufferPointer, flow: TCPFlowID, segmentSize: Int? = nil) {
        func offload(_ kind: GSOInfo.Kind, ipHeaderLength: Int) -> GSOInfo? {
            guard let segmentSize, payload.count > segmentSize else { return nil }
            // The TCP checksum field sits 16 bytes into the TCP header (RFC 9293 3.1).
            return GSOInfo(kind: kind, headerLength: UInt16(ipHeaderLength + segment.headerLength),
                           segmentSize: UInt16(clamping: segmentSize), checksumStart: UInt16(ipHeaderLength),
                           checksumOffset: 16, needsChecksum: true)
        }
        do {
            switch (flow.local.address, flow.remote.address) {
            case (.v4(let source), .v4(let destination)):
                let request = IPv4SendRequest(source: source, destination: destination, protocolNumber: .tcp, dontFragment: true)
                let pseudo = PseudoHeader.v4(source: source, destination: destination)
                let gso = offload(.tcpv4, ipHeaderLength: IPv4Repr.headerLength)
                _ = try stack.sendIPv4(request, transportHeaderLength: segment.headerLength, payload: payload, gso: gso) { header in
                    segment.emit(into: header, payload: payload, pseudoHeader: pseudo, checksum: gso == nil ? .compute : .partial)
                }
            case (.v6(let source), .v6(let destination)):
                // TCP does its own path-MTU sizing (MSS from the route MTU): the stack must
                // never fragment what it sends (RFC 8200 5: only the source fragments, and a
                // transport that sizes its segments asks it not to).
                let request = IPv6SendRequest(source: source, destination: destination, protocolNumber: .tcp, dontFragment: true)
                let pseudo = PseudoHeader.v6(source: source, destination: destination)
                let gso = offload(.tcpv6, ipHeaderLength: 40)
                _ = try stack.sendIPv6(request, transportHeaderLength: segment.headerLength, payload: payload, gso: gso) { header in
                    segment.emit(into: header, payload: payload, pseudoHeader: pseudo, checksum: gso == nil ? .compute : .partial)
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

extension TCPInstant {
    /// The stack's clock in TCP's terms.
    public init(stack instant: NetstackInstant) {
        self.init(nanoseconds: Int64(clamping: instant.nanoseconds))
    }
}
