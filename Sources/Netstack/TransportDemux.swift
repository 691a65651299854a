// What IPv4 and IPv6 input share when a datagram is whole: handing the transport segment to UDP
// or the registered transport and counting the verdict, handing an inbound ICMP or ICMPv6
// error to the transport that sent the quoted datagram, and putting an echo request to a
// non-local address before the gateway hook. How each family answers (ICMP Destination
// Unreachable, or RFC 8200's Parameter Problem for an unknown Next Header) stays with it.

import Link
import Wire

extension Stack {
    /// Hands a segment to UDP or the transport registered for its protocol, and counts what it
    /// said. Returns the unreachable code when the sender is to be told; nil otherwise. ICMP and
    /// ICMPv6 are the caller's (they are not transports behind this seam).
    @inline(__always)
    func deliverSegment(_ segment: InboundSegment, on nic: NIC) -> ICMPv4UnreachableCode? {
        let verdict: SegmentVerdict
        if segment.ip.protocolNumber == .udp {
            verdict = udp.handle(segment, now: now)
        } else if let handler = transportHandler(segment.ip.protocolNumber) {
            verdict = handler.handleSegment(segment, now: now)
        } else {
            verdict = .unreachable(.protocolUnreachable)
        }
        switch verdict {
        case .consumed:
            return nil
        case .dropped(let reason):
            nic.counters.countDrop(reason)
            return nil
        case .unreachable(let code):
            nic.counters.countDrop(
                code == .protocolUnreachable
                    ? .unknownProtocol
                    : code == .portUnreachable ? .udpNoListener : .gatewayRejected)
            return code
        }
    }

    /// Finds the transport that sent the datagram an ICMP or ICMPv6 error quotes and tells it.
    func deliverICMPError(_ error: TransportICMPError, on nic: NIC) {
        let owned: Bool
        switch error.quotedProtocol {
        case .udp: owned = udp.handleICMPError(error, now: now)
        case .icmp, .icmpv6: owned = false // errors about our own ICMP messages have no one to tell
        default: owned = transportHandler(error.quotedProtocol)?.handleICMPError(error, now: now) ?? false
        }
        if owned {
            nic.counters.icmpErrorsDelivered &+= 1
        } else {
            nic.counters.countDrop(.icmpErrorNoOwner)
        }
    }

    /// What to do with an echo request after the gateway had its say.
    enum EchoAdmission {
        /// The stack replies itself.
        case reply
        /// Dropped, or forwarded by the hook (which answers later, or never): nothing to send.
        case done
        /// The hook refused it: answer with Destination Unreachable of this code.
        case reject(ICMPv4UnreachableCode)
    }

    /// Puts an echo request to an address that is not ours (gateway mode) before the hook; an
    /// echo to one of our addresses or a group is always the stack's to answer.
    func admitEchoRequest(
        _ protocolNumber: IPProtocol, _ info: IPPacketInfo, identifier: UInt16, sequence: UInt16,
        data: UnsafeRawBufferPointer, on nic: NIC
    ) -> EchoAdmission {
        guard !info.isLocalAddress && !info.isBroadcast else { return .reply }
        let flow = FlowKey(
            protocolNumber: protocolNumber, source: info.source, sourcePort: identifier,
            destination: info.destination, destinationPort: 0)
        switch gatewayVerdict(for: flow, now: now) {
        case .accept:
            if let hook = gatewayHook,
                hook.stack(self, forwardEchoRequest: flow, sequence: sequence, data: data, now: now)
            {
                return .done
            }
            return .reply
        case .drop, .deferred:
            nic.counters.countDrop(.gatewayDropped)
            return .done
        case .reject(let code):
            nic.counters.countDrop(.gatewayRejected)
            return .reject(code)
        }
    }
}
