// TCP flows. The stack's TCP (Netstack/TCP: demux, listener, connections) is plugged into the
// stack here, in gateway mode: it accepts a connection for any destination, but only after the
// host side is known to exist.
//
//   app SYN -> admission (mapping + policy) -> non-blocking host connect (HostConnector)
//     connected:   the SYN goes to the listener, which answers SYN-ACK (RFC 9293 leaves the
//                  passive side free to answer late); SYNs the app repeats meanwhile are
//                  dropped, not answered
//     refused:     RST to the app (it sees ECONNREFUSED at once)
//     unreachable: ICMP unreachable from the destination (a soft error: the app keeps
//                  retrying until its own timeout, as on a real network)
//   then bytes both ways, with backpressure:
//     app -> host: read from the connection only while the host socket takes bytes; the
//                  connection's receive buffer fills and the app's window closes when it stops
//     host -> app: read the host socket only while the connection's send buffer has room; the
//                  host socket's buffer fills and the peer's window closes when it stops
//   half-close both ways (FIN -> shutdown(SHUT_WR); host EOF -> FIN), RST both ways (app RST
//   -> abortive close with SO_LINGER 0; host ECONNRESET -> RST to the app).
// Published ports run the same flow the other way round: a host listener accepts, the stack
// connects to the app (a refusal from the app resets the host client).
//
// The connection's own readiness callback runs inside segment processing; it only marks the
// flow, and the engine pumps marked flows at the end of the round (no re-entry into TCP).
//
// Why not Netstack's TCPTransport: its gateway path answers an accepted SYN at once (the hook
// verdict is synchronous) and leaves SYNs to the stack's own addresses to the demux; the
// gateway must hold the SYN until the host connect settles, and serves 10.0.2.2 (host
// loopback, when allowed) and 10.0.2.3:53 (DNS) too. So this handler takes the stack's TCP
// seam itself and uses the same core (TCPDemux, TCPListener, TCPConnection).

import Glibc
import Netstack
import Posix
import Wire

/// The stack's TCP handler in gateway mode.
final class GatewayTCP: TransportProtocolHandler {
    unowned let engine: GatewayEngine
    let protocolNumber = IPProtocol.tcp
    let demux = TCPDemux()
    let listener: TCPListener
    let config: TCPConfig
    /// Caps the bytes every connection's rings may take together (`--flow-memory`).
    let budget: TCPMemoryBudget
    var connectionBufferBytes: Int { config.sendBufferSize + config.receiveBufferSize }
    /// Host connects in flight, with the app's SYN that waits for their outcome.
    private var connecting: [TCPFlowID: TCPRepr] = [:]
    /// What waits for the app to complete a handshake: a connected host socket, or the DNS
    /// forwarder (DNS over TCP to the DNS address is served here, not forwarded).
    private enum Accepted {
        /// The registration is the connect's, parked (no interest) until the flow takes it;
        /// nil once the host stirred meanwhile (then the flow registers anew).
        case host(HostTCPSocket, ConnectionRecord, EventLoop.Registration?)
        case dns(ConnectionRecord)
    }
    private var connected: [TCPFlowID: (accepted: Accepted, timer: TimerID?)] = [:]
    /// How long a connected host socket waits for the app to finish its handshake: longer
    /// than the listener's SYN-ACK retransmissions (1 + 2 + ... + 32 s, then 64 s) last.
    static let handshakeTimeout: UInt64 = 130_000_000_000
    /// Flows whose connection reported readiness, pumped at the end of the round.
    var dirty: [any PumpedTCPFlow] = []
    private var pumping: [any PumpedTCPFlow] = []
    static let connectTimeout: UInt64 = 20_000_000_000

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
        listener = TCPListener(config: config, synBacklog: 4096, acceptBacklog: 4096,
                               secret: (random.next(), random.next()), budget: budget)
        listener.onAcceptable = { [unowned self] listener in
            while let connection = listener.accept() { self.accepted(connection) }
        }
        demux.listenAny(listener)
    }

    var output: StackTCPOutput { StackTCPOutput(stack: engine.stack) }

    static func now() -> TCPInstant { TCPInstant(nanoseconds: Int64(clamping: EventLoop.now())) }

    // MARK: TransportProtocolHandler

    func handleSegment(_ segment: InboundSegment, now: NetstackInstant) -> SegmentVerdict {
        let repr: TCPRepr
        let payload: UnsafeRawBufferPointer
        do {
            let parsed = try TCPSegment(segment.bytes)
            repr = try TCPRepr.parse(parsed, checksum: segment.checksumVerified ? nil : segment.ip.pseudoHeader)
            payload = parsed.payload
        } catch {
            return .dropped(.ipv4Malformed)
        }
        guard !segment.ip.isBroadcast else { return .dropped(.ipv4NotForUs) }
        let flow = TCPFlowID(local: TCPSocketAddress(segment.ip.destination, repr.destinationPort),
                             remote: TCPSocketAddress(segment.ip.source, repr.sourcePort))
        let tcpNow = Self.now()
        var output = self.output
        let isNewSYN = repr.flags.contains(.syn) && !repr.flags.contains(.ack) && !repr.flags.contains(.rst)
        if isNewSYN, let previous = demux.connections[flow], previous.acceptsNewIncarnation(repr) {
            // The app reuses a port whose last connection waits in TIME-WAIT here (the gateway
            // closes actively whenever the host side ends first): the old incarnation goes,
            // silently (ABORT in TIME-WAIT sends nothing), and the SYN opens a new flow.
            // Answering it from TIME-WAIT would cost the app a reset and a SYN retry.
            demux.remove(flow)
            previous.abort(now: tcpNow, output: &output)
            engine.finish(FlowKey(protocolNumber: .tcp, source: segment.ip.source, sourcePort: repr.sourcePort,
                                  destination: segment.ip.destination, destinationPort: repr.destinationPort))
            engine.counters.tcpTimeWaitReused &+= 1
        }
        if isNewSYN, demux.connections[flow] == nil, connected[flow] == nil {
            // A repeated SYN while the host connect runs: the answer is still coming.
            if connecting[flow] == nil { admit(repr, flow: flow, ip: segment.ip) }
            return .consumed
        }
        demux.deliver(repr, payload: payload, flow: flow, now: tcpNow, output: &output)
        return .consumed
    }

    func handleICMPError(_ error: TransportICMPError, now: NetstackInstant) -> Bool { false }

    var nextDeadline: NetstackInstant? {
        demux.nextDeadline.map { NetstackInstant(nanoseconds: UInt64(clamping: $0.nanoseconds)) }
    }

    func handleTimers(now: NetstackInstant) {
        var output = self.output
        demux.pollDue(now: Self.now(), output: &output)
    }

    // MARK: Opening

    private func admit(_ syn: TCPRepr, flow: TCPFlowID, ip: IPPacketInfo) {
        let key = FlowKey(protocolNumber: .tcp, source: ip.source, sourcePort: syn.sourcePort,
                          destination: ip.destination, destinationPort: syn.destinationPort)
        let monotonic = EventLoop.now()
        let destination = SocketAddress(ip.destination, port: syn.destinationPort)
        switch engine.network.admit(destination, transport: .tcp, policy: engine.policy, learned: engine.learned, now: monotonic) {
        case .refuse(_, let reason):
            engine.counters.flowsDenied &+= 1
            engine.logRefusal(key, transport: .tcp, verdict: .deny, reason: reason)
            reset(syn, flow: flow)
        case .dnsForwarder:
            guard engine.dns != nil, engine.flows.count + connecting.count + connected.count < engine.flows.limits.maxFlows else {
                engine.counters.flowsRefusedAtLimit &+= 1
                reset(syn, flow: flow)
                return
            }
            awaitHandshake(flow, .dns(engine.startRecord(key, transport: .tcp, now: monotonic)))
            var output = self.output
            demux.deliver(syn, payload: UnsafeRawBufferPointer(start: nil, count: 0), flow: flow, now: Self.now(),
                          output: &output)
        case .forward(let host, _):
            guard engine.flows.count + connecting.count + connected.count < engine.flows.limits.maxFlows else {
                engine.counters.flowsRefusedAtLimit &+= 1
                engine.logRefusal(key, transport: .tcp, verdict: .deny, reason: "flow-limit")
                reset(syn, flow: flow)
                return
            }
            // Refused before a host connection exists: the flow's rings would not fit the
            // --flow-memory budget (what the flows already hold, and those still connecting).
            let pending = (connecting.count + connected.count) * connectionBufferBytes
            guard budget.used + pending + connectionBufferBytes <= budget.limit else {
                engine.counters.flowsRefusedAtMemoryBudget &+= 1
                engine.logRefusal(key, transport: .tcp, verdict: .deny, reason: "flow-memory-budget")
                reset(syn, flow: flow)
                return
            }
            connecting[flow] = syn
            let record = engine.startRecord(key, transport: .tcp, now: monotonic)
            HostConnector.connectKeepingRegistration(to: host, on: engine.loop,
                                                     timeoutNanoseconds: Self.connectTimeout) { [unowned self] result in
                self.hostConnectFinished(result, flow: flow, key: key, record: record)
            }
        }
    }

    private func hostConnectFinished(_ result: Result<(HostTCPSocket, EventLoop.Registration?), HostConnectError>,
                                     flow: TCPFlowID, key: FlowKey, record: ConnectionRecord) {
        guard let syn = connecting.removeValue(forKey: flow) else {
            if case .success(let (socket, registration)) = result {
                if let registration { engine.loop.unregister(registration, closingFD: true) }
                socket.close()
            }
            return
        }
        var output = self.output
        switch result {
        case .success(let (socket, registration)):
            awaitHandshake(flow, .host(socket, record, park(registration, flow: flow)))
            // Now the SYN-ACK: the listener takes the SYN as if it had just come.
            demux.deliver(syn, payload: UnsafeRawBufferPointer(start: nil, count: 0), flow: flow, now: Self.now(),
                          output: &output)
        case .failure(let error):
            engine.counters.flowsFailed &+= 1
            var failed = record
            failed.reason = "\(error)"
            engine.connectionLog?.append(engine.finished(failed, now: EventLoop.now()))
            let reply: AppReply = switch error {
            case .failed(let failure): failure.appReply
            case .system: .tcpReset
            }
            switch reply {
            case .tcpReset:
                reset(syn, flow: flow)
            case .icmpUnreachable(let reason):
                if case .v6(let app) = key.source, case .v6(let peer) = key.destination {
                    engine.sendICMPv6Error(.destinationUnreachable(code: ICMPv6UnreachableCode(rawValue: reason.icmpv6Code)),
                                           protocolNumber: .tcp, sourcePort: key.sourcePort,
                                           destinationPort: key.destinationPort, word: syn.sequenceNumber.rawValue,
                                           from: peer, to: app)
                    return
                }
                guard case .v4(let app) = key.source, case .v4(let peer) = key.destination else { return }
                let code = ICMPv4UnreachableCode(rawValue: reason.icmpv4Code)
                // The quote carries the SYN's ports and sequence number (what the app's TCP
                // checks, RFC 5927 4.1).
                engine.sendICMPError(.destinationUnreachable(code: code, nextHopMTU: 0), protocolNumber: .tcp,
                                     sourcePort: key.sourcePort, destinationPort: key.destinationPort,
                                     word: syn.sequenceNumber.rawValue, from: peer, to: app)
            }
        }
    }

    private func awaitHandshake(_ flow: TCPFlowID, _ accepted: Accepted) {
        let timer = try? engine.loop.scheduleTimer(after: Self.handshakeTimeout) { [unowned self] in
            guard let (accepted, _) = self.connected.removeValue(forKey: flow) else { return }
            // The app never completed the handshake (the listener gave up on it too).
            self.engine.counters.tcpHandshakesAbandoned &+= 1
            var record: ConnectionRecord
            switch accepted {
            case .host(let socket, let started, let registration):
                if let registration { self.engine.loop.unregister(registration, closingFD: true) }
                socket.abort()
                record = started
            case .dns(let started):
                record = started
            }
            record.reason = "handshake-timeout"
            self.engine.connectionLog?.append(self.engine.finished(record, now: EventLoop.now()))
        }
        connected[flow] = (accepted, timer)
    }

    /// Keeps a connected host socket in the epoll set while the app finishes its handshake,
    /// listening for nothing (EPOLLERR/EPOLLHUP still come): the flow then sets its interest in
    /// one EPOLL_CTL_MOD. If the host stirs first, the socket leaves the set (a level-triggered
    /// report nobody consumes would spin the loop) and the flow registers it anew.
    private func park(_ registration: EventLoop.Registration?, flow: TCPFlowID) -> EventLoop.Registration? {
        guard let registration else { return nil }
        do {
            try engine.loop.setInterest(registration, []) { [unowned self] _ in self.hostStirredBeforeHandshake(flow) }
            return registration
        } catch {
            engine.loop.unregister(registration)
            return nil
        }
    }

    private func hostStirredBeforeHandshake(_ flow: TCPFlowID) {
        guard let waiting = connected[flow], case .host(let socket, let record, let registration?) = waiting.accepted else { return }
        engine.loop.unregister(registration)
        connected[flow] = (.host(socket, record, nil), waiting.timer)
    }

    private func reset(_ segment: TCPRepr, flow: TCPFlowID) {
        guard let reply = TCPConnection.resetReply(to: segment) else { return }
        var output = self.output
        output.send(reply, payload: UnsafeRawBufferPointer(start: nil, count: 0), flow: flow)
        engine.counters.tcpResetsSent &+= 1
    }

    /// The app completed a handshake: join its connection to the host socket (or to the DNS
    /// forwarder).
    private func accepted(_ connection: TCPConnection) {
        guard let (waiting, timer) = connected.removeValue(forKey: connection.flow) else {
            var output = self.output
            connection.abort(now: Self.now(), output: &output)
            return
        }
        if let timer { engine.loop.cancelTimer(timer) }
        let key = FlowKey(protocolNumber: .tcp, source: connection.flow.remote.address, sourcePort: connection.flow.remote.port,
                          destination: connection.flow.local.address, destinationPort: connection.flow.local.port)
        let flow: any PumpedTCPFlow
        var hostSocket: HostTCPSocket?
        var parked: EventLoop.Registration?
        switch waiting {
        case .host(let socket, let record, let registration):
            flow = TCPFlow(engine: engine, tcp: self, key: key, host: socket, connection: connection, record: record)
            hostSocket = socket
            parked = registration
        case .dns(let record):
            guard let dns = engine.dns else { return }
            flow = DNSStreamFlow(engine: engine, tcp: self, dns: dns, key: key, connection: connection, record: record)
        }
        guard engine.insert(flow, key: key, now: EventLoop.now()) else {
            if let parked { engine.loop.unregister(parked, closingFD: true) }
            hostSocket?.abort()
            var output = self.output
            connection.abort(now: Self.now(), output: &output)
            return
        }
        if let hostSocket, let tcpFlow = flow as? TCPFlow {
            let handler: EventLoop.Handler = { [unowned tcpFlow] readiness in tcpFlow.hostReady(readiness) }
            do {
                if let parked {
                    // Registered before the flow existed (the connect's): the flow's handler now.
                    tcpFlow.registration = parked
                    try engine.loop.setInterest(parked, .read, handler: handler)
                } else {
                    tcpFlow.registration = try engine.loop.register(fd: hostSocket.fd, interest: .read, handler: handler)
                }
            } catch {
                engine.finish(key)
                return
            }
        }
        engine.counters.flowsAllowed &+= 1
        connection.onReadiness = { [unowned flow] _, _ in flow.markDirty() }
        flow.markDirty()
    }

    // MARK: Published ports (inward)

    /// A connection accepted on a published port (`-p HOSTPORT:PORT`): the stack opens a
    /// connection to the app's PORT. Its source is the client's real address, so the app sees
    /// who called, except for a loopback client, which appears as the gateway address (the
    /// app could not answer 127.0.0.1).
    func inbound(_ socket: HostTCPSocket, from client: SocketAddress, to port: PublishedPort) {
        let appAddress = engine.network.appV4
        guard case .v4(var source) = client.address else {
            // The stack speaks IPv4 only: an IPv6 client cannot be carried inward.
            engine.counters.inboundRefused &+= 1
            socket.abort()
            return
        }
        if source.isLoopback { source = engine.network.gatewayV4 }
        let flowID = TCPFlowID(local: TCPSocketAddress(.v4(source), client.port),
                               remote: TCPSocketAddress(.v4(appAddress), port.appPort))
        let key = FlowKey(protocolNumber: .tcp, source: .v4(appAddress), sourcePort: port.appPort,
                          destination: .v4(source), destinationPort: client.port)
        var record = engine.startRecord(key, transport: .tcp, now: EventLoop.now())
        record.source = client
        record.destination = SocketAddress(.v4(appAddress), port: port.appPort)
        record.reason = "published \(port)"
        // Two loopback clients with the same port would share a four-tuple toward the app.
        guard demux.connections[flowID] == nil, engine.flows[key] == nil else {
            engine.counters.inboundRefused &+= 1
            socket.abort()
            return
        }
        var random = SystemRandomNumberGenerator()
        var output = self.output
        let connection: TCPConnection
        do {
            connection = try TCPConnection.connect(flow: flowID, config: config, iss: SeqNumber(rawValue: random.next()),
                                                   now: Self.now(), budget: budget, output: &output)
        } catch {
            engine.counters.inboundRefused &+= 1
            socket.abort()
            return
        }
        demux.register(connection)
        let flow = TCPFlow(engine: engine, tcp: self, key: key, host: socket, connection: connection, record: record)
        guard engine.insert(flow, key: key, now: EventLoop.now()) else {
            socket.abort()
            connection.abort(now: Self.now(), output: &output)
            return
        }
        do {
            flow.registration = try engine.loop.register(fd: socket.fd, interest: .read) { [unowned flow] readiness in
                flow.hostReady(readiness)
            }
        } catch {
            engine.finish(key)
            return
        }
        engine.counters.inboundConnections &+= 1
        connection.onReadiness = { [unowned flow] _, _ in flow.markDirty() }
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
        for (_, waiting) in connected {
            if let timer = waiting.timer { engine.loop.cancelTimer(timer) }
            if case .host(let socket, _, let registration) = waiting.accepted {
                if let registration { engine.loop.unregister(registration, closingFD: true) }
                socket.close()
            }
        }
        connected.removeAll()
        connecting.removeAll()
        demux.stopListeningAny()
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
        var output = tcp.output
        connection.abort(now: GatewayTCP.now(), output: &output)
    }
}

/// One forwarded TCP connection: the app's connection in the stack and the host socket.
final class TCPFlow: PumpedTCPFlow {
    unowned let engine: GatewayEngine
    unowned let tcp: GatewayTCP
    let key: FlowKey
    let host: HostTCPSocket
    let connection: TCPConnection
    var registration: EventLoop.Registration?
    var record: ConnectionRecord
    var isDirty = false
    private var interest: EventLoop.Interest = .read
    /// App bytes read from the connection that the host socket has not taken yet (only after
    /// a short write; at most one read's worth). Allocated on first need.
    private var pending: UnsafeMutableRawBufferPointer?
    private var pendingRange = 0..<0
    /// The app sent FIN and the host socket got shutdown(SHUT_WR).
    private var appFinished = false
    /// The host sent FIN; the connection got shutdownWrite.
    private var hostFinished = false
    /// epoll reported the host peer's FIN (EPOLLRDHUP) or an error: read on to the EOF.
    private var hostHungUp = false
    private(set) var isClosed = false

    init(engine: GatewayEngine, tcp: GatewayTCP, key: FlowKey, host: HostTCPSocket, connection: TCPConnection,
         record: ConnectionRecord) {
        self.engine = engine
        self.tcp = tcp
        self.key = key
        self.host = host
        self.connection = connection
        self.record = record
    }

    deinit { pending?.deallocate() }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        unregister(closingFD: true)
        connection.onReadiness = nil
        abortUnfinishedConnection()
        host.close()
    }

    func hostReady(_ readiness: EventLoop.Readiness) {
        if !readiness.isDisjoint(with: [.hangup, .error]) { hostHungUp = true }
        pump()
    }

    /// Moves what can move both ways, then sends what the connection queued.
    func pump() {
        guard !isClosed else { return }
        if connection.isFinished {
            // RST from the app (or its retransmissions ran out): what arrived before it still
            // goes to the host (best effort), then the host peer gets RST too.
            if connection.error != nil { _ = appToHost(passingFIN: false) }
            end(abortingHost: connection.error != nil)
            return
        }
        engine.flows.touch(key, now: EventLoop.now())
        var output = tcp.output
        let now = GatewayTCP.now()
        if !appToHost() || !hostToApp() {
            // The host reset the connection (or failed): so does the app's side.
            connection.abort(now: now, output: &output)
            end(abortingHost: true)
            return
        }
        connection.poll(now: now, output: &output)
        if appFinished && hostFinished && pendingRange.isEmpty {
            // Both directions are done: the host socket goes; the connection finishes its
            // close (ACKs, TIME-WAIT) on its own and reports `.closed`.
            unregister(closingFD: true)
            host.close()
            return
        }
        updateInterest()
    }

    /// `closingFD`: the host socket closes right after (see `EventLoop.unregister`).
    private func unregister(closingFD: Bool = false) {
        if let registration { engine.loop.unregister(registration, closingFD: closingFD) }
        registration = nil
    }

    /// Ends the flow: the host socket is closed (with RST when asked) before the engine drops
    /// the flow and logs it.
    private func end(abortingHost: Bool) {
        unregister(closingFD: true)
        if abortingHost { host.abort() } else { host.close() }
        engine.finish(key)
    }

    /// Returns false when the host socket failed. `passingFIN`: when the app's stream ended,
    /// half-close the host socket (not when the stream ended with a RST).
    private func appToHost(passingFIN: Bool = true) -> Bool {
        guard !appFinished else { return true }
        if !flushPending() { return false }
        guard pendingRange.isEmpty else { return true }
        let buffer = engine.receiveBuffer
        while connection.availableToRead > 0 {
            let count = connection.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<65_536]))
            guard count > 0 else { break }
            record.bytesFromApp &+= UInt64(count)
            let written: Int
            do {
                switch try host.write(UnsafeRawBufferPointer(rebasing: buffer[0..<count])) {
                case .done(let n): written = n
                case .wouldBlock: written = 0
                }
            } catch {
                return false
            }
            if written < count {
                keepPending(UnsafeRawBufferPointer(rebasing: buffer[written..<count]))
                return true
            }
        }
        if connection.isReadClosed && passingFIN {
            appFinished = true
            // When the host's stream has ended too (its EOF read, nothing left unread), `pump`
            // closes the socket next, and close(2) sends the FIN: no shutdown(2) needed.
            if !hostFinished {
                do { try host.shutdownWrite() } catch { return false }
            }
        }
        return true
    }

    private func keepPending(_ bytes: UnsafeRawBufferPointer) {
        let storage = pending ?? .allocate(byteCount: 65_536, alignment: 16)
        pending = storage
        UnsafeMutableRawBufferPointer(rebasing: storage[0..<bytes.count]).copyMemory(from: bytes)
        pendingRange = 0..<bytes.count
    }

    private func flushPending() -> Bool {
        guard !pendingRange.isEmpty, let pending else { return true }
        do {
            if case .done(let n) = try host.write(UnsafeRawBufferPointer(rebasing: pending[pendingRange])) {
                pendingRange = (pendingRange.lowerBound + n)..<pendingRange.upperBound
            }
        } catch {
            return false
        }
        return true
    }

    /// Returns false when the host socket failed (ECONNRESET...).
    private func hostToApp() -> Bool {
        guard !hostFinished else { return true }
        let buffer = engine.receiveBuffer
        while true {
            let space = min(connection.writableSpace, 65_536)
            guard space > 0 else { return true }
            let result: IOResult
            do { result = try host.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<space])) } catch {
                return false
            }
            switch result {
            case .wouldBlock:
                return true
            case .done(0):
                hostFinished = true
                connection.shutdownWrite()
                return true
            case .done(let count):
                do {
                    let taken = try connection.write(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                    record.bytesToApp &+= UInt64(taken)
                    // `space` was the room in the send buffer, so it takes everything.
                    if taken < count { return false }
                    // A short read emptied the socket: the next read would only say EAGAIN.
                    // epoll is level-triggered, so bytes arriving later are reported again;
                    // only a hung-up peer's EOF is worth reading for now.
                    if count < space && !hostHungUp { return true }
                } catch {
                    return false
                }
            }
        }
    }

    /// Watches the host socket for what the flow can use now. With nothing wanted it is not
    /// watched at all: a half-closed peer keeps EPOLLRDHUP/EPOLLHUP raised, which would
    /// otherwise wake the loop for nothing until the app's window opens.
    private func updateInterest() {
        guard host.fd >= 0 else { return }
        var wanted: EventLoop.Interest = []
        if !hostFinished && connection.writableSpace > 0 { wanted.insert(.read) }
        if !pendingRange.isEmpty { wanted.insert(.write) }
        guard wanted != interest || (registration == nil && !wanted.isEmpty) else { return }
        interest = wanted
        if wanted.isEmpty {
            unregister()
        } else if let registration {
            try? engine.loop.setInterest(registration, wanted)
        } else {
            registration = try? engine.loop.register(fd: host.fd, interest: wanted) { [unowned self] readiness in
                self.hostReady(readiness)
            }
        }
    }
}
