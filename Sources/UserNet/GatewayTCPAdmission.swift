// Admission of the app's TCP flows: the stack's gateway hook asks here for every SYN that no
// connection takes (TCPTransport+Admission.swift).
//
//   refused by mapping or policy, or over a limit  -> RST at once
//   the DNS address                                -> accepted at once (DNS over TCP is served
//                                                     here, not forwarded)
//   forwarded                                      -> a non-blocking host connect starts and the
//                                                     verdict is deferred; when it settles:
//     connected:   SYN-ACK (the transport answers the SYN it held)
//     refused:     RST (the app sees ECONNREFUSED at once)
//     unreachable: ICMP unreachable from the destination (a soft error: the app keeps
//                  retrying until its own timeout, as on a real network)

import Netstack
import Wire

/// An admitted flow whose connection is not established yet.
enum PendingTCPFlow {
    /// The host connect runs; the transport holds the app's SYN.
    case connecting
    /// The SYN-ACK went out: what the connection joins once the app's ACK comes, and the
    /// timer that gives up on it.
    case handshaking(HandshakePartner, timer: TimerID?)

    /// Lets go of what waits (the gateway shuts down).
    func release(on loop: EventLoop) {
        guard case .handshaking(let partner, let timer) = self else { return }
        if let timer { loop.cancelTimer(timer) }
        partner.release(on: loop, abort: false)
    }
}

/// What an established connection joins.
enum HandshakePartner {
    /// A connected host socket. The registration is the connect's, parked (no interest) until
    /// the flow takes it; nil once the host stirred meanwhile (the flow registers anew).
    case host(HostTCPSocket, ConnectionRecord, EventLoop.Registration?)
    /// The DNS forwarder.
    case dns(ConnectionRecord)

    var record: ConnectionRecord {
        switch self {
        case .host(_, let record, _), .dns(let record): record
        }
    }

    func release(on loop: EventLoop, abort: Bool) {
        guard case .host(let socket, _, let registration) = self else { return }
        if let registration { loop.unregister(registration, closingFD: true) }
        if abort { socket.abort() } else { socket.close() }
    }
}

extension GatewayTCP {
    /// How long a connected host socket waits for the app to finish its handshake: longer
    /// than the listener's SYN-ACK retransmissions (1 + 2 + ... + 32 s, then 64 s) last.
    static let handshakeTimeout: UInt64 = 130_000_000_000
    static let connectTimeout: UInt64 = 20_000_000_000

    /// The gateway's verdict on an app SYN (`FlowVerdict`; `.deferred` while the host connect
    /// runs).
    func verdict(for key: FlowKey) -> FlowVerdict {
        let flow = TCPFlowID(
            local: TCPSocketAddress(key.destination, key.destinationPort),
            remote: TCPSocketAddress(key.source, key.sourcePort))
        // A repeated SYN after the SYN-ACK went out: the listener answers it again.
        if pending[flow] != nil { return .accept }
        let destination = SocketAddress(key.destination, port: key.destinationPort)
        let started = engine.now.nanoseconds
        switch engine.network.admit(
            destination, transport: .tcp, policy: engine.policy, learned: engine.learned, now: started,
            member: engine.networkSwitch?.member(holding: key.destination))
        {
        case .refuse(_, let reason):
            engine.counters.flowsDenied &+= 1
            engine.logRefusal(key, transport: .tcp, verdict: .deny, reason: reason)
            return reset()
        case .dnsForwarder:
            guard engine.dns != nil, flowCount < engine.flows.limits.maxFlows else {
                engine.counters.flowsRefusedAtLimit &+= 1
                engine.warnRefused(key, transport: .tcp, reason: "flow-limit")
                return reset()
            }
            awaitHandshake(flow, .dns(engine.startRecord(key, transport: .tcp, now: started)))
            return .accept
        case .forward(let host, _):
            if let refusal = refusalAtLimits(key) { return refusal }
            pending[flow] = .connecting
            let record = engine.startRecord(key, transport: .tcp, now: started)
            engine.hostConnector.connect(to: host, on: engine.loop, timeoutNanoseconds: Self.connectTimeout) {
                [unowned self] result in
                self.hostConnectFinished(result, flow: flow, record: record)
            }
            return .deferred
        }
    }

    /// Refuses a forwarded flow over the flow limit, or one whose rings would not fit the
    /// `--flow-memory` budget (what the flows hold, and what those still opening will take).
    private func refusalAtLimits(_ key: FlowKey) -> FlowVerdict? {
        guard flowCount < engine.flows.limits.maxFlows else {
            engine.counters.flowsRefusedAtLimit &+= 1
            engine.logRefusal(key, transport: .tcp, verdict: .deny, reason: "flow-limit")
            return reset()
        }
        // (The table refuses a member over its share again when the flow opens: flows still
        // connecting are not counted here.)
        guard !engine.flows.isAtItsShare(key.source) else {
            engine.refusedAtMemberShare(key)
            engine.logRefusal(key, transport: .tcp, verdict: .deny, reason: "member-flow-share")
            return reset()
        }
        let opening = pending.count * connectionBufferBytes
        guard budget.used + opening + connectionBufferBytes <= budget.limit else {
            engine.counters.flowsRefusedAtMemoryBudget &+= 1
            engine.logRefusal(key, transport: .tcp, verdict: .deny, reason: "flow-memory-budget")
            return reset()
        }
        return nil
    }

    /// The verdict that answers with a RST, counted.
    private func reset() -> FlowVerdict {
        engine.counters.tcpResetsSent &+= 1
        return .reject(.portUnreachable)
    }

    private func hostConnectFinished(
        _ result: Result<(HostTCPSocket, EventLoop.Registration?), HostConnectError>,
        flow: TCPFlowID, record: ConnectionRecord
    ) {
        guard case .connecting = pending[flow] else {
            // The gateway shut down meanwhile.
            if case .success(let (socket, registration)) = result {
                HandshakePartner.host(socket, record, registration).release(on: engine.loop, abort: false)
            }
            return
        }
        switch result {
        case .success(let (socket, registration)):
            awaitHandshake(flow, .host(socket, record, park(registration, flow: flow)))
            transport.resolve(flow, with: .accept, now: engine.now)
        case .failure(let error):
            pending[flow] = nil
            engine.counters.flowsFailed &+= 1
            var failed = record
            failed.reason = "\(error)"
            engine.connectionLog?.append(engine.finished(failed, now: engine.now.nanoseconds))
            let reply: AppReply =
                switch error {
                case .failed(let failure): failure.appReply
                case .system: .tcpReset
                }
            let verdict: FlowVerdict =
                switch reply {
                case .tcpReset: reset()
                case .icmpUnreachable(let reason): .reject(ICMPv4UnreachableCode(rawValue: reason.icmpv4Code))
                }
            transport.resolve(flow, with: verdict, now: engine.now)
        }
    }

    private func awaitHandshake(_ flow: TCPFlowID, _ partner: HandshakePartner) {
        let timer = try? engine.loop.scheduleTimer(after: Self.handshakeTimeout) { [unowned self] in
            guard case .handshaking(let partner, _) = self.pending.removeValue(forKey: flow) else { return }
            // The app never completed the handshake (the listener gave up on it too).
            self.engine.counters.tcpHandshakesAbandoned &+= 1
            partner.release(on: self.engine.loop, abort: true)
            var record = partner.record
            record.reason = "handshake-timeout"
            self.engine.connectionLog?.append(self.engine.finished(record, now: engine.now.nanoseconds))
        }
        pending[flow] = .handshaking(partner, timer: timer)
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
        guard case .handshaking(.host(let socket, let record, let registration?), let timer) = pending[flow] else {
            return
        }
        engine.loop.unregister(registration)
        pending[flow] = .handshaking(.host(socket, record, nil), timer: timer)
    }
}
