// Neighbor Discovery (RFC 4861) on a NIC: answering solicitations for our addresses (and, by
// policy, for addresses the gateway impersonates in its prefix), learning
// link addresses into the shared neighbour cache, asking for next hops, defending our
// addresses against duplicate address detection while never claiming anyone else's (the app's
// own DAD probes go unanswered, RFC 4862 5.4), and, on a NIC that advertises, answering router
// solicitations and sending periodic router advertisements.

import Link
import Wire

extension Stack {
    /// Turns the NIC into the link's router: it advertises `configuration.prefix` (hosts
    /// autoconfigure an address in it, RFC 4862) and itself as default router, from its
    /// link-local address. The first advertisement goes out at the next `advance(to:)`.
    /// Add the gateway's own address in the prefix with `addAddress(_:to:)`.
    public func enableRouterAdvertisements(
        on id: NICID,
        _ configuration: RouterAdvertisementConfiguration = RouterAdvertisementConfiguration()
    ) {
        guard let nic = nic(id) else { return }
        nic.ipv6.routerAdvertiser = RouterAdvertiser(configuration: configuration, now: now)
    }

    func receiveNDP(_ message: NDPRepr, on nic: NIC, _ info: IPPacketInfo) {
        guard case .v6(let source) = info.source, case .v6(let destination) = info.destination else { return }
        // RFC 4861 6.1.1, 6.1.2, 7.1.1, 7.1.2: "The IP Hop Limit field has a value of 255", i.e.
        // the message was not forwarded by a router: it really comes from this link.
        guard info.ttl == 255 else {
            nic.counters.countDrop(.ndpInvalid)
            return
        }
        switch message {
        case .neighborSolicitation(let solicitation):
            receiveNeighbourSolicitation(solicitation, source: source, destination: destination, on: nic)
        case .neighborAdvertisement(let advertisement):
            receiveNeighbourAdvertisement(advertisement, destination: destination, on: nic)
        case .routerSolicitation(let solicitation):
            receiveRouterSolicitation(solicitation, source: source, on: nic)
        case .routerAdvertisement:
            // We are the link's router (or a host that configures itself by hand): another
            // router's advertisements change nothing here.
            nic.counters.countDrop(.ndpIgnored)
        }
    }

    private func receiveNeighbourSolicitation(
        _ solicitation: NDPNeighborSolicitation, source: IPv6Address,
        destination: IPv6Address, on nic: NIC
    ) {
        let fromDAD = source.isUnspecified
        // RFC 4861 7.1.1: from the unspecified address, the destination is a solicited-node
        // group and there is no source link-layer address option.
        if fromDAD && (!destination.isSolicitedNodeMulticast || solicitation.sourceLinkAddress != nil) {
            nic.counters.countDrop(.ndpInvalid)
            return
        }
        let target = solicitation.target
        guard nic.ipv6.answersSolicitation(for: target, fromDAD: fromDAD) else {
            // Someone else's address, including the app's own DAD probes: never claimed.
            nic.counters.countDrop(.ndpNotForUs)
            return
        }
        if fromDAD {
            // RFC 4861 7.2.4: a node that owns the target answers a DAD probe with an
            // unsolicited advertisement to all nodes, so the prober sees the conflict.
            nic.counters.duplicateAddressProbesDefended &+= 1
            sendNeighbourAdvertisement(
                target: target, to: .allNodes, linkDestination: IPv6Address.allNodes.multicastMAC,
                solicited: false, on: nic)
            return
        }
        // RFC 4861 7.2.3: the solicitation creates or updates the sender's entry.
        var linkDestination: MACAddress? = nil
        if let mac = solicitation.sourceLinkAddress, mac.isUnicast, !nic.ipv6.hasAddress(source) {
            let (_, released) = nic.neighbours.learn(.v6(source), mac, create: true, now: now)
            sendReleased(released, on: nic, to: mac)
            linkDestination = mac
        }
        sendNeighbourAdvertisement(
            target: target, to: source, linkDestination: linkDestination, solicited: true, on: nic)
    }

    private func receiveNeighbourAdvertisement(
        _ advertisement: NDPNeighborAdvertisement, destination: IPv6Address, on nic: NIC
    ) {
        // RFC 4861 7.1.2: "If the IP Destination Address is a multicast address the Solicited
        // flag is zero."
        if destination.isMulticast && advertisement.solicited {
            nic.counters.countDrop(.ndpInvalid)
            return
        }
        if nic.ipv6.hasAddress(advertisement.target) {
            // Another node claims one of our addresses (RFC 4862 5.4.4): record it, keep ours.
            nic.counters.countDrop(.ndpDuplicateAddress)
            return
        }
        guard let mac = advertisement.targetLinkAddress, mac.isUnicast else { return }
        // RFC 4861 7.2.5: an advertisement updates an existing entry and never creates one.
        let (_, released) = nic.neighbours.learn(.v6(advertisement.target), mac, create: false, now: now)
        sendReleased(released, on: nic, to: mac)
    }

    private func receiveRouterSolicitation(_ solicitation: NDPRouterSolicitation, source: IPv6Address, on nic: NIC) {
        guard nic.ipv6.routerAdvertiser != nil else {
            // RFC 4861 6.2.6: hosts discard router solicitations.
            nic.counters.countDrop(.ndpIgnored)
            return
        }
        if source.isUnspecified {
            // RFC 4861 6.1.1: no source link-layer option from the unspecified address.
            guard solicitation.sourceLinkAddress == nil else {
                nic.counters.countDrop(.ndpInvalid)
                return
            }
        } else if let mac = solicitation.sourceLinkAddress, mac.isUnicast, !nic.ipv6.hasAddress(source) {
            let (_, released) = nic.neighbours.learn(.v6(source), mac, create: true, now: now)
            sendReleased(released, on: nic, to: mac)
        }
        nic.counters.routerSolicitationsReceived &+= 1
        if nic.ipv6.routerAdvertiser?.solicited(now: now) == true { sendRouterAdvertisement(on: nic) }
    }

    /// Runs the NIC's router advertisement timer.
    func runIPv6Timers(_ nic: NIC) {
        guard let advertiser = nic.ipv6.routerAdvertiser, advertiser.isDue(now: now) else { return }
        sendRouterAdvertisement(on: nic)
    }

    /// Advertises the NIC as default router and its prefix to all nodes (RFC 4861 6.2.3).
    private func sendRouterAdvertisement(on nic: NIC) {
        guard let advertiser = nic.ipv6.routerAdvertiser else { return }
        // Whatever happens to the write, the schedule moves on (a failing link must not make
        // the timer fire on every advance).
        nic.ipv6.routerAdvertiser?.advertised(now: now)
        // RFC 4861 6.1.2: hosts discard advertisements whose source is not link-local.
        guard let source = nic.ipv6.linkLocal else { return }
        let configuration = advertiser.configuration
        var prefixes = NDPPrefixes()
        prefixes.append(
            NDPPrefixInformation(
                prefix: configuration.prefix.prefixBits, prefixLength: UInt8(configuration.prefix.prefixLength),
                autonomous: configuration.autonomous, validLifetime: Self.seconds(configuration.validLifetime),
                preferredLifetime: Self.seconds(configuration.preferredLifetime)))
        let advertisement = NDPRouterAdvertisement(
            currentHopLimit: configuration.hopLimit,
            routerLifetime: UInt16(clamping: Self.seconds(configuration.routerLifetime)),
            sourceLinkAddress: nic.linkAddress, mtu: UInt32(clamping: configuration.mtu ?? nic.mtu), prefixes: prefixes)
        if sendNDP(
            .routerAdvertisement(advertisement), from: source, to: .allNodes,
            linkDestination: IPv6Address.allNodes.multicastMAC, on: nic)
        {
            nic.counters.routerAdvertisementsSent &+= 1
        }
    }

    private static func seconds(_ duration: Duration) -> UInt32 {
        UInt32(clamping: duration.components.seconds)
    }

    private func sendNeighbourAdvertisement(
        target: IPv6Address, to destination: IPv6Address, linkDestination: MACAddress?,
        solicited: Bool, on nic: NIC
    ) {
        // R: we route when we advertise; S: answers a solicitation; O: our answer is
        // authoritative (RFC 4861 7.2.4, not an anycast address).
        let advertisement = NDPNeighborAdvertisement(
            router: nic.ipv6.isRouter, solicited: solicited, override: true,
            target: target, targetLinkAddress: nic.linkAddress)
        if sendNDP(
            .neighborAdvertisement(advertisement), from: target, to: destination, linkDestination: linkDestination,
            on: nic)
        {
            nic.counters.neighbourAdvertisementsSent &+= 1
        }
    }

    /// Asks who has `target`: to its solicited-node group to resolve, unicast (`to`) to refresh
    /// a known entry (RFC 4861 7.3.3 PROBE).
    func sendNeighbourSolicitation(for target: IPv6Address, on nic: NIC, to linkDestination: MACAddress? = nil) {
        guard let source = nic.ipv6.sourceAddress(toward: target) else { return }
        let solicitation = NDPNeighborSolicitation(target: target, sourceLinkAddress: nic.linkAddress)
        let destination = linkDestination == nil ? target.solicitedNodeMulticast : target
        if sendNDP(
            .neighborSolicitation(solicitation), from: source, to: destination,
            linkDestination: linkDestination ?? target.solicitedNodeMulticast.multicastMAC, on: nic)
        {
            nic.counters.neighbourSolicitationsSent &+= 1
        }
    }

    /// Sends one ND message with hop limit 255. With a link destination it is written at once;
    /// without, it goes through `sendIPv6` (which resolves the destination first).
    private func sendNDP(
        _ message: NDPRepr, from source: IPv6Address, to destination: IPv6Address,
        linkDestination: MACAddress?, on nic: NIC
    ) -> Bool {
        let repr = ICMPv6Repr.ndp(message)
        let request = IPv6SendRequest(
            source: source, destination: destination, protocolNumber: .icmpv6, hopLimit: 255,
            nic: nic.id)
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        let write: (UnsafeMutableRawBufferPointer) -> Void = { header in
            repr.emit(into: header, data: empty, source: source, destination: destination)
        }
        do throws(SendError) {
            if let linkDestination {
                try emitIPv6(
                    request, nic: nic, mtu: nic.mtu, linkDestination: linkDestination,
                    transportHeaderLength: repr.headerLength, payload: empty, gso: nil, writeTransportHeader: write)
            } else {
                try sendIPv6(
                    request, transportHeaderLength: repr.headerLength, payload: empty, writeTransportHeader: write)
            }
            return true
        } catch {
            return false
        }
    }
}
