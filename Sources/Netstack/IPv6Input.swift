// IPv6 input: validation (RFC 8200 3; RFC 4291 2.7 for addresses), the "is it for us" decision
// (our addresses, the groups we listen to, and in gateway mode any global unicast address, with
// the router's hop-limit and packet-too-big answers),
// the extension-header walk with option processing (RFC 8200 4.2), reassembly through the
// shared reassembler (RFC 8200 4.5, RFC 5722 overlaps, RFC 6946 atomic fragments, RFC 7112
// first fragments), and the hand-off to ICMPv6, UDP or a registered transport.

import Link
import Wire

extension Stack {
    /// Phases: accept (parse, address checks, is it for us), the extension-header walk, the
    /// router's answers for what it cannot forward, then delivery, or fragment handling.
    func receiveIPv6(on nic: NIC, _ packet: InboundPacket) {
        guard let accepted = acceptIPv6(packet, on: nic) else { return }
        let ip = accepted.ip, repr = accepted.repr, isLocal = accepted.isLocal
        let isMulticast = repr.destination.isMulticast
        let headers: ExtensionHeaders
        switch walkExtensionHeaders(firstHeader: repr.nextHeader, in: ip.payload) {
        case .success(let walked):
            headers = walked
        case .failure(let problem):
            reportHeaderProblem(problem, on: nic, packet: ip, destinationWasMulticast: isMulticast)
            return
        }
        if !isLocal && !isMulticast && answeredAsRouter(ip, repr, headers: headers, packet: packet, on: nic) { return }
        let info = IPPacketInfo(
            source: .v6(repr.source), destination: .v6(repr.destination), protocolNumber: headers.upperLayer,
            ttl: repr.hopLimit, dscpECN: repr.trafficClass, nic: nic.id, isLocalAddress: isLocal,
            isBroadcast: isMulticast, wasReassembled: false)
        guard let fragment = headers.fragment else {
            deliverTransportIPv6(
                on: nic, info, invoking: ip.bytes.first(IPv6Packet.headerLength + headers.offset),
                upperLayer: ip.payload.dropping(headers.offset),
                checksumVerified: packet.checksumVerified, gso: packet.gso)
            return
        }
        receiveIPv6Fragment(fragment, of: ip, repr, headers: headers, info: info, packet: packet, on: nic)
    }

    /// The parsed packet if it is valid and for us (`isLocal`: one of our addresses), or nil
    /// once its drop is counted.
    private func acceptIPv6(_ packet: InboundPacket, on nic: NIC) -> (ip: IPv6Packet, repr: IPv6Repr, isLocal: Bool)? {
        let ip: IPv6Packet
        let repr: IPv6Repr
        do {
            ip = try IPv6Packet(packet.network)
            repr = try IPv6Repr.parse(ip)
        } catch {
            nic.counters.countDrop(error == .malformed ? .ipv6BadSource : .ipv6Malformed)
            return nil
        }
        let source = repr.source, destination = repr.destination
        // RFC 4291 2.5.3: loopback "must never be sent on a link"; 2.7: no multicast source
        // (checked by the parse).
        if source.isLoopback || destination.isLoopback || destination.isUnspecified {
            nic.counters.countDrop(.ipv6BadSource)
            return nil
        }
        let isLocal = nic.ipv6.hasAddress(destination)
        if destination.isMulticast {
            guard nic.ipv6.listens(to: destination) else {
                nic.counters.countDrop(.ipv6NotForUs)
                return nil
            }
        } else if !isLocal {
            // In gateway mode every global unicast address is ours; link-local addresses other
            // than our own stay on the app's side (DESIGN: fe80::/10 is not reachable).
            guard isGatewayMode && !destination.isLinkLocal && !source.isUnspecified else {
                nic.counters.countDrop(.ipv6NotForUs)
                return nil
            }
        }
        return (ip, repr, isLocal)
    }

    /// A unicast packet for a host beyond the gateway that a router could not forward: answered
    /// with the ICMPv6 error a router sends, and true (nothing more to do with it).
    private func answeredAsRouter(
        _ ip: IPv6Packet, _ repr: IPv6Repr, headers: ExtensionHeaders, packet: InboundPacket,
        on nic: NIC
    ) -> Bool {
        let source = repr.source, destination = repr.destination
        // The gateway stands where a router would: a packet it would have to forward with hop
        // limit 1 expires here (RFC 4443 3.3, code 0), which is what makes traceroute6 work.
        if repr.hopLimit <= 1 {
            nic.counters.countDrop(.ipv6HopLimitExceeded)
            if headers.fragment == nil || headers.fragment?.fragmentOffset == 0 {
                sendICMPv6Error(
                    .timeExceeded(code: 0), on: nic, invokingFrom: source, to: destination,
                    wasMulticast: false, quote: ip.bytes.first(IPv6Packet.headerLength + ip.payloadLength),
                    asRouter: true)
            }
            return true
        }
        // Likewise a packet larger than the MTU of the route toward the host it is for (a route
        // with a path MTU set, e.g. by the gateway's owner) is one a router could not forward:
        // RFC 4443 3.2 answers it with Packet Too Big. Fragments are each forwardable as they are,
        // and so is a link's GSO super-frame: it stands for segments the sender cut to its MSS.
        if headers.fragment == nil && packet.gso == nil, let route = routeTable.lookup(destination),
            let mtu = route.mtu, IPv6Packet.headerLength + ip.payloadLength > mtu
        {
            nic.counters.countDrop(.ipv6PacketTooBig)
            // RFC 8200 5: no link is below 1280, so neither is an MTU we report.
            sendICMPv6Error(
                .packetTooBig(mtu: UInt32(max(1280, mtu))), on: nic, invokingFrom: source, to: destination,
                wasMulticast: false, quote: ip.bytes.first(IPv6Packet.headerLength + ip.payloadLength), asRouter: true)
            return true
        }
        return false
    }

    /// A packet with a Fragment header: an atomic fragment is delivered alone; any other is
    /// checked (RFC 8200 4.5, RFC 7112) and goes into reassembly, which delivers the datagram.
    private func receiveIPv6Fragment(
        _ fragment: IPv6FragmentHeaderRepr, of ip: IPv6Packet, _ repr: IPv6Repr,
        headers: ExtensionHeaders, info: IPPacketInfo, packet: InboundPacket, on nic: NIC
    ) {
        var info = info
        let source = repr.source, destination = repr.destination
        let isMulticast = destination.isMulticast
        let invoking = ip.bytes.first(IPv6Packet.headerLength + ip.payloadLength)
        if !fragment.moreFragments && fragment.fragmentOffset == 0 {
            // An atomic fragment (RFC 6946: offset 0 and M clear) is processed in isolation and
            // never enters reassembly; the headers after its Fragment header still need a walk.
            let rest = ip.payload.dropping(headers.offset)
            guard case .success(let inner) = walkExtensionHeaders(firstHeader: fragment.nextHeader, in: rest),
                inner.fragment == nil
            else {
                nic.counters.countDrop(.ipv6Malformed)
                return
            }
            info.protocolNumber = inner.upperLayer
            deliverTransportIPv6(
                on: nic, info, invoking: ip.bytes.first(IPv6Packet.headerLength + headers.offset + inner.offset),
                upperLayer: rest.dropping(inner.offset), checksumVerified: packet.checksumVerified, gso: packet.gso)
            return
        }
        let data = ip.payload.dropping(headers.offset)
        // RFC 8200 4.5: a fragment with M set whose length is not a multiple of 8 is discarded
        // with Parameter Problem code 0 pointing at the Payload Length field.
        if fragment.moreFragments && (data.count == 0 || data.count % 8 != 0) {
            nic.counters.countDrop(.fragmentMalformed)
            sendICMPv6Error(
                .parameterProblem(code: 0, pointer: 4), on: nic, invokingFrom: source, to: destination,
                wasMulticast: isMulticast, quote: invoking)
            return
        }
        // RFC 8200 4.5: a reassembled payload above 65,535 bytes: Parameter Problem code 0
        // pointing at the Fragment Offset field.
        if fragment.fragmentOffset + data.count > 65_535 {
            nic.counters.countDrop(.fragmentTooLarge)
            sendICMPv6Error(
                .parameterProblem(code: 0, pointer: UInt32(IPv6Packet.headerLength + headers.offset - 6)),
                on: nic, invokingFrom: source, to: destination, wasMulticast: isMulticast, quote: invoking)
            return
        }
        // RFC 7112 5: the first fragment holds every header up to the upper-layer header.
        var header = ip.header
        if fragment.fragmentOffset == 0 {
            guard case .success = walkExtensionHeaders(firstHeader: fragment.nextHeader, in: data) else {
                nic.counters.countDrop(.fragmentMalformed)
                return
            }
            // Reassembly keeps fragment zero's fixed header; its Next Header is made the first
            // header of the fragmentable part, so the whole datagram reads as one packet.
            let copy = UnsafeMutableRawBufferPointer(rebasing: auxScratch[0..<IPv6Packet.headerLength])
            copy.copyMemory(from: ip.header)
            copy[6] = fragment.nextHeader.rawValue
            header = UnsafeRawBufferPointer(copy)
        }
        let key = FragmentKey(
            source: .v6(source), destination: .v6(destination), protocolNumber: 0,
            identification: fragment.identification)
        reassemble(
            key, header: header, offset: fragment.fragmentOffset, moreFragments: fragment.moreFragments,
            data: data, on: nic
        ) { header, payload in
            guard header.count >= IPv6Packet.headerLength,
                case .success(let inner) = walkExtensionHeaders(
                    firstHeader: IPProtocol(rawValue: header[6]), in: payload),
                inner.fragment == nil
            else {
                nic.counters.countDrop(.fragmentMalformed)
                return
            }
            nic.counters.datagramsReassembled &+= 1
            info.protocolNumber = inner.upperLayer
            info.wasReassembled = true
            // The link's checksum verdict covered only the last fragment.
            deliverTransportIPv6(
                on: nic, info, invoking: header, upperLayer: payload.dropping(inner.offset),
                checksumVerified: false, gso: nil)
        }
    }

    /// Hands a whole datagram to its transport and answers what the transport asks for.
    /// `invoking` is what an ICMPv6 error about it quotes first (the packet from its fixed
    /// header, or the fixed header of a reassembled one), `upperLayer` the transport bytes.
    private func deliverTransportIPv6(
        on nic: NIC, _ info: IPPacketInfo, invoking: UnsafeRawBufferPointer,
        upperLayer: UnsafeRawBufferPointer, checksumVerified: Bool, gso: GSOInfo?
    ) {
        guard case .v6(let source) = info.source, case .v6(let destination) = info.destination else { return }
        // Only Neighbor Discovery may come from the unspecified address (DAD, RFC 4862 5.4.2).
        if source.isUnspecified && info.protocolNumber != .icmpv6 {
            nic.counters.countDrop(.ipv6BadSource)
            return
        }
        switch info.protocolNumber {
        case .icmpv6:
            receiveICMPv6(on: nic, info, invoking: invoking, message: upperLayer, checksumVerified: checksumVerified)
            return
        case .noNextHeader:
            // RFC 8200 4.7: nothing follows; the packet is done.
            return
        default:
            break
        }
        let segment = InboundSegment(ip: info, bytes: upperLayer, checksumVerified: checksumVerified, gso: gso)
        guard let code = deliverSegment(segment, on: nic) else { return }
        let quote = Self.join(invoking, upperLayer, into: quoteScratch)
        let error: ICMPv6Repr
        if code == .protocolUnreachable {
            // RFC 8200 4: an unrecognised Next Header is Parameter Problem code 1, pointing
            // at the field. For a reassembled packet that is the fixed header's own field.
            error = .parameterProblem(code: 1, pointer: UInt32(Self.nextHeaderFieldOffset(in: invoking)))
        } else {
            error = .destinationUnreachable(code: ICMPv6UnreachableCode(gatewayCode: code))
        }
        sendICMPv6Error(
            error, on: nic, invokingFrom: source, to: destination, wasMulticast: info.isBroadcast, quote: quote)
    }

    /// The offset, from the fixed header, of the Next Header field naming the upper layer:
    /// byte 6 of the fixed header, or byte 0 of the last extension header before `invoking`'s
    /// end. `invoking` runs from the fixed header to the upper-layer header.
    private static func nextHeaderFieldOffset(in invoking: UnsafeRawBufferPointer) -> Int {
        guard invoking.count > IPv6Packet.headerLength else { return 6 }
        var field = 6
        var next = IPProtocol(rawValue: invoking[6])
        var offset = IPv6Packet.headerLength
        var steps = 0
        while steps <= IPv6ExtensionWalk.maximumHeaders, offset + 8 <= invoking.count {
            switch next {
            case .hopByHop, .routing, .destinationOptions:
                field = offset
                next = IPProtocol(rawValue: invoking[offset])
                offset += (Int(invoking[offset + 1]) + 1) * 8
            case .fragment:
                field = offset
                next = IPProtocol(rawValue: invoking[offset])
                offset += IPv6FragmentHeaderRepr.length
            default:
                return field
            }
            steps += 1
        }
        return field
    }

    /// Copies `head` then as much of `tail` as fits into `scratch`; returns the bytes written.
    static func join(
        _ head: UnsafeRawBufferPointer, _ tail: UnsafeRawBufferPointer,
        into scratch: UnsafeMutableRawBufferPointer
    ) -> UnsafeRawBufferPointer {
        // The upper-layer bytes may already follow `head` in memory (an unfragmented packet).
        if let headStart = head.baseAddress, let tailStart = tail.baseAddress, headStart + head.count == tailStart {
            return UnsafeRawBufferPointer(start: headStart, count: head.count + tail.count)
        }
        let headCount = min(head.count, scratch.count)
        let tailCount = min(tail.count, scratch.count - headCount)
        if headCount > 0 {
            UnsafeMutableRawBufferPointer(rebasing: scratch[0..<headCount]).copyMemory(
                from: UnsafeRawBufferPointer(rebasing: head[0..<headCount]))
        }
        if tailCount > 0 {
            UnsafeMutableRawBufferPointer(rebasing: scratch[headCount..<(headCount + tailCount)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: tail[0..<tailCount]))
        }
        return UnsafeRawBufferPointer(rebasing: scratch[0..<(headCount + tailCount)])
    }

    // MARK: Extension headers

    struct ExtensionHeaders {
        var upperLayer: IPProtocol
        /// Offset of the upper-layer header (or of the fragment data) in the walked bytes.
        var offset: Int
        var fragment: IPv6FragmentHeaderRepr?
    }

    enum HeaderProblem: Error {
        case malformed
        /// A Routing header with segments left (we forward nothing, RFC 8200 4.4).
        case routing
        /// An option whose type says "discard" (RFC 8200 4.2); `reply` when its type also asks
        /// for Parameter Problem code 2, pointing at `pointer` (from the walked bytes' start).
        case unrecognisedOption(pointer: Int, reply: Bool, evenIfMulticast: Bool)
    }

    /// Wire's bounded walk, then the options of every Hop-by-Hop and Destination Options
    /// header it crossed (which the walk leaves alone).
    func walkExtensionHeaders(firstHeader: IPProtocol, in bytes: UnsafeRawBufferPointer) -> Result<
        ExtensionHeaders, HeaderProblem
    > {
        let walked: (upperLayer: IPProtocol, offset: Int, fragment: IPv6FragmentHeaderRepr?)
        do { walked = try IPv6ExtensionWalk.walk(firstHeader: firstHeader, in: bytes) } catch {
            return .failure(error == .unsupported ? .routing : .malformed)
        }
        // The walk validated every length up to `walked.offset`; retrace it for the options.
        var next = firstHeader
        var offset = 0
        let end = walked.fragment == nil ? walked.offset : walked.offset - IPv6FragmentHeaderRepr.length
        while offset < end {
            let length = (Int(bytes[offset + 1]) + 1) * 8
            if next == .hopByHop || next == .destinationOptions {
                if let problem = Self.checkOptions(
                    UnsafeRawBufferPointer(rebasing: bytes[(offset + 2)..<(offset + length)]), base: offset + 2)
                {
                    return .failure(problem)
                }
            }
            next = IPProtocol(rawValue: bytes[offset])
            offset += length
        }
        return .success(
            ExtensionHeaders(upperLayer: walked.upperLayer, offset: walked.offset, fragment: walked.fragment))
    }

    /// RFC 8200 4.2: the two high bits of an unrecognised option's type say what to do: 00
    /// skip, 01 discard, 10 discard and send Parameter Problem code 2, 11 the same unless the
    /// destination was multicast. Pad1 and PadN are the only options this stack knows (it
    /// joins no group, so Router Alert is for others, and it takes no jumbograms).
    private static func checkOptions(_ options: UnsafeRawBufferPointer, base: Int) -> HeaderProblem? {
        var offset = 0
        // Every round consumes at least one byte.
        while offset < options.count {
            let type = options[offset]
            if type == 0 {
                offset += 1
                continue
            } // Pad1
            guard offset + 2 <= options.count else { return .malformed }
            let length = Int(options[offset + 1])
            guard offset + 2 + length <= options.count else { return .malformed }
            switch type {
            case 1, 5: // PadN; Router Alert (RFC 2711), for routers and MLD listeners, not us
                break
            default:
                switch type >> 6 {
                case 0: break
                case 1: return .unrecognisedOption(pointer: base + offset, reply: false, evenIfMulticast: false)
                case 2: return .unrecognisedOption(pointer: base + offset, reply: true, evenIfMulticast: true)
                default: return .unrecognisedOption(pointer: base + offset, reply: true, evenIfMulticast: false)
                }
            }
            offset += 2 + length
        }
        return nil
    }

    private func reportHeaderProblem(
        _ problem: HeaderProblem, on nic: NIC, packet: IPv6Packet, destinationWasMulticast: Bool
    ) {
        switch problem {
        case .malformed:
            nic.counters.countDrop(.ipv6Malformed)
        case .routing:
            nic.counters.countDrop(.ipv6UnsupportedExtension)
        case .unrecognisedOption(let pointer, let reply, let evenIfMulticast):
            nic.counters.countDrop(.ipv6UnsupportedExtension)
            guard reply, !destinationWasMulticast || evenIfMulticast else { return }
            sendICMPv6Error(
                .parameterProblem(code: 2, pointer: UInt32(IPv6Packet.headerLength + pointer)), on: nic,
                invokingFrom: packet.source, to: packet.destination, wasMulticast: destinationWasMulticast,
                quote: packet.bytes.first(IPv6Packet.headerLength + packet.payloadLength),
                allowedForMulticast: evenIfMulticast)
        }
    }
}

extension UnsafeRawBufferPointer {
    /// The first `count` bytes (at most all of them).
    func first(_ count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self[0..<Swift.min(Swift.max(0, count), self.count)])
    }

    /// The bytes after the first `count` (empty when there are fewer).
    func dropping(_ count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self[Swift.min(Swift.max(0, count), self.count)...])
    }
}

extension ICMPv6UnreachableCode {
    /// The IPv6 code for a verdict given in ICMPv4 terms (the gateway hook and the transport
    /// seam speak ICMPv4 codes for both families).
    init(gatewayCode code: ICMPv4UnreachableCode) {
        switch code {
        case .portUnreachable: self = .portUnreachable
        case .networkAdministrativelyProhibited, .hostAdministrativelyProhibited,
            .communicationAdministrativelyProhibited:
            self = .administrativelyProhibited
        case .networkUnreachable, .destinationNetworkUnknown: self = .noRoute
        default: self = .addressUnreachable
        }
    }
}
