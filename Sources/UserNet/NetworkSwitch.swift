// A named network's switch: the gateway's one link when it serves a network (`sandbox network
// create`), made of one port per member sandbox (the host end of that sandbox's veth). The
// stack sits behind it as it sits behind a single veth: the gateway's own addresses, the DNS
// forwarder and every egress flow. Between members the switch forwards by IP address, so the
// stack never terminates a member-to-member flow and the members see each other as Linux hosts
// on one LAN see each other.
//
// Addressing: the stack answers ARP and neighbour solicitations for every address of the
// network (GatewayEngine.makeStack), so a member reaches another member's address through the
// gateway's MAC, and the switch sends it on with the destination member's MAC. A frame whose
// source address is not its member's (spoofed) is dropped and counted; so are frames the stack
// sends to a MAC no member has. Broadcast and multicast from the stack (its ARP requests, router
// advertisements) go to every member; broadcast and multicast from a member go to the stack only.
//
// Between members the network's policy applies as it does to egress, by the rules that name the
// network's addresses (MemberFlows): a denied flow goes up to the stack, which refuses it.
//
// Each port's chain: the member's endpoint, then the capture (`--pcap` on the network: every
// frame on every member's link, so a frame between two members appears once on each), then the
// member's link faults, then the port, which hands frames to the switch.

import FDBased
import Link
import Wire

public struct NetworkSwitchCounters: Sendable, Equatable {
    public var members = 0
    public var membersJoined: UInt64 = 0
    public var membersLeft: UInt64 = 0
    /// Frames (and their bytes) forwarded from one member to another.
    public var framesSwitched: UInt64 = 0
    public var bytesSwitched: UInt64 = 0
    /// Frames from a member whose source address was not the member's.
    public var spoofedDropped: UInt64 = 0
    /// Frames no member would take (no such MAC, or its link refused them).
    public var undeliverable: UInt64 = 0
    /// Members refused because the switch held its most.
    public var joinsRefused: UInt64 = 0
    /// Flows between members (tracked only when the policy names the network or connections
    /// are logged).
    public var memberFlows = MemberFlowCounters()
    public var memberFlowsOpen = 0
}

final class NetworkSwitch: GatewayLink {
    /// One member's port.
    final class Port: NetworkDispatcher {
        let member: NetworkMemberSpec
        /// The member's veth end (an FDBased endpoint in production).
        let endpoint: any GatewayLink
        /// Between the endpoint (or its capture) and the port: the member's link faults.
        let faulty: FaultyLink
        unowned let owner: NetworkSwitch
        var registrations: [EventLoop.Registration] = []
        /// Frames were forwarded to this port since the last flush.
        var needsFlush = false

        init(member: NetworkMemberSpec, endpoint: any GatewayLink, faulty: FaultyLink, owner: NetworkSwitch) {
            self.member = member
            self.endpoint = endpoint
            self.faulty = faulty
            self.owner = owner
        }

        func deliverNetworkPacket(_ protocolNumber: EtherType, _ packet: InboundPacket) {
            owner.ingress(from: self, protocolNumber, packet)
        }

        func deliveryBatchEnded() {
            owner.flushForwarded()
            owner.upper?.deliveryBatchEnded()
        }
    }

    static let maximumMembers = 1024

    let mtu: Int
    let capabilities: LinkCapabilities
    let maxHeaderLength = EthernetRepr.headerLength
    let linkAddress: MACAddress
    let gsoMaxSize: Int
    let pollableFileDescriptors: [Int32] = []
    /// What happened so far; `counters` adds the members now on.
    private var tally = NetworkSwitchCounters()
    var counters: NetworkSwitchCounters {
        var out = tally
        out.members = ports.count
        out.memberFlows = memberFlows?.counters ?? MemberFlowCounters()
        out.memberFlowsOpen = memberFlows?.count ?? 0
        return out
    }
    private(set) var upper: (any NetworkDispatcher)?
    private let loop: EventLoop
    /// `--pcap` of the network: set by the engine before the first member joins.
    var pcap: PcapWriter?
    private var ports: [UInt32: Port] = [:]
    private var byIPv4: [IPv4Address: Port] = [:]
    private var byIPv6: [IPv6Address: Port] = [:]
    private var byMAC: [MACAddress: Port] = [:]
    /// The counters of members that left, so that the sums never go backwards.
    private var departedStatistics = FDBasedStatistics()
    private var departedFaultCounters = LinkFaultCounters()
    /// Ports written by `forward` since the last batch ended.
    private var forwardedTo: [Port] = []
    /// How each member's FDBased endpoint is made (GatewayEngine.join).
    var memberEndpointOptions: FDBasedEndpoint.Options?
    /// Called when a member's link went away by itself (its sandbox ended).
    var onLinkClosed: (NetworkMemberSpec) -> Void = { _ in }
    /// Judges and tracks member-to-member flows, when the policy names the network's addresses
    /// or connections are logged (set by the engine); nil forwards every frame as it comes.
    var memberFlows: MemberFlows?
    /// The engine's monotonic clock, for `memberFlows`.
    var now: () -> UInt64 = { 0 }

    init(mtu: Int, capabilities: LinkCapabilities, linkAddress: MACAddress, gsoMaxSize: Int, loop: EventLoop) {
        self.mtu = mtu
        self.capabilities = capabilities
        self.linkAddress = linkAddress
        self.gsoMaxSize = gsoMaxSize
        self.loop = loop
    }

    var isAttached: Bool { upper != nil }
    func attach(_ dispatcher: (any NetworkDispatcher)?) { upper = dispatcher }

    func member(_ id: UInt32) -> NetworkMemberSpec? { ports[id]?.member }

    /// The member one of whose addresses is `address`.
    func member(holding address: IPAddress) -> NetworkMemberSpec? {
        switch address {
        case .v4(let a): byIPv4[a]?.member
        case .v6(let a): byIPv6[a]?.member
        }
    }

    var statistics: FDBasedStatistics {
        var total = departedStatistics
        for port in ports.values { total.add(port.endpoint.statistics) }
        return total
    }

    var faultCounters: LinkFaultCounters {
        var total = departedFaultCounters
        for port in ports.values { total.add(port.faulty.counters) }
        return total
    }

    func dispatchWaiting() -> Bool {
        for port in Array(ports.values) where port.endpoint.dispatchWaiting() { remove(port.member.id, closed: true) }
        return false
    }

    // MARK: Members

    /// Adds `member` on `endpoint` (owned from here: closed when the member leaves).
    func add(_ member: NetworkMemberSpec, endpoint: any GatewayLink) throws(NetworkSwitchError) {
        guard ports.count < Self.maximumMembers else {
            tally.joinsRefused &+= 1
            endpoint.close()
            throw .full
        }
        guard ports[member.id] == nil, byIPv4[member.ipv4] == nil, byIPv6[member.ipv6] == nil,
            byMAC[member.mac] == nil
        else {
            tally.joinsRefused &+= 1
            endpoint.close()
            throw .duplicate(member.id)
        }
        let captured: any LinkEndpoint = pcap.map { CapturingLink(wrapping: endpoint, pcap: $0) } ?? endpoint
        let port = Port(
            member: member, endpoint: endpoint,
            faulty: FaultyLink(wrapping: captured, faults: member.faults, loop: loop),
            owner: self)
        do throws(EventLoopError) {
            for fd in endpoint.pollableFileDescriptors {
                port.registrations.append(
                    try loop.register(fd: fd, interest: .read) { [unowned self, unowned port] _ in
                        if port.endpoint.dispatchWaiting() { self.remove(port.member.id, closed: true) }
                    })
            }
        } catch {
            for registration in port.registrations { loop.unregister(registration) }
            endpoint.close()
            tally.joinsRefused &+= 1
            throw .eventLoop(error)
        }
        port.faulty.attach(port)
        ports[member.id] = port
        byIPv4[member.ipv4] = port
        byIPv6[member.ipv6] = port
        byMAC[member.mac] = port
        tally.membersJoined &+= 1
    }

    /// Takes member `id` off the switch and closes its link; false if it is not on it.
    @discardableResult
    func remove(_ id: UInt32, closed: Bool = false) -> Bool {
        guard let port = ports.removeValue(forKey: id) else { return false }
        forwardedTo.removeAll { $0 === port }
        for registration in port.registrations { loop.unregister(registration) }
        port.faulty.attach(nil)
        departedStatistics.add(port.endpoint.statistics)
        departedFaultCounters.add(port.faulty.counters)
        port.endpoint.close()
        byIPv4[port.member.ipv4] = nil
        byIPv6[port.member.ipv6] = nil
        byMAC[port.member.mac] = nil
        tally.membersLeft &+= 1
        if closed { onLinkClosed(port.member) }
        return true
    }

    /// Replaces member `id`'s link faults; false if it is not on the switch.
    func setFaults(_ faults: LinkFaults, of id: UInt32) -> Bool {
        guard let port = ports[id] else { return false }
        port.faulty.faults = faults
        return true
    }

    func close() {
        for id in Array(ports.keys) { remove(id) }
    }

    // MARK: From the stack

    /// A unicast IP packet goes to the member that holds its destination address, with that
    /// member's MAC, whatever MAC the stack's neighbour cache gave it: a member that answered
    /// address resolution for another's address gets nothing of the other's.
    func writePacket(_ packet: OutboundPacket) throws(LinkError) {
        let destination = packet.remoteLinkAddress
        if destination.isMulticast {
            for port in ports.values { try? port.faulty.writePacket(packet) }
            return
        }
        guard let port = owner(of: packet) ?? (goesByLinkAddress(packet) ? byMAC[destination] : nil) else {
            tally.undeliverable &+= 1
            return
        }
        var routed = packet
        routed.remoteLinkAddress = port.member.mac
        try port.faulty.writePacket(routed)
    }

    /// The member an outbound IPv4 or IPv6 packet is addressed to (its header's destination).
    private func owner(of packet: OutboundPacket) -> Port? {
        let header = packet.header
        switch packet.protocolNumber {
        case .ipv4 where header.count >= 20:
            return byIPv4[
                IPv4Address(rawValue: UInt32(bigEndian: header.loadUnaligned(fromByteOffset: 16, as: UInt32.self)))]
        case .ipv6 where header.count >= 40:
            let high = UInt64(bigEndian: header.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
            let low = UInt64(bigEndian: header.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
            return byIPv6[IPv6Address(high: high, low: low)]
        default:
            return nil
        }
    }

    /// ARP, and IPv6 to a link-local address (neighbour discovery answering a member's own
    /// fe80:: address), which no member's table entry holds: these go by the MAC the stack
    /// resolved, which a member's frames teach it only for itself unless the member can forge
    /// frames (raw sockets, which a sandbox without capabilities has not).
    private func goesByLinkAddress(_ packet: OutboundPacket) -> Bool {
        switch packet.protocolNumber {
        case .arp: return true
        case .ipv6 where packet.header.count >= 40:
            return IPv6Address(
                high: UInt64(bigEndian: packet.header.loadUnaligned(fromByteOffset: 24, as: UInt64.self)), low: 0
            ).isLinkLocal
        default: return false
        }
    }

    func flush() throws(LinkError) {
        for port in ports.values { try? port.faulty.flush() }
    }

    /// Sends what members forwarded to other members in the batch that just ended.
    func flushForwarded() {
        for port in forwardedTo {
            port.needsFlush = false
            try? port.faulty.flush()
        }
        forwardedTo.removeAll(keepingCapacity: true)
    }

    // MARK: From a member

    func ingress(from port: Port, _ protocolNumber: EtherType, _ packet: InboundPacket) {
        let bytes = packet.network
        switch protocolNumber {
        case .ipv4:
            guard let ip = try? IPv4Packet(bytes) else { break }
            guard ip.source == port.member.ipv4 || ip.source == IPv4Address(rawValue: 0) else {
                tally.spoofedDropped &+= 1
                return
            }
            if let target = byIPv4[ip.destination], target !== port, ip.source == port.member.ipv4 {
                // A later fragment has no ports to judge; without its first it is never reassembled.
                let verdict =
                    ip.fragmentOffset > 0
                    ? .forward : judge(ip.protocolNumber, .v4(ip.source), .v4(ip.destination), target, ip.payload)
                switch verdict {
                case .forward:
                    return forward(packet, protocolNumber, to: target, transportAt: ip.headerLength, ip.protocolNumber)
                case .drop: return
                case .handToStack: break
                }
            }
        case .ipv6:
            guard let ip = try? IPv6Packet(bytes) else { break }
            let source = ip.source
            guard source == port.member.ipv6 || source.isLinkLocal || source == IPv6Address(high: 0, low: 0) else {
                tally.spoofedDropped &+= 1
                return
            }
            // Link-local and unspecified sources are for the gateway (NDP, router solicitations).
            if let target = byIPv6[ip.destination], target !== port, source == port.member.ipv6 {
                switch judge(ip.nextHeader, .v6(source), .v6(ip.destination), target, ip.payload) {
                case .forward: return forward(packet, protocolNumber, to: target, transportAt: 40, ip.nextHeader)
                case .drop: return
                case .handToStack: break
                }
            }
        case .arp:
            if let arp = try? ARPRepr.parse(bytes),
                arp.senderHardwareAddress != port.member.mac
                    || (arp.senderProtocolAddress != port.member.ipv4
                        && arp.senderProtocolAddress != IPv4Address(rawValue: 0))
            {
                tally.spoofedDropped &+= 1
                return
            }
        default:
            break
        }
        // Anything the checks above could not parse goes to the stack, whose parsers count it.
        upper?.deliverNetworkPacket(protocolNumber, packet)
    }

    private func judge(
        _ transport: IPProtocol, _ source: IPAddress, _ destination: IPAddress, _ target: Port,
        _ payload: UnsafeRawBufferPointer
    ) -> MemberFlowVerdict {
        guard let memberFlows else { return .forward }
        return memberFlows.judge(
            transport, from: source, to: destination, holder: target.member, transport: payload, now: now())
    }

    /// Sends a member's packet on to another member. A TCP or UDP checksum the sender's kernel
    /// left to be completed (checksum offload: the ring says only "trusted") stays so: the
    /// virtio_net_hdr marks it partial, so the receiving kernel treats it as verified, as it
    /// would between two veths on a bridge.
    private func forward(
        _ packet: InboundPacket, _ protocolNumber: EtherType, to target: Port, transportAt offset: Int,
        _ transport: IPProtocol
    ) {
        var gso = packet.gso
        if gso == nil, packet.checksumVerified, transport == .tcp || transport == .udp {
            gso = GSOInfo(
                kind: .none, headerLength: 0, segmentSize: 0, checksumStart: UInt16(offset),
                checksumOffset: transport == .tcp ? 16 : 6, needsChecksum: true)
        }
        let outbound = OutboundPacket(
            protocolNumber: protocolNumber, remoteLinkAddress: target.member.mac, header: packet.network, gso: gso)
        do {
            try target.faulty.writePacket(outbound)
            if !target.needsFlush {
                target.needsFlush = true
                forwardedTo.append(target)
            }
            tally.framesSwitched &+= 1
            tally.bytesSwitched &+= UInt64(packet.network.count)
        } catch {
            tally.undeliverable &+= 1
        }
    }
}

public enum NetworkSwitchError: Error, Sendable, Equatable, CustomStringConvertible {
    case full
    case duplicate(UInt32)
    /// The gateway serves one sandbox, not a network.
    case notANetwork
    case link(FDBasedError)
    case eventLoop(EventLoopError)

    public var description: String {
        switch self {
        case .full: "the network has \(NetworkSwitch.maximumMembers) members, its most"
        case .duplicate(let id): "member \(id): its number or an address is taken"
        case .notANetwork: "this gateway serves one sandbox, not a network"
        case .link(let error): "packet socket: \(error)"
        case .eventLoop(let error): "event loop: \(error)"
        }
    }
}
