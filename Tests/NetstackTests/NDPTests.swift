import Link
import Netstack
import NetstackTesting
import Testing
import Wire

@Suite struct NDPTests {
    func solicitation(for target: IPv6Address, from source: IPv6Address = peerIP6, sourceLink: MACAddress? = peerMAC)
        -> ICMPv6Repr
    {
        .ndp(.neighborSolicitation(NDPNeighborSolicitation(target: target, sourceLinkAddress: sourceLink)))
    }

    @Test func linkLocalAddressIsTheModifiedEUI64OfTheMAC() {
        let h = Harness6()
        #expect(h.stack.linkLocalAddress(of: h.nic) == stackLinkLocal)
        #expect(
            IPv6Address.linkLocal(for: MACAddress(0x52, 0x54, 0x00, 0x12, 0x34, 0x56)) == v6("fe80::5054:ff:fe12:3456"))
    }

    @Test func solicitationForOurAddressIsAnsweredAndTheSenderLearned() {
        let h = Harness6()
        h.receiveICMPv6(
            solicitation(for: stackIP6), to: stackIP6.solicitedNodeMulticast, hopLimit: 255,
            destinationMAC: stackIP6.solicitedNodeMulticast.multicastMAC)
        let frames = h.written()
        #expect(
            frames.compactMap(\.icmpv6).map(\.repr) == [
                .ndp(
                    .neighborAdvertisement(
                        NDPNeighborAdvertisement(
                            router: false, solicited: true, override: true, target: stackIP6,
                            targetLinkAddress: stackMAC)))
            ])
        #expect(frames.first?.ipv6Header?.hopLimit == 255)
        #expect(frames.first?.ipv6Header?.destination == peerIP6)
        #expect(frames.first?.ethernetDestination == peerMAC)
        #expect(h.stack.neighbourEntries(of: h.nic).map(\.state) == [.reachable(peerMAC)])
        #expect(h.counters.neighbourAdvertisementsSent == 1)
    }

    @Test func solicitationForOurLinkLocalAddressIsAnsweredWithTheRouterFlagWhenAdvertising() {
        let h = Harness6()
        h.stack.enableRouterAdvertisements(on: h.nic)
        h.receiveICMPv6(
            solicitation(for: stackLinkLocal, from: peerLinkLocal), from: peerLinkLocal,
            to: stackLinkLocal.solicitedNodeMulticast, hopLimit: 255,
            destinationMAC: stackLinkLocal.solicitedNodeMulticast.multicastMAC)
        let advertisements = h.written().compactMap(\.icmpv6).map(\.repr)
        #expect(
            advertisements == [
                .ndp(
                    .neighborAdvertisement(
                        NDPNeighborAdvertisement(
                            router: true, solicited: true, override: true, target: stackLinkLocal,
                            targetLinkAddress: stackMAC)))
            ])
    }

    @Test func solicitationThatCrossedARouterIsDropped() {
        let h = Harness6()
        h.receiveICMPv6(solicitation(for: stackIP6), to: stackIP6, hopLimit: 254)
        #expect(h.written().isEmpty)
        #expect(h.counters[drop: .ndpInvalid] == 1)
        #expect(h.stack.neighbourEntries(of: h.nic).isEmpty)
    }

    @Test func theAppsDuplicateAddressProbesAreNeverClaimed() {
        let h = Harness6.gateway()
        // The app checks fd00::100 (its own, soon) from the unspecified address: silence.
        h.receiveICMPv6(
            solicitation(for: peerIP6, sourceLink: nil), from: .any, to: peerIP6.solicitedNodeMulticast, hopLimit: 255,
            destinationMAC: peerIP6.solicitedNodeMulticast.multicastMAC)
        // Even sent to a group we listen to (a hostile or unlucky collision), a probe for an
        // address that is not ours is not answered.
        h.receiveICMPv6(
            solicitation(for: peerIP6, sourceLink: nil), from: .any, to: stackIP6.solicitedNodeMulticast, hopLimit: 255)
        #expect(h.written().isEmpty)
        #expect(h.stack.neighbourEntries(of: h.nic).isEmpty)
        #expect(h.counters[drop: .ndpNotForUs] == 1)
    }

    @Test func duplicateAddressProbeForOurAddressIsDefendedToAllNodes() {
        let h = Harness6()
        h.receiveICMPv6(
            solicitation(for: stackIP6, sourceLink: nil), from: .any, to: stackIP6.solicitedNodeMulticast,
            hopLimit: 255,
            destinationMAC: stackIP6.solicitedNodeMulticast.multicastMAC)
        let frames = h.written()
        #expect(
            frames.compactMap(\.icmpv6).map(\.repr) == [
                .ndp(
                    .neighborAdvertisement(
                        NDPNeighborAdvertisement(
                            solicited: false, override: true, target: stackIP6, targetLinkAddress: stackMAC)))
            ])
        #expect(frames.first?.ipv6Header?.destination == .allNodes)
        #expect(frames.first?.ethernetDestination == MACAddress(0x33, 0x33, 0, 0, 0, 1))
        #expect(h.counters.duplicateAddressProbesDefended == 1)
    }

    @Test func probeFromTheUnspecifiedAddressWithALinkAddressIsInvalid() {
        let h = Harness6()
        h.receiveICMPv6(solicitation(for: stackIP6), from: .any, to: stackIP6.solicitedNodeMulticast, hopLimit: 255)
        #expect(h.written().isEmpty)
        #expect(h.counters[drop: .ndpInvalid] == 1)
    }

    @Test func advertisementClaimingOurAddressIsCountedAndIgnored() {
        let h = Harness6()
        h.receiveICMPv6(
            .ndp(
                .neighborAdvertisement(
                    NDPNeighborAdvertisement(
                        solicited: false, override: true, target: stackIP6,
                        targetLinkAddress: peerMAC))),
            to: .allNodes, hopLimit: 255, destinationMAC: IPv6Address.allNodes.multicastMAC)
        #expect(h.counters[drop: .ndpDuplicateAddress] == 1)
        #expect(h.stack.neighbourEntries(of: h.nic).isEmpty)
    }

    @Test func unsolicitedAdvertisementCreatesNoEntry() {
        let h = Harness6()
        h.receiveICMPv6(
            .ndp(
                .neighborAdvertisement(
                    NDPNeighborAdvertisement(
                        solicited: false, override: true, target: peerIP6,
                        targetLinkAddress: peerMAC))),
            to: .allNodes, hopLimit: 255, destinationMAC: IPv6Address.allNodes.multicastMAC)
        #expect(h.stack.neighbourEntries(of: h.nic).isEmpty)
    }

    @Test func entryInUseIsRefreshedByUnicastSolicitationBeforeItExpires() throws {
        let h = Harness6()
        h.receiveICMPv6(solicitation(for: stackIP6), to: stackIP6, hopLimit: 255)
        _ = h.written()
        let endpoint = try h.stack.udp.open(localPort: 5000, delegate: nil)
        defer { endpoint.close() }
        h.advance(by: .seconds(58))
        _ = try send(endpoint, bytes(4), to: peerIP6, port: 9)
        let frames = h.written()
        let probe = frames.first { $0.icmpv6 != nil }
        #expect(
            probe?.icmpv6?.repr
                == .ndp(.neighborSolicitation(NDPNeighborSolicitation(target: peerIP6, sourceLinkAddress: stackMAC))))
        #expect(probe?.ipv6Header?.destination == peerIP6)
        #expect(probe?.ethernetDestination == peerMAC)
        #expect(frames.compactMap(\.udp6).count == 1)
    }

    // MARK: Router advertisements

    func expectRouterAdvertisement(_ frame: DecodedFrame?, mtu: UInt32 = 1500) {
        guard let frame, case .ndp(.routerAdvertisement(let ra))? = frame.icmpv6?.repr else {
            Issue.record("not a router advertisement: \(String(describing: frame))")
            return
        }
        #expect(frame.ipv6Header?.source == stackLinkLocal)
        #expect(frame.ipv6Header?.destination == .allNodes)
        #expect(frame.ipv6Header?.hopLimit == 255)
        #expect(frame.ethernetDestination == MACAddress(0x33, 0x33, 0, 0, 0, 1))
        #expect(ra.routerLifetime == 1800)
        #expect(ra.sourceLinkAddress == stackMAC)
        #expect(ra.mtu == mtu)
        #expect(
            Array(ra.prefixes) == [
                NDPPrefixInformation(
                    prefix: v6("fd00::"), prefixLength: 64, onLink: true, autonomous: true,
                    validLifetime: 2_592_000, preferredLifetime: 604_800)
            ])
    }

    @Test func routerSolicitationIsAnsweredWithThePrefix() {
        let h = Harness6()
        h.stack.enableRouterAdvertisements(on: h.nic)
        h.advance(by: .zero)
        #expect(h.written().count == 1)
        // Past MIN_DELAY_BETWEEN_RAS, a solicitation is answered at once.
        h.advance(by: .seconds(5))
        h.receiveICMPv6(
            .ndp(.routerSolicitation(NDPRouterSolicitation(sourceLinkAddress: peerMAC))), from: peerLinkLocal,
            to: .allRouters, hopLimit: 255, destinationMAC: IPv6Address.allRouters.multicastMAC)
        let frames = h.written()
        #expect(frames.count == 1)
        expectRouterAdvertisement(frames.first)
        #expect(h.stack.neighbourEntries(of: h.nic).map(\.address) == [.v6(peerLinkLocal)])
        #expect(h.counters.routerSolicitationsReceived == 1)
    }

    /// A network's gateway gives each member its address: its prefix is on-link but not for
    /// SLAAC (the A flag clear, RFC 4861 4.6.2), so no member makes itself another source.
    @Test func aPrefixNotForAutoconfigurationIsAdvertisedWithItsAFlagClear() {
        let h = Harness6()
        var configuration = RouterAdvertisementConfiguration()
        configuration.autonomous = false
        h.stack.enableRouterAdvertisements(on: h.nic, configuration)
        h.advance(by: .zero)
        guard case .ndp(.routerAdvertisement(let ra))? = h.written().first?.icmpv6?.repr else {
            Issue.record("no router advertisement")
            return
        }
        #expect(Array(ra.prefixes).map(\.onLink) == [true])
        #expect(Array(ra.prefixes).map(\.autonomous) == [false])
    }

    @Test func routerSolicitationOnANICThatDoesNotAdvertiseIsIgnored() {
        let h = Harness6()
        h.receiveICMPv6(
            .ndp(.routerSolicitation(NDPRouterSolicitation())), from: .any, to: .allRouters, hopLimit: 255,
            destinationMAC: IPv6Address.allRouters.multicastMAC)
        #expect(h.written().isEmpty)
        #expect(h.counters[drop: .ipv6NotForUs] == 1)
    }

    @Test func advertisementsFollowTheInitialThenRegularSchedule() {
        let h = Harness6(mtu: 9000)
        h.stack.enableRouterAdvertisements(on: h.nic)
        h.advance(by: .zero)
        expectRouterAdvertisement(h.written().first, mtu: 9000)
        // RFC 4861 6.2.4: the first three 16 s apart, then the regular interval (200 s).
        var instants: [Duration] = []
        var elapsed = Duration.zero
        for _ in 0..<4 {
            guard let deadline = h.stack.nextDeadline else { break }
            let step = deadline.duration(since: h.clock.now)
            h.advance(by: step)
            elapsed += step
            if !h.written().isEmpty { instants.append(elapsed) }
        }
        #expect(instants == [.seconds(16), .seconds(32), .seconds(232), .seconds(432)])
        #expect(h.counters.routerAdvertisementsSent == 5)
    }

    @Test func solicitationsWithinThreeSecondsOfAnAdvertisementWaitForTheBoundary() {
        let h = Harness6()
        h.stack.enableRouterAdvertisements(on: h.nic)
        h.advance(by: .zero)
        #expect(h.written().count == 1)
        h.advance(by: .seconds(1))
        for _ in 0..<5 {
            h.receiveICMPv6(
                .ndp(.routerSolicitation(NDPRouterSolicitation())), from: .any, to: .allRouters, hopLimit: 255,
                destinationMAC: IPv6Address.allRouters.multicastMAC)
        }
        #expect(h.written().isEmpty)
        #expect(h.stack.nextDeadline == h.clock.now.advanced(by: .seconds(2)))
        h.advance(by: .seconds(2))
        #expect(h.written().count == 1)
        #expect(h.counters.routerSolicitationsReceived == 5)
    }

    // MARK: Impersonating the prefix

    @Test func anyInPrefixPolicyAnswersForOtherHostsButNeverTheAppsOwnOrItsProbes() {
        let h = Harness6.gateway()
        h.stack.setNeighbourSolicitationPolicy(.anyInPrefix(excluding: [peerIP6]), on: h.nic)
        let other = v6("fd00::5")
        for target in [other, peerIP6, v6("fd00::"), v6("fd01::5")] {
            h.receiveICMPv6(
                solicitation(for: target), to: target.solicitedNodeMulticast, hopLimit: 255,
                destinationMAC: target.solicitedNodeMulticast.multicastMAC)
        }
        // A DAD probe for an address the gateway would otherwise play.
        h.receiveICMPv6(
            solicitation(for: other, sourceLink: nil), from: .any, to: other.solicitedNodeMulticast, hopLimit: 255,
            destinationMAC: other.solicitedNodeMulticast.multicastMAC)
        let frames = h.written()
        #expect(
            frames.compactMap(\.icmpv6).map(\.repr) == [
                .ndp(
                    .neighborAdvertisement(
                        NDPNeighborAdvertisement(
                            solicited: true, override: true, target: other, targetLinkAddress: stackMAC)))
            ])
        #expect(frames.first?.ipv6Header?.source == other)
        #expect(h.counters[drop: .ndpNotForUs] == 4)
    }
}
