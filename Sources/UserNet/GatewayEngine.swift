// The gateway's core, owned by its one event-loop thread: the FDBased endpoint (external
// driver) feeding the stack in gateway mode, the stack's timers on the loop, the new-flow
// hook (FlowAdmission: mapping + policy), the flow table with idle expiry, and the pcap and
// connection log. The per-protocol halves live beside it: GatewayUDP, GatewayTCP,
// GatewayICMP, GatewayDNS.
//
// One round of the loop: frames are drained from the ring (each delivery may open flows and
// write to host sockets), host sockets hand their data to the stack, then `afterIteration`
// advances the stack's clock (its due timers), flushes every queued frame in one batch, and
// re-arms the single loop timer to the stack's next deadline.

import CNetShims
import FDBased
import Link
import Logging
import Netstack
import Posix
import Wire

/// A flow the gateway holds: a UDP flow, or the echo flow of one ICMP identifier.
protocol GatewayFlow: AnyObject {
    var record: ConnectionRecord { get }
    /// Releases the host socket and the stack endpoint (no log record: the engine writes it).
    func close()
}

/// The gateway's core, for one event-loop thread: `Gateway` runs one on its own thread over
/// the veth's packet socket; tests drive one over an in-memory link with a scripted host side.
public final class GatewayEngine: GatewayFlowHook {
    public let loop: EventLoop
    let network: NetworkConfiguration
    let policy: EgressPolicy
    public let stack: Stack
    let link: any GatewayLink
    let hostConnector: any HostTCPConnecting
    let nic: NICID
    let pcap: PcapWriter?
    let connectionLog: ConnectionLog?
    var flows: FlowTable<any GatewayFlow>
    var learned = LearnedAddressTable()
    var pingOpener = PingSocketOpener()
    var dns: GatewayDNS?
    var tcp: GatewayTCP?
    var counters = GatewayCounters()
    /// Host datagrams are read into this, then sent to the app from it (one copy, no
    /// allocation per datagram): the largest UDP payload plus an ICMP echo header.
    let receiveBuffer: UnsafeMutableRawBufferPointer
    private var linkRegistrations: [EventLoop.Registration] = []
    var publishers: [PortPublisher] = []
    /// Published UDP ports' flows by the client each serves (bounded by the flow table: a flow
    /// leaves here when it closes).
    var inboundUDPFlows: [InboundClient: InboundUDPFlow] = [:]
    /// Where the search for a free source port of an inward flow resumes (`inboundSourcePort`).
    var nextInboundSourcePort = GatewayEngine.inboundSourcePorts.lowerBound
    private var stackTimer: (id: TimerID, deadline: UInt64)?
    private var housekeepingTimer: TimerID?
    private(set) var isShutDown = false
    /// Set when the link failed (the app's end of the veth went away).
    var linkClosed = false
    /// Where the gateway's own messages go (GatewayLog); silent unless the caller gives one.
    var logger = Logger(label: "gateway") { _ in SwiftLogNoOpLogHandler() }
    var logWindow = LogWindow()
    /// App datagrams on their way to host sockets, sent at the end of the round (UDPSendBatch).
    let udpBatch = UDPSendBatch()
    /// `--net-delay` and the other link faults, between the stack and the veth (when asked for).
    let faultyLink: FaultyLink?
    /// A named network's switch, when the gateway serves one (its members' ports).
    let networkSwitch: NetworkSwitch?

    static let housekeepingInterval: UInt64 = 1_000_000_000
    /// Largest TCP super-segment sent to the app's veth (its gso_max_size is 65536).
    static let gsoMaxSize = 65_535

    /// The gateway over `link`, the app's side of the network. `hostConnector` opens the host
    /// side of forwarded TCP flows (real sockets, unless a test scripts the outcomes).
    public init(
        loop: EventLoop, options: UserNetOptions, link: any GatewayLink, dnsUpstreams: [SocketAddress],
        resources: GatewayResources? = nil,
        hostConnector: any HostTCPConnecting = SocketHostConnector()
    ) throws(GatewayError) {
        self.loop = loop
        network = options.network
        policy = options.policy
        flows = FlowTable(
            limits: options.flowLimits,
            perSourceLimit: link is NetworkSwitch ? Self.memberShare(options.flowLimits, mtu: options.network.mtu) : nil
        )
        self.link = link
        self.hostConnector = hostConnector
        do {
            let records = try Self.openRecords(options, resources: resources)
            pcap = records.pcap
            connectionLog = records.connectionLog
        } catch {
            link.close()
            throw error
        }
        // A network's switch captures and faults each member's link itself.
        networkSwitch = link as? NetworkSwitch
        networkSwitch?.pcap = pcap
        let wire: any LinkEndpoint =
            networkSwitch != nil ? link : pcap.map { CapturingLink(wrapping: link, pcap: $0) } ?? link
        faultyLink =
            networkSwitch != nil || (options.linkFaults.isEmpty && !options.adjustableLinkFaults)
            ? nil : FaultyLink(wrapping: wire, faults: options.linkFaults, loop: loop)
        (stack, nic) = Self.makeStack(options.network, link: faultyLink ?? wire, switched: networkSwitch != nil)
        receiveBuffer = .allocate(byteCount: 65_536 + 8, alignment: 16)
        stack.gatewayHook = self
        networkSwitch?.onLinkClosed = { [unowned self] member in self.forget(member) }
        setUpMemberFlows()
        do throws(GatewayError) {
            do throws(EventLoopError) {
                for fd in link.pollableFileDescriptors {
                    linkRegistrations.append(
                        try loop.register(fd: fd, interest: .read) { [unowned self] _ in self.linkReadable() })
                }
                dns = try GatewayDNS(engine: self, upstreams: dnsUpstreams)
            } catch {
                throw .eventLoop(error)
            }
            let tcp = GatewayTCP(engine: self, mtu: options.network.mtu)
            self.tcp = tcp
            try publish(options.publishedPorts, resources: resources, tcp: tcp)
        } catch {
            for publisher in publishers { publisher.close() }
            dns?.close()
            for registration in linkRegistrations { loop.unregister(registration) }
            link.close()
            // Fully initialized by now: deinit runs (and frees the buffers) once the cycle
            // through the hook is broken.
            stack.gatewayHook = nil
            throw error
        }
        stack.advance(to: now)
    }

    /// The gateway over the AF_PACKET socket on the host end of the app's veth, or (nil) over a
    /// network's switch, whose members' sockets come later (`join`).
    convenience init(
        loop: EventLoop, options: UserNetOptions, packetSocket: Int32?, linkAddress: MACAddress,
        dispatchMode: PacketDispatchMode, dnsUpstreams: [SocketAddress],
        resources: GatewayResources? = nil, packetSocketPrepared: Bool = false
    ) throws(GatewayError) {
        var endpointOptions = Self.endpointOptions(
            packetSocket: packetSocket ?? -1, mtu: options.network.mtu,
            linkAddress: linkAddress, dispatchMode: dispatchMode)
        endpointOptions.packetSocketsPrepared = packetSocketPrepared
        let link: any GatewayLink
        if packetSocket == nil {
            link = Self.makeSwitch(loop: loop, endpointOptions: endpointOptions)
        } else {
            do { link = try FDBasedEndpoint(options: endpointOptions) } catch { throw .link(error) }
        }
        try self.init(loop: loop, options: options, link: link, dnsUpstreams: dnsUpstreams, resources: resources)
    }

    /// The pcap and the connection log: opened beforehand (GatewayResources) when this runs
    /// confined, where no path resolves.
    private static func openRecords(_ options: UserNetOptions, resources: GatewayResources?)
        throws(GatewayError) -> (pcap: PcapWriter?, connectionLog: ConnectionLog?)
    {
        let pcap: PcapWriter?
        do throws(PosixError) {
            if let resources {
                pcap = try resources.pcapFD.map { fd throws(PosixError) in try PcapWriter(fd: fd) }
            } else {
                pcap = try options.pcapPath.map { path throws(PosixError) in try PcapWriter(path: path) }
            }
        } catch {
            throw .pcapFile(options.pcapPath, error)
        }
        if let resources { return (pcap, resources.connectionLogFD.map { ConnectionLog(fd: $0) }) }
        do {
            return (
                pcap, try options.connectionLogPath.map { path throws(PosixError) in try ConnectionLog(path: path) }
            )
        } catch {
            throw .connectionLogFile(options.connectionLogPath, error)
        }
    }

    /// A gateway-mode stack with one NIC on `link`, holding the gateway's addresses. `switched`:
    /// the link is a network's switch, and the stack answers address resolution for every
    /// address of the network, so members reach each other through it (NetworkSwitch).
    private static func makeStack(_ network: NetworkConfiguration, link: any LinkEndpoint, switched: Bool)
        -> (Stack, NICID)
    {
        var configuration = Stack.Configuration()
        configuration.gatewayMode = true
        let stack = Stack(configuration: configuration)
        let nic = stack.addNIC(link, name: "veth")
        if switched {
            stack.setARPReplyPolicy(.anyInSubnet(excluding: []), on: nic)
            stack.setNeighbourSolicitationPolicy(.anyInPrefix(excluding: []), on: nic)
        }
        // The gateway and the DNS forwarder are addresses of our own (the app ARPs for both:
        // the gateway as its next hop, the DNS address because it is on-link).
        let prefix = network.ipv4Network.prefixLength
        stack.addAddress(IPv4Subnet(network.gatewayV4, prefixLength: prefix), to: nic)
        stack.addAddress(IPv4Subnet(network.dnsV4, prefixLength: prefix), to: nic)
        // IPv6: the same two roles in the /64, and router advertisements so the app autoconfigures
        // an address and takes us as its default router (RFC 4861 6.2, RFC 4862). Not a network's
        // members: each has the address it was given, and the switch drops any other source, so
        // an address of their own making (SLAAC's, from about 2 s in) would cut them off.
        if case .v6(let prefix6) = network.ipv6Network {
            stack.addAddress(IPv6Subnet(network.gatewayV6, prefixLength: 64), to: nic)
            stack.addAddress(IPv6Subnet(network.dnsV6, prefixLength: 64), to: nic)
            var advertisements = RouterAdvertisementConfiguration(prefix: IPv6Subnet(prefix6.network, prefixLength: 64))
            advertisements.mtu = network.mtu
            advertisements.autonomous = !switched
            stack.enableRouterAdvertisements(on: nic, advertisements)
        }
        return (stack, nic)
    }

    deinit {
        receiveBuffer.deallocate()
    }

    /// The link endpoint's options: one place, so that `Gateway.preparePacketSocket` sets up
    /// exactly the ring the engine maps.
    static func endpointOptions(
        packetSocket: Int32, mtu: Int, linkAddress: MACAddress,
        dispatchMode: PacketDispatchMode
    ) -> FDBasedEndpoint.Options {
        var options = FDBasedEndpoint.Options(
            fds: [packetSocket], mtu: mtu, address: linkAddress, gsoMaxSize: gsoMaxSize,
            dispatchMode: dispatchMode, driver: .external)
        // The gateway closes the packet socket when it stops: the kernel frees the ring then.
        options.detachesRingOnClose = false
        return options
    }

    /// The round's one `now` (EventLoop.roundStart), for the stack, its connections and the
    /// flow table alike.
    var now: NetstackInstant { NetstackInstant(nanoseconds: loop.roundStart) }

    // MARK: The round

    private func linkReadable() {
        // Inbound processing reads the stack's clock: bring it up to now first.
        stack.advance(to: now)
        if link.dispatchWaiting() && !linkClosed {
            linkClosed = true
            for registration in linkRegistrations { loop.unregister(registration) }
            linkRegistrations = []
        }
    }

    /// Runs once per loop round: the stack's due timers, one flush of everything queued, and the
    /// loop timer moved to the stack's next deadline.
    public func endOfRound() {
        guard !isShutDown else { return }
        udpBatch.flush()
        tcp?.pumpDirty()
        stack.advance(to: now)
        // Timers may have changed connections (TIME-WAIT ended, retransmissions ran out).
        if let tcp, !tcp.dirty.isEmpty {
            tcp.pumpDirty()
            stack.flush()
        }
        rearmStackTimer()
    }

    private func rearmStackTimer() {
        let wanted = stack.nextDeadline?.nanoseconds
        if let current = stackTimer, current.deadline == wanted { return }
        if let current = stackTimer {
            loop.cancelTimer(current.id)
            stackTimer = nil
        }
        guard let wanted else { return }
        // The timer only wakes the loop; `endOfRound` then runs what is due.
        if let id = try? loop.scheduleTimer(at: wanted, {}) { stackTimer = (id, wanted) }
    }

    /// Idle expiry, learned-address expiry and the pcap buffer, once a second while any flow
    /// is open (an idle gateway with no flows has no timer at all).
    func ensureHousekeeping() {
        guard housekeepingTimer == nil, !isShutDown else { return }
        housekeepingTimer = try? loop.scheduleTimer(after: Self.housekeepingInterval) { [unowned self] in
            self.housekeepingTimer = nil
            self.housekeeping()
        }
    }

    private func housekeeping() {
        let now = self.now.nanoseconds
        for (_, flow) in flows.expireIdle(now: now) {
            flow.close()
            connectionLog?.append(finished(flow.record, now: now))
        }
        networkSwitch?.memberFlows?.expire(now: now)
        learned.purgeExpired(now: now)
        pcap?.flush()
        if flows.count > 0 || (networkSwitch?.memberFlows?.count ?? 0) > 0 { ensureHousekeeping() }
    }

    // MARK: Flows

    /// The gateway's decision for a new app flow (the stack asks on a first datagram, echo or SYN).
    public func stack(_ stack: Stack, verdictFor flow: FlowKey, now: NetstackInstant) -> FlowVerdict {
        let isEcho = flow.protocolNumber == .icmp || flow.protocolNumber == .icmpv6
        if isEcho, flows[flow] != nil { return .accept }
        let transport: FlowTransport
        switch flow.protocolNumber {
        case .udp: transport = .udp
        case .icmp, .icmpv6: transport = .icmp
        case .tcp: return tcp?.verdict(for: flow) ?? .drop
        default: return .drop
        }
        let destination = SocketAddress(flow.destination, port: flow.destinationPort)
        let monotonic = now.nanoseconds
        let admission = network.admit(
            destination, transport: transport, policy: policy, learned: learned, now: monotonic,
            member: networkSwitch?.member(holding: flow.destination))
        switch admission {
        case .refuse(let reply, let reason):
            counters.flowsDenied &+= 1
            logRefusal(flow, transport: transport, verdict: .deny, reason: reason)
            return verdict(for: reply)
        case .dnsForwarder:
            // The forwarder's UDP endpoint is bound already, so a datagram for it never comes
            // here, and GatewayTCP serves TCP to it.
            counters.flowsDenied &+= 1
            return .reject(.portUnreachable)
        case .forward(let host, _):
            // Only UDP and echo get here: GatewayTCP answered for TCP above.
            return transport == .udp
                ? openUDPFlow(flow, host: host, now: monotonic) : openEchoFlow(flow, host: host, now: monotonic)
        }
    }

    public func stack(
        _ stack: Stack, forwardEchoRequest flow: FlowKey, sequence: UInt16, data: UnsafeRawBufferPointer,
        now: NetstackInstant
    ) -> Bool {
        forwardEcho(flow, sequence: sequence, data: data)
    }

    func verdict(for reply: AppReply) -> FlowVerdict {
        switch reply {
        case .tcpReset: .reject(.portUnreachable)
        case .icmpUnreachable(let reason): .reject(ICMPv4UnreachableCode(rawValue: reason.icmpv4Code))
        }
    }

    /// Adds an open flow to the table (refused and counted at the flow limit).
    func insert(_ flow: any GatewayFlow, key: FlowKey, now: UInt64) -> Bool {
        do {
            try flows.insert(key, flow, now: now)
        } catch .sourceAtItsShare {
            refusedAtMemberShare(key)
            return false
        } catch {
            counters.flowsRefusedAtLimit &+= 1
            warn("refused a flow: --max-flows \(flows.limits.maxFlows) flows are open", ["flow": "\(key)"])
            return false
        }
        counters.flowsOpened &+= 1
        ensureHousekeeping()
        return true
    }

    /// Ends a flow now (host socket error, app gone): closes it and logs it.
    func finish(_ key: FlowKey) {
        guard let flow = flows.remove(key) else { return }
        flow.close()
        connectionLog?.append(finished(flow.record, now: now.nanoseconds))
    }

    func finished(_ record: ConnectionRecord, now: UInt64) -> ConnectionRecord {
        var record = record
        record.durationNanoseconds = now &- record.durationNanoseconds
        return record
    }

    func logRefusal(_ flow: FlowKey, transport: FlowTransport, verdict: PolicyVerdict, reason: String) {
        warnRefused(flow, transport: transport, reason: reason)
        connectionLog?.append(
            ConnectionRecord(
                startNanoseconds: usernet_realtime_now_ns(), transport: transport,
                source: SocketAddress(flow.source, port: flow.sourcePort),
                destination: SocketAddress(flow.destination, port: flow.destinationPort),
                verdict: verdict, reason: reason))
    }

    /// A log record for a flow starting now. Until the flow ends, `durationNanoseconds` holds
    /// its monotonic start (see `finished`).
    func startRecord(_ flow: FlowKey, transport: FlowTransport, now: UInt64) -> ConnectionRecord {
        ConnectionRecord(
            startNanoseconds: usernet_realtime_now_ns(), transport: transport,
            source: SocketAddress(flow.source, port: flow.sourcePort),
            destination: SocketAddress(flow.destination, port: flow.destinationPort),
            verdict: .allow, durationNanoseconds: now)
    }

    // MARK: Shutdown and counters

    /// Closes every flow (logging each), the DNS forwarder and the link; flushes the pcap.
    public func shutDown() {
        guard !isShutDown else { return }
        let now = self.now.nanoseconds
        for (_, flow) in flows.removeAll() {
            flow.close()
            connectionLog?.append(finished(flow.record, now: now))
        }
        networkSwitch?.memberFlows?.finishAll(now: now)
        for publisher in publishers { publisher.close() }
        dns?.close()
        tcp?.close()
        stack.flush()
        for registration in linkRegistrations { loop.unregister(registration) }
        linkRegistrations = []
        if let timer = stackTimer { loop.cancelTimer(timer.id) }
        if let timer = housekeepingTimer { loop.cancelTimer(timer) }
        stackTimer = nil
        housekeepingTimer = nil
        link.close()
        pcap?.close()
        connectionLog?.close()
        // The hook is the one strong reference back to us; the loop's closures hold the rest.
        stack.gatewayHook = nil
        isShutDown = true
    }

    public var snapshot: GatewayCounters {
        var out = counters
        out.nic = stack.counters(of: nic)
        out.link = link.statistics
        out.linkFaults = faultyLink?.counters ?? networkSwitch?.faultCounters ?? LinkFaultCounters()
        out.network = networkSwitch?.counters
        out.flows = flows.counters
        out.udpBatchedSends = udpBatch.batchedSends
        out.activeFlows = flows.count
        out.ping = pingOpener.counters
        out.dns = dns?.forwarder.counters ?? DNSForwarder.Counters()
        out.dnsQueriesRefused = dns?.counters.refused ?? 0
        out.dnsQueriesAnsweredLocally = dns?.counters.answeredLocally ?? 0
        out.learnedAddresses = learned.count
        out.tcp = tcp?.transport.demux.counters ?? TCPDemuxCounters()
        out.tcpTransport = tcp?.transport.counters ?? TCPTransportCounters()
        out.tcpTimeWaitReused = UInt64(out.tcpTransport.timeWaitReused)
        out.tcpListener = tcp?.listener.counters ?? TCPListenerCounters()
        out.tcpBufferBytes = tcp?.budget.used ?? 0
        out.tcpBufferBytesPeak = tcp?.budget.peak ?? 0
        out.pcapFrames = pcap?.counters.frames ?? 0
        out.pcapDropped = pcap?.counters.dropped ?? 0
        out.connectionLogRecords = connectionLog?.recordsWritten ?? 0
        out.eventLoop = loop.counters
        out.linkClosed = linkClosed
        return out
    }
}
