// The engine's side of a named network: members join on their packet sockets, leave, and have
// their link faults changed, while the gateway runs (the network's holder asks, through the
// gateway's control socket). The switch (NetworkSwitch) does the forwarding; this keeps the
// DNS forwarder's names in step with who is on it.

import FDBased
import Link
import Netstack
import Posix
import Wire

extension GatewayEngine {
    /// The most flows one member of a network may hold: half of what the network's table and
    /// its TCP memory budget take (`--max-flows`; `--flow-memory` over a new connection's rings),
    /// so that no member, however many flows it opens, leaves the others without any. Defaults:
    /// 1,024 flows a member.
    static func memberShare(_ limits: FlowLimits, mtu: Int) -> Int {
        var config = TCPConfig()
        config.mtu = mtu
        let tcpFlows = limits.flowMemoryBytes / max(1, config.openingBufferBytes)
        return max(1, min(limits.maxFlows, tcpFlows) / 2)
    }

    /// Counts and logs a flow refused because its member holds its share already.
    func refusedAtMemberShare(_ key: FlowKey) {
        counters.flowsRefusedAtMemberShare &+= 1
        warn(
            "refused a flow: its member holds its share of the network's flows (\(flows.perSourceLimit ?? 0))",
            ["flow": "\(key)"])
    }

    /// Member-to-member flows are judged when a policy rule names the network's addresses, and
    /// tracked for the connection log when it is on; otherwise the switch has no table to keep.
    func setUpMemberFlows() {
        guard let networkSwitch, policy.judgesMembers(of: network.subnets) || connectionLog != nil else { return }
        let memberFlows = MemberFlows(policy: policy, subnets: network.subnets, idle: flows.limits)
        memberFlows.onFinished = { [unowned self] record in self.connectionLog?.append(record) }
        memberFlows.onDropped = { [unowned self] key, reason in
            self.warn("dropped a flow between members: \(reason)", ["flow": "\(key)"])
        }
        memberFlows.onOpened = { [unowned self] in self.ensureHousekeeping() }
        networkSwitch.memberFlows = memberFlows
        networkSwitch.now = { [unowned self] in self.now.nanoseconds }
    }

    /// The switch a network's gateway runs on; its members' endpoints are made from
    /// `endpointOptions` (the first descriptor replaced by each member's packet socket).
    static func makeSwitch(loop: EventLoop, endpointOptions: FDBasedEndpoint.Options) -> NetworkSwitch {
        let networkSwitch = NetworkSwitch(
            mtu: endpointOptions.mtu, capabilities: FDBasedEndpoint.capabilities(endpointOptions),
            linkAddress: endpointOptions.address, gsoMaxSize: endpointOptions.gsoMaxSize, loop: loop)
        networkSwitch.memberEndpointOptions = endpointOptions
        return networkSwitch
    }

    /// Puts `member` on the switch over its veth's packet socket (bound, its ring set up by the
    /// launcher; owned from here).
    func join(_ member: NetworkMemberSpec, packetSocket: Int32) throws(NetworkSwitchError) {
        guard var options = networkSwitch?.memberEndpointOptions else {
            closeOnReleaserThread(packetSocket)
            throw .notANetwork
        }
        options.fds = [packetSocket]
        let endpoint: FDBasedEndpoint
        do { endpoint = try FDBasedEndpoint(options: options) } catch {
            closeOnReleaserThread(packetSocket)
            throw .link(error)
        }
        // The endpoint never closes its descriptors; the member's own wrapper does.
        try join(member, endpoint: MemberEndpoint(endpoint, packetSocket: packetSocket))
    }

    /// A network's gateway whose members' links are given to `join(_:endpoint:)` (tests give
    /// in-memory links; `Gateway` gives FDBased endpoints on the members' packet sockets).
    public static func network(
        loop: EventLoop, options: UserNetOptions, linkAddress: MACAddress, capabilities: LinkCapabilities,
        dnsUpstreams: [SocketAddress]
    ) throws(GatewayError) -> GatewayEngine {
        let link = NetworkSwitch(
            mtu: options.network.mtu, capabilities: capabilities, linkAddress: linkAddress, gsoMaxSize: 0, loop: loop)
        return try GatewayEngine(loop: loop, options: options, link: link, dnsUpstreams: dnsUpstreams)
    }

    /// Puts `member` on the switch over `endpoint` (owned from here), its names in the DNS.
    public func join(_ member: NetworkMemberSpec, endpoint: any GatewayLink) throws(NetworkSwitchError) {
        guard let networkSwitch else {
            endpoint.close()
            throw .notANetwork
        }
        try networkSwitch.add(member, endpoint: endpoint)
        dns?.setMemberNames(member.names, addresses: member.addresses, present: true)
    }

    /// Takes member `id` off the switch (its sandbox ended); false if it was not on it.
    @discardableResult
    public func leave(_ id: UInt32) -> Bool {
        guard let member = networkSwitch?.member(id) else { return false }
        networkSwitch?.remove(id)
        forget(member)
        return true
    }

    /// The names, published ports and flows of a member that left (or whose link went away):
    /// a sandbox that gets its address later must not inherit its host sockets.
    func forget(_ member: NetworkMemberSpec) {
        dns?.setMemberNames(member.names, addresses: member.addresses, present: false)
        withdrawPorts(of: member.id)
        let addresses = member.addresses
        let now = self.now.nanoseconds
        networkSwitch?.memberFlows?.forget(addresses, now: now)
        for (_, flow) in flows.removeAll(where: { addresses.contains($0.source) }) {
            flow.close()
            connectionLog?.append(finished(flow.record, now: now))
        }
    }

    /// Publishes `port` from `socket` (bound, listening; owned from here) to member `id`.
    func publish(_ port: PublishedPort, socket: Int32, toMember id: UInt32) -> Bool {
        guard let member = networkSwitch?.member(id) else {
            Posix.close(socket)
            return false
        }
        return publishLater(port, socket: socket, member: member)
    }

    public func setFaults(_ faults: LinkFaults, ofMember id: UInt32) -> Bool {
        networkSwitch?.setFaults(faults, of: id) ?? false
    }
}

extension NetworkMemberSpec {
    var addresses: [IPAddress] { [.v4(ipv4), .v6(ipv6)] }
}

/// A member's FDBased endpoint that closes its packet socket with it (a single-sandbox
/// gateway's socket is closed by `Gateway.stop`; a member's goes when the member leaves).
final class MemberEndpoint: WrappingLink, GatewayLink {
    let endpoint: FDBasedEndpoint
    let packetSocket: Int32
    var inner: any LinkEndpoint { endpoint }

    init(_ endpoint: FDBasedEndpoint, packetSocket: Int32) {
        self.endpoint = endpoint
        self.packetSocket = packetSocket
    }

    var isAttached: Bool { endpoint.isAttached }
    func attach(_ dispatcher: (any NetworkDispatcher)?) { endpoint.attach(dispatcher) }
    func writePacket(_ packet: OutboundPacket) throws(LinkError) { try endpoint.writePacket(packet) }
    func flush() throws(LinkError) { try endpoint.flush() }
    var pollableFileDescriptors: [Int32] { endpoint.pollableFileDescriptors }
    func dispatchWaiting() -> Bool { endpoint.dispatchWaiting() }
    var statistics: FDBasedStatistics { endpoint.statistics }

    /// Releasing a packet socket with a ring waits two RCU grace periods (20-30 ms): on the
    /// loop's thread, every other member's traffic would wait that out once per leave, so the
    /// releaser's thread closes it.
    func close() {
        endpoint.close()
        closeOnReleaserThread(packetSocket)
    }
}
