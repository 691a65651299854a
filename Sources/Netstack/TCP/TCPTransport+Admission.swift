// Gateway admission of TCP: the stack plays every host the app talks to, so a SYN that no
// connection or listener of our own takes goes to the stack's gateway hook (FlowVerdict):
//
//   .accept    the any-destination listener (`acceptForAnyDestination`) answers SYN-ACK
//   .reject    port unreachable: RST (the app sees ECONNREFUSED at once); any other code:
//              ICMP Destination Unreachable from the destination (a soft error, RFC 1122
//              4.2.3.9: the app keeps retrying until its own timeout, as on a real network)
//   .drop      nothing
//   .deferred  the SYN is held until the hook calls `resolve` (the gateway first opens the
//              host connection; RFC 9293 leaves the passive side free to answer late). The
//              app's retransmissions of a held SYN are dropped: the answer is coming.
//              The hook must resolve every SYN it defers; `maxHeldSYNs` bounds them.

import Wire

extension TCPTransport {
    /// Takes SYNs for any destination the gateway hook accepts, and the handshakes they start.
    /// The owner receives the established connections from the listener's accept queue.
    public func acceptForAnyDestination(_ listener: TCPListener) { demux.listenAny(listener) }

    /// Answers a SYN held for a deferred verdict (`FlowVerdict.deferred`). Nothing happens
    /// when no SYN is held for `flow`.
    public func resolve(_ flow: TCPFlowID, with verdict: FlowVerdict, now: NetstackInstant) {
        guard let syn = heldSYNs.removeValue(forKey: flow) else { return }
        var sink = output
        answer(
            syn, payload: UnsafeRawBufferPointer(start: nil, count: 0), flow: flow, verdict: verdict, now: now,
            output: &sink)
    }

    /// Whether a SYN for `flow` is held for a deferred verdict.
    public func isHoldingSYN(for flow: TCPFlowID) -> Bool { heldSYNs[flow] != nil }

    /// Whether an opening SYN for `flow` is the gateway hook's to admit: in gateway mode, when
    /// no connection holds the four-tuple and no listener of our own takes its destination.
    func admitsThroughGateway(_ flow: TCPFlowID) -> Bool {
        stack.isGatewayMode && demux.anyDestinationListener != nil && demux.connections[flow] == nil
            && !demux.hasListener(for: flow.local)
    }

    func admit(
        _ syn: TCPRepr, payload: UnsafeRawBufferPointer, flow: TCPFlowID, now: NetstackInstant,
        output: inout TCPStackOutput
    ) {
        if heldSYNs[flow] != nil {
            counters.heldSYNRepeats += 1
            return
        }
        guard heldSYNs.count < maxHeldSYNs else {
            counters.heldSYNOverflows += 1
            return
        }
        // Held during the call already: a hook whose host side settles at once may `resolve`
        // before it returns (and then answers `.deferred` all the same).
        heldSYNs[flow] = syn
        let verdict = stack.gatewayVerdict(for: flow.flowKey, now: now)
        if verdict == .deferred {
            if heldSYNs[flow] != nil { counters.synsHeld += 1 }
            return
        }
        guard heldSYNs.removeValue(forKey: flow) != nil else { return }
        answer(syn, payload: payload, flow: flow, verdict: verdict, now: now, output: &output)
    }

    private func answer(
        _ syn: TCPRepr, payload: UnsafeRawBufferPointer, flow: TCPFlowID, verdict: FlowVerdict,
        now: NetstackInstant, output: inout TCPStackOutput
    ) {
        switch verdict {
        case .accept:
            demux.deliver(syn, payload: payload, flow: flow, now: now, output: &output)
        case .reject(.portUnreachable):
            counters.gatewayRejected += 1
            if let reset = TCPConnection.resetReply(to: syn) {
                output.send(reset, payload: UnsafeRawBufferPointer(start: nil, count: 0), flow: flow)
            }
        case .reject(let code):
            counters.gatewayUnreachable += 1
            stack.sendDestinationUnreachable(code, about: flow.flowKey, word: syn.sequenceNumber.rawValue)
        case .drop:
            counters.gatewayDropped += 1
        case .deferred:
            // Deferred again by `resolve`: held on.
            heldSYNs[flow] = syn
        }
    }
}

extension TCPFlowID {
    /// The flow as the gateway hook sees it: from the peer (the remote end, the app) to the
    /// host it wants (our local end).
    public var flowKey: FlowKey {
        FlowKey(
            protocolNumber: .tcp, source: remote.address, sourcePort: remote.port,
            destination: local.address, destinationPort: local.port)
    }
}
