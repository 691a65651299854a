// IPv4 input: validation (RFC 791; RFC 1122 3.2.1), the "is it for us" decision (including
// gateway mode's impersonation of every unicast address), reassembly, and the hand-off to ICMP,
// UDP or a registered transport.

import Link
import Wire

extension Stack {
    func receiveIPv4(on nic: NIC, _ packet: InboundPacket) {
        let ip: IPv4Packet
        do { ip = try IPv4Packet(packet.network) } catch {
            nic.counters.countDrop(.ipv4Malformed)
            return
        }
        // The IP header checksum is cheap and no link we know verifies it for us on its own:
        // skip it only when the link vouched for the packet's checksums.
        if !packet.checksumVerified && !ip.verifyChecksum() {
            nic.counters.countDrop(.ipv4BadChecksum)
            return
        }
        let source = ip.source, destination = ip.destination
        // RFC 1122 3.2.1.3: a source that is a broadcast or multicast address is discarded.
        if source.isBroadcast || source.isMulticast || nic.isBroadcast(source) {
            nic.counters.countDrop(.ipv4BadSource)
            return
        }
        let isLocal = nic.hasAddress(destination)
        let isBroadcast = nic.isBroadcast(destination)
        if !isLocal && !isBroadcast {
            // No multicast groups are joined; in gateway mode every unicast address is ours.
            guard isGatewayMode && !destination.isMulticast && !destination.isUnspecified && !destination.isLoopback
            else {
                nic.counters.countDrop(.ipv4NotForUs)
                return
            }
            // The gateway stands where a router would: a datagram it would have to forward with
            // TTL 1 expires here (RFC 1812 5.3.1), which is what makes traceroute work.
            if ip.ttl <= 1 {
                nic.counters.countDrop(.ipv4TTLExpired)
                if ip.fragmentOffset == 0, let gatewayAddress = nic.sourceAddress(toward: source) {
                    sendICMPv4Error(
                        .timeExceeded(code: 0), from: gatewayAddress, on: nic,
                        originalHeader: ip.header, originalPayload: ip.payload, originalIsBroadcast: false)
                }
                return
            }
        }
        var info = IPPacketInfo(
            source: .v4(source), destination: .v4(destination), protocolNumber: ip.protocolNumber,
            ttl: ip.ttl, dscpECN: ip.dscpECN, nic: nic.id, isLocalAddress: isLocal,
            isBroadcast: isBroadcast, wasReassembled: false)
        if ip.moreFragments || ip.fragmentOffset != 0 {
            let key = FragmentKey(
                source: .v4(source), destination: .v4(destination), protocolNumber: ip.protocolNumber.rawValue,
                identification: UInt32(ip.identification))
            reassemble(
                key, header: ip.header, offset: ip.fragmentOffset, moreFragments: ip.moreFragments,
                data: ip.payload, on: nic
            ) { header, payload in
                nic.counters.datagramsReassembled &+= 1
                info.wasReassembled = true
                // The link's checksum verdict covered only the last fragment.
                deliverTransport(on: nic, info, header: header, payload: payload, checksumVerified: false, gso: nil)
            }
            return
        }
        deliverTransport(
            on: nic, info, header: ip.header, payload: ip.payload,
            checksumVerified: packet.checksumVerified, gso: packet.gso)
    }

    /// Hands a whole datagram to its transport and answers what the transport asks for.
    func deliverTransport(
        on nic: NIC, _ info: IPPacketInfo, header: UnsafeRawBufferPointer,
        payload: UnsafeRawBufferPointer, checksumVerified: Bool, gso: GSOInfo?
    ) {
        if info.protocolNumber == .icmp {
            receiveICMPv4(on: nic, info, header: header, payload: payload, checksumVerified: checksumVerified)
            return
        }
        let segment = InboundSegment(ip: info, bytes: payload, checksumVerified: checksumVerified, gso: gso)
        guard let code = deliverSegment(segment, on: nic), case .v4(let local) = info.destination else { return }
        sendICMPv4Error(
            .destinationUnreachable(code: code, nextHopMTU: 0), from: local, on: nic,
            originalHeader: header, originalPayload: payload, originalIsBroadcast: info.isBroadcast)
    }
}
