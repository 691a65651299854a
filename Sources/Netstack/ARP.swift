// ARP (RFC 826) on a NIC: answering requests for our addresses (and, by policy, for addresses
// the gateway impersonates), learning from what we receive, asking for next hops, and the
// neighbour timers (which send NDP solicitations for IPv6 entries, see NDP.swift).

import Link
import Wire

extension Stack {
    func receiveARP(on nic: NIC, _ bytes: UnsafeRawBufferPointer) {
        let arp: ARPRepr
        do { arp = try ARPRepr.parse(bytes) } catch {
            nic.counters.countDrop(.arpMalformed)
            return
        }
        let sender = arp.senderProtocolAddress
        let target = arp.targetProtocolAddress
        // A sender claiming a broadcast, multicast or our own address is lying (or probing us
        // with our own address): learn nothing from it.
        let senderIsSane =
            !sender.isUnspecified && !sender.isBroadcast && !sender.isMulticast
            && !nic.hasAddress(sender) && arp.senderHardwareAddress.isUnicast
        let targetIsOurs = answers(arp, on: nic)
        // RFC 826 "Packet Reception": update an existing entry for the sender; add one only
        // when we are the target.
        if senderIsSane {
            let (_, released) = nic.neighbours.learn(
                .v4(sender), arp.senderHardwareAddress, create: targetIsOurs, now: now)
            sendReleased(released, on: nic, to: arp.senderHardwareAddress)
        }
        guard arp.operation == .request else { return }
        guard targetIsOurs else {
            nic.counters.countDrop(.arpNotForUs)
            return
        }
        let reply = ARPRepr(
            operation: .reply,
            senderHardwareAddress: nic.linkAddress, senderProtocolAddress: target,
            targetHardwareAddress: arp.senderHardwareAddress, targetProtocolAddress: sender)
        sendARP(reply, on: nic, to: arp.senderHardwareAddress)
        nic.counters.arpRepliesSent &+= 1
    }

    /// Whether this NIC claims the request's target address (see ARPReplyPolicy).
    private func answers(_ arp: ARPRepr, on nic: NIC) -> Bool {
        let target = arp.targetProtocolAddress
        if nic.hasAddress(target) { return true }
        guard case .anyInSubnet(let excluded) = nic.arpPolicy else { return false }
        // RFC 5227 probes (sender 0.0.0.0) are the app checking its own address: never claim.
        if arp.senderProtocolAddress.isUnspecified || arp.senderProtocolAddress == target { return false }
        if excluded.contains(target) { return false }
        for subnet in nic.addresses where subnet.contains(target) {
            if subnet.prefixLength < 31 && (target == subnet.network || target == subnet.broadcast) { return false }
            return true
        }
        return false
    }

    /// Asks who has `target`: broadcast to resolve, unicast (`to`) to refresh a known entry
    /// (RFC 1122 2.3.2.1 "unicast poll").
    func sendARPRequest(for target: IPv4Address, on nic: NIC, to linkDestination: MACAddress = .broadcast) {
        guard let source = nic.sourceAddress(toward: target) else { return }
        let request = ARPRepr(
            operation: .request,
            senderHardwareAddress: nic.linkAddress, senderProtocolAddress: source,
            targetHardwareAddress: .zero, targetProtocolAddress: target)
        sendARP(request, on: nic, to: linkDestination)
        nic.counters.arpRequestsSent &+= 1
    }

    private func sendARP(_ arp: ARPRepr, on nic: NIC, to destination: MACAddress) {
        let buffer = UnsafeMutableRawBufferPointer(rebasing: auxScratch[0..<ARPRepr.length])
        arp.emit(into: buffer)
        try? nic.write(
            OutboundPacket(
                protocolNumber: .arp, remoteLinkAddress: destination,
                header: UnsafeRawBufferPointer(buffer)))
    }

    /// Asks for `address`'s link address the way its family does: an ARP request or a neighbour
    /// solicitation; to its broadcast or solicited-node group to resolve, unicast (`to`) to
    /// refresh a known entry.
    func sendResolutionRequest(for address: IPAddress, on nic: NIC, to linkDestination: MACAddress? = nil) {
        switch address {
        case .v4(let target): sendARPRequest(for: target, on: nic, to: linkDestination ?? .broadcast)
        case .v6(let target): sendNeighbourSolicitation(for: target, on: nic, to: linkDestination)
        }
    }

    func runNeighbourTimers(_ nic: NIC) {
        guard let deadline = nic.neighbours.nextDeadline, deadline <= now else { return }
        let actions = nic.neighbours.handleTimers(now: now)
        for address in actions.probe { sendResolutionRequest(for: address, on: nic) }
        for (_, dropped) in actions.failed {
            for _ in 0..<dropped { nic.counters.countDrop(.neighbourUnresolved) }
        }
    }

    /// Sends the datagrams that waited for `mac`.
    func sendReleased(_ released: [PendingDatagram], on nic: NIC, to mac: MACAddress) {
        for datagram in released {
            switch datagram.request {
            case .v4(let request): sendReleased(request, datagram, on: nic, to: mac)
            case .v6(let request): sendReleased(request, datagram, on: nic, to: mac)
            }
        }
    }

    private func sendReleased<Request: IPFamilySendRequest>(
        _ request: Request, _ datagram: PendingDatagram,
        on nic: NIC, to mac: MACAddress
    ) {
        datagram.transportHeader.withUnsafeBytes { header in
            datagram.payload.withUnsafeBytes { payload in
                _ = try? request.emit(
                    on: self, nic: nic, mtu: datagram.mtu, linkDestination: mac,
                    transportHeaderLength: header.count, payload: payload, gso: datagram.gso
                ) { slot in
                    slot.copyMemory(from: header)
                }
            }
        }
    }
}
