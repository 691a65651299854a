// UDP (RFC 768): endpoints bound to an address and port or to the wildcard, connected or not;
// checksum check and generation (a zero checksum is accepted over IPv4: "An all zero
// transmitted checksum value means that the transmitter generated no checksum"; over IPv6 it
// is mandatory both ways, RFC 8200 8.1); ICMP port unreachable when no one listens (RFC 1122
// 4.1.3.1, RFC 4443 3.1); gateway mode's new-flow hook.
//
// Demultiplexing, most specific first: the connected 4-tuple, then (local address, port), then
// (wildcard, port). Each is one dictionary lookup on a value key: no allocation per datagram.
// Received payloads are handed to the endpoint's delegate borrowed, for the call only.

import Link
import Wire

/// Receives what arrives on a UDP endpoint.
public protocol UDPEndpointDelegate: AnyObject {
    /// A datagram: `payload` is borrowed for the call only. `destination` is the address it
    /// was sent to (which of our addresses, a broadcast, or in gateway mode the impersonated
    /// host).
    func udpEndpoint(
        _ endpoint: UDPEndpoint, received payload: UnsafeRawBufferPointer,
        from source: IPAddress, port: UInt16, to destination: IPAddress, now: NetstackInstant)
    /// An ICMP error about a datagram this endpoint sent.
    func udpEndpoint(_ endpoint: UDPEndpoint, receivedError error: TransportICMPError, now: NetstackInstant)
}

extension UDPEndpointDelegate {
    public func udpEndpoint(_ endpoint: UDPEndpoint, receivedError error: TransportICMPError, now: NetstackInstant) {}
}

/// Why a UDP endpoint could not be opened.
public enum UDPOpenError: Error, Sendable, Equatable {
    case addressInUse
    case noEphemeralPort
    /// `UDP.maxEndpoints` endpoints are open already.
    case tooManyEndpoints
    /// A connected endpoint needs a route to its remote to pick its source address.
    case noRoute
}

/// One UDP endpoint. Owned by the caller; `close()` removes it from the stack.
public final class UDPEndpoint {
    unowned let udp: UDP
    /// nil: bound to every address.
    public let localAddress: IPAddress?
    public let localPort: UInt16
    /// Set for connected endpoints: only datagrams from here are received, `send` goes here.
    public let remoteAddress: IPAddress?
    public let remotePort: UInt16
    public weak var delegate: (any UDPEndpointDelegate)?
    public private(set) var isClosed = false
    public internal(set) var datagramsReceived: UInt64 = 0
    public internal(set) var datagramsSent: UInt64 = 0
    /// The last ICMP error reported for this endpoint (like SO_ERROR).
    public internal(set) var lastError: TransportICMPError.Kind?
    /// TTL of datagrams sent.
    public var ttl: UInt8
    /// Set DF on datagrams sent (then sends above the MTU fail instead of fragmenting).
    public var dontFragment = false

    init(
        udp: UDP, localAddress: IPAddress?, localPort: UInt16, remoteAddress: IPAddress?, remotePort: UInt16, ttl: UInt8
    ) {
        self.udp = udp
        self.localAddress = localAddress
        self.localPort = localPort
        self.remoteAddress = remoteAddress
        self.remotePort = remotePort
        self.ttl = ttl
    }

    public var isConnected: Bool { remoteAddress != nil }

    /// Sends `payload` to the connected remote.
    @discardableResult
    public func send(_ payload: UnsafeRawBufferPointer) throws(SendError) -> SendOutcome {
        guard let remoteAddress else { throw .invalidArgument }
        return try send(payload, to: remoteAddress, port: remotePort)
    }

    /// Sends `payload` to `address`:`port` (a connected endpoint may only send to its remote).
    @discardableResult
    public func send(_ payload: UnsafeRawBufferPointer, to address: IPAddress, port: UInt16) throws(SendError)
        -> SendOutcome
    {
        guard !isClosed else { throw .closed }
        if let remoteAddress, remoteAddress != address || remotePort != port { throw .invalidArgument }
        let outcome = try udp.send(
            payload, from: localAddress, port: localPort, to: address, port: port, ttl: ttl,
            dontFragment: dontFragment)
        datagramsSent &+= 1
        return outcome
    }

    public func close() {
        guard !isClosed else { return }
        isClosed = true
        udp.remove(self)
        delegate = nil
    }
}

/// The stack's UDP: the endpoint tables and the datagram paths.
public final class UDP {
    unowned let stack: Stack

    struct BoundKey: Hashable {
        var address: IPAddress?
        var port: UInt16
    }
    struct ConnectedKey: Hashable {
        var local: IPAddress
        var localPort: UInt16
        var remote: IPAddress
        var remotePort: UInt16
    }

    private var bound: [BoundKey: UDPEndpoint] = [:]
    private var connected: [ConnectedKey: UDPEndpoint] = [:]
    private var nextEphemeral: UInt16 = 49_152
    /// Open endpoints at most (a gateway opens one per flow): a hook cannot grow the table
    /// without bound.
    public var maxEndpoints = 65_536

    init(stack: Stack) { self.stack = stack }

    public var endpointCount: Int { bound.count + connected.count }

    /// Opens an endpoint. `localAddress` nil binds every address; `localPort` 0 picks an
    /// ephemeral port (49152-65535, RFC 6335). With a remote the endpoint is connected; a
    /// connected endpoint without a local address takes the route's source address.
    public func open(
        localAddress: IPAddress? = nil, localPort: UInt16 = 0,
        remoteAddress: IPAddress? = nil, remotePort: UInt16 = 0,
        delegate: (any UDPEndpointDelegate)?
    ) throws(UDPOpenError) -> UDPEndpoint {
        guard endpointCount < maxEndpoints else { throw .tooManyEndpoints }
        var local = localAddress
        if let remoteAddress, local == nil {
            guard let route = stack.route(to: remoteAddress) else { throw .noRoute }
            local = route.source
        }
        var port = localPort
        if port == 0 {
            guard let free = ephemeralPort(for: local) else { throw .noEphemeralPort }
            port = free
        }
        let endpoint = UDPEndpoint(
            udp: self, localAddress: local, localPort: port, remoteAddress: remoteAddress,
            remotePort: remotePort, ttl: stack.configuration.defaultTTL)
        endpoint.delegate = delegate
        if let remoteAddress, let local {
            let key = ConnectedKey(local: local, localPort: port, remote: remoteAddress, remotePort: remotePort)
            guard connected[key] == nil else { throw .addressInUse }
            connected[key] = endpoint
        } else {
            let key = BoundKey(address: local, port: port)
            guard bound[key] == nil else { throw .addressInUse }
            bound[key] = endpoint
        }
        return endpoint
    }

    func remove(_ endpoint: UDPEndpoint) {
        if let remote = endpoint.remoteAddress, let local = endpoint.localAddress {
            let key = ConnectedKey(
                local: local, localPort: endpoint.localPort, remote: remote, remotePort: endpoint.remotePort)
            if connected[key] === endpoint { connected[key] = nil }
        } else {
            let key = BoundKey(address: endpoint.localAddress, port: endpoint.localPort)
            if bound[key] === endpoint { bound[key] = nil }
        }
    }

    private func ephemeralPort(for address: IPAddress?) -> UInt16? {
        for _ in 0..<16_384 {
            let port = nextEphemeral
            nextEphemeral = nextEphemeral == 65_535 ? 49_152 : nextEphemeral + 1
            if bound[BoundKey(address: address, port: port)] == nil && bound[BoundKey(address: nil, port: port)] == nil
            {
                return port
            }
        }
        return nil
    }

    private func lookup(local: IPAddress, localPort: UInt16, remote: IPAddress, remotePort: UInt16) -> UDPEndpoint? {
        if !connected.isEmpty,
            let endpoint = connected[
                ConnectedKey(local: local, localPort: localPort, remote: remote, remotePort: remotePort)]
        {
            return endpoint
        }
        return bound[BoundKey(address: local, port: localPort)] ?? bound[BoundKey(address: nil, port: localPort)]
    }

    func handle(_ segment: InboundSegment, now: NetstackInstant) -> SegmentVerdict {
        let datagram: UDPDatagram
        let repr: UDPRepr
        do {
            datagram = try UDPDatagram(segment.bytes)
            repr = try UDPRepr.parse(datagram, checksum: segment.checksumVerified ? nil : segment.ip.pseudoHeader)
        } catch {
            return .dropped(error == .badChecksum ? .udpBadChecksum : .udpMalformed)
        }
        let ip = segment.ip
        var endpoint = lookup(
            local: ip.destination, localPort: repr.destinationPort, remote: ip.source, remotePort: repr.sourcePort)
        if endpoint == nil && !ip.isBroadcast && (!ip.isLocalAddress || stack.isGatewayMode) {
            // Gateway mode: a datagram for no endpoint yet, to an address we impersonate or to
            // one of our own (the gateway may map its own address to a host service).
            let flow = FlowKey(
                protocolNumber: .udp, source: ip.source, sourcePort: repr.sourcePort,
                destination: ip.destination, destinationPort: repr.destinationPort)
            switch stack.gatewayVerdict(for: flow, now: now) {
            case .accept:
                endpoint = lookup(
                    local: ip.destination, localPort: repr.destinationPort, remote: ip.source,
                    remotePort: repr.sourcePort)
            case .reject(let code):
                return .unreachable(code)
            case .drop, .deferred:
                return .dropped(.gatewayDropped)
            }
        }
        guard let endpoint else {
            // RFC 1122 4.1.3.1: port unreachable, but not for broadcasts (sendICMPv4Error checks).
            return .unreachable(.portUnreachable)
        }
        deliver(datagram.payload, to: endpoint, segmentSize: segment.udpSegmentSize, repr: repr, ip: ip, now: now)
        return .consumed
    }

    /// Hands `payload` to `endpoint`: as one datagram, or, for a UDP GSO super-datagram (an
    /// app's UDP_SEGMENT send, passed up uncut by the veth), as the datagrams the sender's
    /// kernel would have cut it into: `segmentSize` bytes each, the last possibly shorter.
    private func deliver(
        _ payload: UnsafeRawBufferPointer, to endpoint: UDPEndpoint, segmentSize: Int?, repr: UDPRepr,
        ip: IPPacketInfo, now: NetstackInstant
    ) {
        let size = segmentSize ?? max(payload.count, 1)
        var start = 0
        repeat {
            let end = min(start + size, payload.count)
            endpoint.datagramsReceived &+= 1
            endpoint.delegate?.udpEndpoint(
                endpoint, received: UnsafeRawBufferPointer(rebasing: payload[start..<end]), from: ip.source,
                port: repr.sourcePort, to: ip.destination, now: now)
            start = end
        } while start < payload.count && !endpoint.isClosed
    }

    func handleICMPError(_ error: TransportICMPError, now: NetstackInstant) -> Bool {
        let transport = error.quotedTransport
        guard transport.count >= 4 else { return false }
        // The quoted header's first 4 bytes are our port, then theirs (RFC 768 layout).
        let localPort = UInt16(transport[0]) << 8 | UInt16(transport[1])
        let remotePort = UInt16(transport[2]) << 8 | UInt16(transport[3])
        guard
            let endpoint = lookup(
                local: error.quotedSource, localPort: localPort,
                remote: error.quotedDestination, remotePort: remotePort)
        else { return false }
        endpoint.lastError = error.kind
        endpoint.delegate?.udpEndpoint(endpoint, receivedError: error, now: now)
        return true
    }

    func send(
        _ payload: UnsafeRawBufferPointer, from localAddress: IPAddress?, port localPort: UInt16,
        to address: IPAddress, port remotePort: UInt16, ttl: UInt8, dontFragment: Bool
    ) throws(SendError) -> SendOutcome {
        guard case .v4(let destination) = address else {
            return try sendIPv6(
                payload, from: localAddress, port: localPort, to: address, port: remotePort, ttl: ttl,
                dontFragment: dontFragment)
        }
        guard payload.count <= 65_535 - IPv4Repr.headerLength - UDPRepr.headerLength else {
            throw .messageTooLong(mtu: 65_535)
        }
        var source = localAddress?.ipv4
        if source == nil || source?.isUnspecified == true {
            guard let route = stack.resolveRoute(destination) else { throw .noRoute }
            source = route.source
        }
        guard let source else { throw .noRoute }
        let repr = UDPRepr(sourcePort: localPort, destinationPort: remotePort, payloadLength: payload.count)
        let request = IPv4SendRequest(
            source: source, destination: destination, protocolNumber: .udp, ttl: ttl,
            dontFragment: dontFragment)
        return try stack.sendIPv4(request, transportHeaderLength: UDPRepr.headerLength, payload: payload) { header in
            repr.emit(
                into: header, payload: payload, pseudoHeader: .v4(source: source, destination: destination),
                checksum: .compute)
        }
    }

    /// RFC 8200 8.1: over IPv6 the UDP checksum is mandatory, so it is always computed.
    private func sendIPv6(
        _ payload: UnsafeRawBufferPointer, from localAddress: IPAddress?, port localPort: UInt16,
        to address: IPAddress, port remotePort: UInt16, ttl: UInt8, dontFragment: Bool
    ) throws(SendError) -> SendOutcome {
        guard case .v6(let destination) = address else { throw .noRoute }
        guard payload.count <= 65_535 - UDPRepr.headerLength else { throw .messageTooLong(mtu: 65_535) }
        var source = IPv6Address.any
        switch localAddress {
        case .v6(let bound)?: source = bound
        case .v4?: throw .invalidArgument
        case nil: break
        }
        if source.isUnspecified {
            // The checksum covers the source, so pick it before the header is written.
            guard let route = stack.resolveRoute(destination) else { throw .noRoute }
            source = route.source
        }
        let repr = UDPRepr(sourcePort: localPort, destinationPort: remotePort, payloadLength: payload.count)
        let request = IPv6SendRequest(
            source: source, destination: destination, protocolNumber: .udp, hopLimit: ttl,
            dontFragment: dontFragment)
        return try stack.sendIPv6(request, transportHeaderLength: UDPRepr.headerLength, payload: payload) { header in
            repr.emit(
                into: header, payload: payload, pseudoHeader: .v6(source: source, destination: destination),
                checksum: .compute)
        }
    }
}

extension InboundSegment {
    /// The datagram size of a UDP GSO super-datagram; nil for one datagram.
    var udpSegmentSize: Int? {
        guard let gso, gso.kind == .udpL4, gso.segmentSize > 0 else { return nil }
        return Int(gso.segmentSize)
    }
}
