// TCP flows. Netstack's TCPTransport is the gateway's TCP: its any-destination listener takes
// the SYNs the gateway admits, and its gateway verdicts may be deferred until the host side is
// known to exist. This file holds the set-up and the joins; the jobs live beside it:
//
//   GatewayTCPAdmission.swift  app SYN -> mapping + policy -> non-blocking host connect, the
//                              SYN held meanwhile; connected: SYN-ACK; refused: RST;
//                              unreachable: ICMP unreachable from the destination
//   GatewayTCPInbound.swift    published ports: a host listener accepts, the stack connects
//                              to the app (a refusal from the app resets the host client)
//   TCPFlow.swift              the byte pump between the app's connection and the host
//                              socket, with backpressure, half-close and RST both ways
//
// The connection's own readiness callback runs inside segment processing; it only marks the
// flow, and the engine pumps marked flows at the end of the round (no re-entry into TCP).

import Netstack
import Wire

/// The gateway's TCP: the stack's transport, and the flows that join its connections to host
/// sockets (or to the DNS forwarder).
final class GatewayTCP {
    unowned let engine: GatewayEngine
    let transport: TCPTransport
    let listener: TCPListener
    let config: TCPConfig
    /// Caps the bytes every connection's rings may take together (`--flow-memory`).
    let budget: TCPMemoryBudget
    /// What a new connection's rings take before they grow with use.
    var connectionBufferBytes: Int { config.openingBufferBytes }
    /// Admitted flows whose connection is not established yet (GatewayTCPAdmission.swift).
    var pending: [TCPFlowID: PendingTCPFlow] = [:]
    /// Flows whose connection reported readiness, pumped at the end of the round.
    var dirty: [any PumpedTCPFlow] = []
    private var pumping: [any PumpedTCPFlow] = []

    init(engine: GatewayEngine, mtu: Int) {
        self.engine = engine
        var config = TCPConfig()
        // One listener serves both families; each connection takes its MSS from its own
        // family (MTU - 40 on IPv4, MTU - 60 on IPv6: TCPConfig.localMSS(for:)).
        config.mtu = mtu
        config.noDelay = true
        // Downloads leave in super-segments the kernel cuts at the app's MSS (GSO: the packet
        // socket speaks virtio_net_hdr, FDBasedEndpoint.Options.gsoMaxSize), not a frame each.
        config.segmentationOffloadSize = GatewayEngine.gsoMaxSize - 100
        self.config = config
        var random = SystemRandomNumberGenerator()
        budget = TCPMemoryBudget(limit: engine.flows.limits.flowMemoryBytes)
        listener = TCPListener(
            config: config, synBacklog: 4096, acceptBacklog: 4096,
            secret: (random.next(), random.next()), budget: budget)
        transport = TCPTransport(stack: engine.stack)
        // The veth's packet socket speaks virtio_net_hdr when it does GSO: it takes partial checksums too.
        transport.linkCompletesChecksums = engine.link.capabilities.contains(.gso)
        // Every admitted flow may wait for its host connect with its SYN held.
        transport.maxHeldSYNs = engine.flows.limits.maxFlows
        listener.onAcceptable = { [unowned self] listener in
            while let connection = listener.accept() { self.established(connection) }
        }
        transport.acceptForAnyDestination(listener)
    }

    var output: TCPStackOutput { transport.output }
    var now: NetstackInstant { engine.now }

    /// Flows open or opening, against `FlowLimits.maxFlows`.
    var flowCount: Int { engine.flows.count + pending.count }

    /// The app completed a handshake: join its connection to the host socket (or to the DNS
    /// forwarder) that waited for it.
    private func established(_ connection: TCPConnection) {
        guard case .handshaking(let partner, let timer) = pending.removeValue(forKey: connection.flow) else {
            var output = self.output
            connection.abort(now: now, output: &output)
            return
        }
        if let timer { engine.loop.cancelTimer(timer) }
        let key = connection.flow.flowKey
        switch partner {
        case .host(let socket, let record, let parked):
            let flow = TCPFlow(
                engine: engine, tcp: self, key: key, host: socket, connection: connection, record: record)
            guard open(flow, parked: parked) else { return }
            start(flow)
        case .dns(let record):
            guard let dns = engine.dns else { return abort(connection) }
            let flow = DNSStreamFlow(
                engine: engine, tcp: self, dns: dns, key: key, connection: connection, record: record)
            guard engine.insert(flow, key: key, now: engine.now.nanoseconds) else { return abort(connection) }
            start(flow)
        }
    }

    /// Puts a forwarded flow in the engine's table and watches its host socket (on `parked`,
    /// the connect's registration, when it kept one). False: the flow could not open, and its
    /// host socket and connection are reset.
    func open(_ flow: TCPFlow, parked: EventLoop.Registration?) -> Bool {
        guard engine.insert(flow, key: flow.key, now: engine.now.nanoseconds) else {
            if let parked { engine.loop.unregister(parked, closingFD: true) }
            flow.host.abort()
            abort(flow.connection)
            return false
        }
        guard flow.watchHost(taking: parked) else {
            engine.finish(flow.key)
            return false
        }
        return true
    }

    private func start(_ flow: any PumpedTCPFlow) {
        engine.counters.flowsAllowed &+= 1
        flow.connection.onReadiness = { [unowned flow] _, _ in flow.markDirty() }
        flow.markDirty()
    }

    func abort(_ connection: TCPConnection) {
        var output = self.output
        connection.abort(now: now, output: &output)
    }

    /// Pumps every flow whose connection changed during the round.
    func pumpDirty() {
        // Two arrays swapped, so neither is copied or reallocated in steady state. A pump may
        // mark flows again (its own or others'): they go to the next pass.
        var passes = 0
        while !dirty.isEmpty {
            passes += 1
            if passes > 16 {
                // Flows that keep re-marking themselves wait for the next round, which a wake
                // guarantees (bounded work per round).
                engine.loop.handle.wake()
                return
            }
            swap(&dirty, &pumping)
            for flow in pumping {
                flow.isDirty = false
                flow.pump()
            }
            pumping.removeAll(keepingCapacity: true)
        }
    }

    func close() {
        for (_, waiting) in pending { waiting.release(on: engine.loop) }
        pending.removeAll()
        transport.demux.stopListeningAny()
    }
}

/// A flow driven by its connection's readiness: marked during segment processing, pumped at
/// the end of the round.
protocol PumpedTCPFlow: GatewayFlow {
    var tcp: GatewayTCP { get }
    /// The app's connection in the stack.
    var connection: TCPConnection { get }
    var isDirty: Bool { get set }
    /// `close` ran: the flow is never queued again.
    var isClosed: Bool { get }
    func pump()
}

extension PumpedTCPFlow {
    /// Queues the flow for `pump` at the end of the round (once).
    func markDirty() {
        guard !isDirty, !isClosed else { return }
        isDirty = true
        tcp.dirty.append(self)
    }

    /// For `close`: resets the app's connection unless it already finished.
    func abortUnfinishedConnection() {
        guard !connection.isFinished else { return }
        tcp.abort(connection)
    }
}
