// The stack: NICs, routes, the transport registry, timers and the clock it is told.
//
// Threading: a Stack and everything in it belong to ONE thread (the owner's event loop). It is
// sans-IO: it never makes a syscall and never reads a clock. The owner
//   1. calls `advance(to: now)` after every wake-up (this runs due timers and flushes),
//   2. lets the link endpoints deliver frames (they call the NIC, which calls `receive`;
//      inbound processing uses the instant of the last `advance`),
//   3. calls `flush()` after sending from outside a delivery (UDP send from a host socket),
//   4. sleeps until `nextDeadline` (or until a link or socket is readable).

import Link
import Wire

public final class Stack {
    /// Tunables of the whole stack.
    public struct Configuration: Sendable {
        public var neighbour = NeighbourConfiguration()
        public var reassembly = ReassemblyConfiguration()
        /// ICMP and ICMPv6 errors sent (unreachable, time exceeded, ...), over all NICs and both
        /// families together.
        public var icmpErrorRateLimit = RateLimit(perSecond: 1000, burst: 50)
        /// TTL (IPv4) and hop limit (IPv6) of datagrams the stack originates.
        public var defaultTTL: UInt8 = 64
        /// Answer for any unicast destination (see Gateway.swift).
        public var gatewayMode = false
        /// Whether ICMP echo requests to broadcast addresses are answered (Linux's
        /// icmp_echo_ignore_broadcasts=1 is the default: they are not).
        public var answerBroadcastEcho = false

        public init() {}
    }

    public let configuration: Configuration
    /// The instant of the last `advance(to:)`.
    public private(set) var now: NetstackInstant = .zero
    /// Decides new flows in gateway mode; nil accepts ICMP echo and leaves UDP/TCP to their
    /// listeners.
    public var gatewayHook: (any GatewayFlowHook)?

    var nics: [NIC] = []
    var routeTable = RouteTable()
    let reassembler: FragmentReassembler
    var icmpErrorLimiter: TokenBucket
    /// Indexed by protocol number, for the per-packet demux.
    private var transportHandlers: [(any TransportProtocolHandler)?] = Array(repeating: nil, count: 256)
    /// The same handlers as a short list, for timer sweeps.
    private var registeredHandlers: [any TransportProtocolHandler] = []
    /// The built-in UDP.
    public private(set) lazy var udp = UDP(stack: self)
    var nextIdentification: UInt16 = 1
    var nextIPv6Identification: UInt32 = 1
    /// Datagrams dropped for want of a route (no NIC to count them on).
    public internal(set) var noRouteDrops: UInt64 = 0

    /// TX scratch: IPv4 header then transport header, for every packet the stack writes.
    let txScratch: UnsafeMutableRawBufferPointer
    /// A second scratch for a transport header kept aside while fragmenting, for ARP, and for
    /// the IPv6 fixed header of a first fragment on its way into reassembly.
    let auxScratch: UnsafeMutableRawBufferPointer
    /// ICMP error bodies (the quoted datagram): IPv4 at most 576 - 28 bytes (RFC 1812 4.3.2.3),
    /// IPv6 at most 1280 - 48 (RFC 4443 2.4(c)).
    let quoteScratch: UnsafeMutableRawBufferPointer
    static let scratchSize = 256
    static let maxQuote = 576 - 28

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        reassembler = FragmentReassembler(configuration: configuration.reassembly)
        icmpErrorLimiter = TokenBucket(configuration.icmpErrorRateLimit)
        txScratch = .allocate(byteCount: Self.scratchSize, alignment: 8)
        auxScratch = .allocate(byteCount: Self.scratchSize, alignment: 8)
        quoteScratch = .allocate(byteCount: max(Self.maxQuote, Self.maxQuoteIPv6), alignment: 8)
        txScratch.initializeMemory(as: UInt8.self, repeating: 0)
        auxScratch.initializeMemory(as: UInt8.self, repeating: 0)
        quoteScratch.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit {
        for nic in nics { nic.link.attach(nil) }
        txScratch.deallocate()
        auxScratch.deallocate()
        quoteScratch.deallocate()
    }

    public var isGatewayMode: Bool { configuration.gatewayMode }

    // MARK: NICs, addresses, routes

    /// Adds a NIC over `link` and attaches to it.
    @discardableResult
    public func addNIC(_ link: any LinkEndpoint, name: String = "") -> NICID {
        let id = NICID(rawValue: nics.count)
        let nic = NIC(
            stack: self, id: id, name: name.isEmpty ? "nic\(id.rawValue)" : name, link: link,
            neighbours: configuration.neighbour)
        nics.append(nic)
        link.attach(nic)
        return id
    }

    func nic(_ id: NICID) -> NIC? { nics.indices.contains(id.rawValue) ? nics[id.rawValue] : nil }

    /// Adds `subnet.address` to the NIC and the connected route for the subnet.
    public func addAddress(_ subnet: IPv4Subnet, to id: NICID) {
        guard let nic = nic(id), !nic.addresses.contains(subnet) else { return }
        nic.addresses.append(subnet)
        routeTable.add(Route(destination: .v4(IPv4Subnet(subnet.network, prefixLength: subnet.prefixLength)), nic: id))
    }

    public func addresses(of id: NICID) -> [IPv4Subnet] { nic(id)?.addresses ?? [] }

    public func addRoute(_ route: Route) { routeTable.add(route) }
    public var routes: [Route] { routeTable.routes }

    public func setARPReplyPolicy(_ policy: ARPReplyPolicy, on id: NICID) { nic(id)?.arpPolicy = policy }

    /// A NIC's counters (a copy).
    public func counters(of id: NICID) -> NICCounters { nic(id)?.counters ?? NICCounters() }

    public var reassemblyStatistics: ReassemblyStatistics { reassembler.statistics }

    /// The neighbour cache of a NIC, sorted by address.
    public func neighbourEntries(of id: NICID) -> [NeighbourEntry] { nic(id)?.neighbours.snapshot ?? [] }

    /// Pins `address -> mac` (never expires); sends whatever waited for it.
    public func addStaticNeighbour(_ address: IPv4Address, _ mac: MACAddress, on id: NICID) {
        addStaticNeighbour(.v4(address), mac, on: id)
    }

    /// Both families' `addStaticNeighbour`: the neighbour cache is shared.
    func addStaticNeighbour(_ address: IPAddress, _ mac: MACAddress, on id: NICID) {
        guard let nic = nic(id) else { return }
        let released = nic.neighbours.addPermanent(address, mac)
        sendReleased(released, on: nic, to: mac)
    }

    /// Where a packet to `destination` would go.
    public func route(to destination: IPAddress) -> RouteInfo? {
        switch destination {
        case .v4(let address): resolveRoute(address)?.info(IPAddress.v4)
        case .v6(let address): resolveRoute(address)?.info(IPAddress.v6)
        }
    }

    /// Where a datagram of either family goes: the NIC, the source address picked, the next hop
    /// and the path MTU.
    struct ResolvedRoute<Address> {
        var nic: NIC
        var source: Address
        var nextHop: Address
        var mtu: Int

        func info(_ family: (Address) -> IPAddress) -> RouteInfo {
            RouteInfo(
                nic: nic.id, source: family(source), nextHop: family(nextHop), mtu: mtu,
                linkCapabilities: nic.capabilities, gsoMaxSize: nic.gsoMaxSize)
        }
    }

    func resolveRoute(_ destination: IPv4Address, preferredSource: IPv4Address? = nil) -> ResolvedRoute<IPv4Address>? {
        guard let route = routeTable.lookup(destination), let nic = nic(route.nic) else { return nil }
        let nextHop = route.gateway?.ipv4 ?? destination
        let source: IPv4Address?
        if let preferredSource, !preferredSource.isUnspecified {
            source = preferredSource
        } else {
            source = route.source?.ipv4 ?? nic.sourceAddress(toward: nextHop)
        }
        guard let source else { return nil }
        return ResolvedRoute(nic: nic, source: source, nextHop: nextHop, mtu: min(route.mtu ?? nic.mtu, nic.mtu))
    }

    // MARK: Transports

    /// Plugs a transport in for its protocol number (replacing any earlier one). UDP, ICMP and
    /// ICMPv6 are built in and cannot be replaced.
    public func register(_ handler: any TransportProtocolHandler) {
        let number = handler.protocolNumber
        guard number != .udp, number != .icmp, number != .icmpv6 else { return }
        transportHandlers[Int(number.rawValue)] = handler
        registeredHandlers.removeAll { $0.protocolNumber == number }
        registeredHandlers.append(handler)
    }

    func transportHandler(_ number: IPProtocol) -> (any TransportProtocolHandler)? {
        transportHandlers[Int(number.rawValue)]
    }

    /// Asks the gateway hook about a new flow. Without a hook (or outside gateway mode) every
    /// flow to a non-local address is dropped, and ICMP echo is accepted.
    public func gatewayVerdict(for flow: FlowKey, now: NetstackInstant) -> FlowVerdict {
        guard isGatewayMode else { return .drop }
        guard let hook = gatewayHook else {
            return flow.protocolNumber == .icmp || flow.protocolNumber == .icmpv6 ? .accept : .drop
        }
        return hook.stack(self, verdictFor: flow, now: now)
    }

    // MARK: Time

    /// Sets the clock and runs every timer due by `now`, then flushes the links.
    public func advance(to instant: NetstackInstant) {
        if instant > now { now = instant }
        for nic in nics {
            runNeighbourTimers(nic)
            runIPv6Timers(nic)
        }
        _ = reassembler.handleTimers(now: now) { expired in
            sendReassemblyTimeExceeded(expired)
        }
        for handler in registeredHandlers {
            guard let deadline = handler.nextDeadline, deadline <= now else { continue }
            handler.handleTimers(now: now)
        }
        flush()
    }

    /// When `advance(to:)` next has work to do; nil when no timer is pending.
    public var nextDeadline: NetstackInstant? {
        var deadline = DeadlineAccumulator()
        for nic in nics {
            deadline.consider(nic.neighbours.nextDeadline)
            deadline.consider(nic.ipv6.nextDeadline)
        }
        deadline.consider(reassembler.nextDeadline)
        for handler in registeredHandlers { deadline.consider(handler.nextDeadline) }
        return deadline.earliest
    }

    /// Sends everything the links queued (one batched write per link).
    public func flush() {
        for nic in nics where nic.needsFlush {
            nic.needsFlush = false
            do { try nic.link.flush() } catch { nic.counters.countDrop(.linkWriteFailed) }
        }
    }

    // MARK: Inbound

    func receive(on nic: NIC, _ protocolNumber: EtherType, _ packet: InboundPacket) {
        nic.counters.rxFrames &+= 1
        nic.counters.rxBytes &+= UInt64(packet.linkHeader.count + packet.network.count)
        // Drop unicast frames for another station (an AF_PACKET socket sees them all).
        if packet.linkHeader.count >= EthernetRepr.headerLength {
            guard let frame = try? EthernetFrame(packet.linkHeader) else {
                nic.counters.countDrop(.linkHeaderMalformed)
                return
            }
            if frame.destination.isUnicast && frame.destination != nic.linkAddress {
                nic.counters.countDrop(.notOurLinkAddress)
                return
            }
        }
        switch protocolNumber {
        case .ipv4: receiveIPv4(on: nic, packet)
        case .arp: receiveARP(on: nic, packet.network)
        case .ipv6: receiveIPv6(on: nic, packet)
        default: nic.counters.countDrop(.unknownEtherType)
        }
    }
}
