// ICMPv6 (RFC 4443): echo replies, Neighbor Discovery handed to NDP.swift, the errors the stack
// sends (rate-limited with the ICMPv4 errors, and never about an ICMPv6 error, a multicast
// packet or an unspecified source, RFC 4443 2.4(e)), and inbound errors handed to the
// transport that owns the quoted flow.

import Link
import Wire

extension Stack {
    /// Largest quote in an ICMPv6 error: the error must fit the minimum IPv6 MTU (RFC 4443
    /// 2.4(c)): 1280 less the IPv6 and ICMPv6 headers.
    static let maxQuoteIPv6 = 1280 - IPv6Packet.headerLength - 8

    func receiveICMPv6(
        on nic: NIC, _ info: IPPacketInfo, invoking: UnsafeRawBufferPointer,
        message bytes: UnsafeRawBufferPointer, checksumVerified: Bool
    ) {
        guard case .v6(let source) = info.source, case .v6(let destination) = info.destination else { return }
        let message: (repr: ICMPv6Repr, data: UnsafeRawBufferPointer)
        do {
            message = try ICMPv6Repr.parse(
                bytes, source: source, destination: destination, verifyChecksum: !checksumVerified)
        } catch {
            nic.counters.countDrop(error == .badChecksum ? .icmpBadChecksum : .icmpMalformed)
            return
        }
        // Only Neighbor Discovery may come from the unspecified address (DAD, RFC 4862 5.4.2).
        if source.isUnspecified {
            guard case .ndp = message.repr else {
                nic.counters.countDrop(.ipv6BadSource)
                return
            }
        }
        switch message.repr {
        case .ndp(let ndp):
            receiveNDP(ndp, on: nic, info)
        case .echoRequest(let identifier, let sequence):
            switch admitEchoRequest(
                .icmpv6, info, identifier: identifier, sequence: sequence, data: message.data, on: nic)
            {
            case .reply:
                break
            case .done:
                return
            case .reject(let code):
                sendICMPv6Error(
                    .destinationUnreachable(code: ICMPv6UnreachableCode(gatewayCode: code)), on: nic,
                    invokingFrom: source, to: destination, wasMulticast: false,
                    quote: Self.join(invoking, bytes, into: quoteScratch))
                return
            }
            // RFC 4443 4.2: the reply carries the request's identifier, sequence and data; to a
            // multicast request it comes from a unicast address of the receiving interface.
            let replySource = info.isBroadcast ? (nic.ipv6.sourceAddress(toward: source) ?? .any) : destination
            if (try? sendEchoReply(
                from: replySource, to: source, identifier: identifier, sequence: sequence,
                data: message.data, nic: nic.id)) != nil
            {
                nic.counters.icmpEchoRepliesSent &+= 1
            }
        case .destinationUnreachable(let code):
            deliverICMPv6Error(
                .destinationUnreachable(ICMPv4UnreachableCode(ipv6: code)), reporter: source,
                quote: message.data, on: nic)
        case .packetTooBig(let mtu):
            deliverICMPv6Error(
                .fragmentationNeeded(nextHopMTU: Int(mtu)), reporter: source, quote: message.data, on: nic)
        case .timeExceeded(let code):
            deliverICMPv6Error(.timeExceeded(code: code), reporter: source, quote: message.data, on: nic)
        case .parameterProblem(let code, _):
            // Code 1 (unrecognised Next Header) says the destination does not speak the
            // transport at all: the IPv6 form of ICMPv4's protocol unreachable, and a hard error
            // for TCP like it (RFC 5461).
            let kind: TransportICMPError.Kind =
                code == 1 ? .destinationUnreachable(.protocolUnreachable) : .parameterProblem
            deliverICMPv6Error(kind, reporter: source, quote: message.data, on: nic)
        case .echoReply, .other:
            nic.counters.countDrop(.icmpUnhandledType)
        }
    }

    /// Sends an ICMPv6 echo reply (used by the stack, and by a gateway that forwarded the echo
    /// and got the real host's answer). `nic` scopes a link-local destination.
    @discardableResult
    public func sendEchoReply(
        from source: IPv6Address, to destination: IPv6Address, identifier: UInt16, sequence: UInt16,
        data: UnsafeRawBufferPointer, nic: NICID? = nil
    ) throws(SendError) -> SendOutcome {
        var from = source
        if from.isUnspecified {
            // The checksum covers the source, so pick it before the header is written.
            guard let route = resolveRoute(destination, scope: nic) else {
                noRouteDrops &+= 1
                throw .noRoute
            }
            from = route.source
        }
        let repr = ICMPv6Repr.echoReply(identifier: identifier, sequence: sequence)
        let request = IPv6SendRequest(
            source: from, destination: destination, protocolNumber: .icmpv6,
            hopLimit: configuration.defaultTTL, nic: nic)
        return try sendIPv6(request, transportHeaderLength: repr.headerLength, payload: data) { header in
            repr.emit(into: header, data: data, source: from, destination: destination)
        }
    }

    /// Reads the quoted IPv6 packet (past its extension headers) and tells the transport that
    /// sent it.
    private func deliverICMPv6Error(
        _ kind: TransportICMPError.Kind, reporter: IPv6Address, quote: UnsafeRawBufferPointer,
        on nic: NIC
    ) {
        guard let quoted = try? IPv6Packet(quoted: quote),
            let transport = Self.quotedTransport(of: quoted), transport.bytes.count >= 8
        else {
            nic.counters.countDrop(.icmpMalformed)
            return
        }
        deliverICMPError(
            TransportICMPError(
                kind: kind, reporter: .v6(reporter), quotedSource: .v6(quoted.source),
                quotedDestination: .v6(quoted.destination), quotedProtocol: transport.protocolNumber,
                quotedTransport: transport.bytes, quotedLength: 40 + quoted.statedPayloadLength), on: nic)
    }

    /// The upper-layer header of a quoted packet, past its extension headers; nil when the
    /// quote is a non-initial fragment or the headers do not parse.
    private static func quotedTransport(of quoted: IPv6Packet) -> (
        protocolNumber: IPProtocol, bytes: UnsafeRawBufferPointer
    )? {
        guard let walked = try? IPv6ExtensionWalk.walk(quoted) else { return nil }
        guard let fragment = walked.fragment else { return (walked.upperLayer, quoted.payload.dropping(walked.offset)) }
        guard fragment.fragmentOffset == 0 else { return nil }
        let rest = quoted.payload.dropping(walked.offset)
        guard let inner = try? IPv6ExtensionWalk.walk(firstHeader: fragment.nextHeader, in: rest), inner.fragment == nil
        else { return nil }
        return (inner.upperLayer, rest.dropping(inner.offset))
    }

    /// Sends an ICMPv6 error about a packet we received from `source` to `destination`,
    /// unless RFC 4443 2.4(e) forbids it or the rate limit says no. `quote` is the invoking
    /// packet from its fixed header; at most `maxQuoteIPv6` bytes of it go out.
    /// `allowedForMulticast`: Packet Too Big and Parameter Problem code 2 may answer a
    /// multicast packet (2.4(e.2)).
    /// `asRouter`: the error is the gateway's own, as the router on the path (hop limit,
    /// packet too big), so it comes from the NIC's address rather than the destination's.
    func sendICMPv6Error(
        _ repr: ICMPv6Repr, on nic: NIC, invokingFrom source: IPv6Address, to destination: IPv6Address,
        wasMulticast: Bool, quote: UnsafeRawBufferPointer, allowedForMulticast: Bool = false,
        asRouter: Bool = false
    ) {
        // (e.2) not about a packet to a multicast address; (e.6) nor to a source that does not
        // name a single node.
        if (wasMulticast || destination.isMulticast) && !allowedForMulticast { return }
        if source.isUnspecified || source.isMulticast || source.isLoopback { return }
        // (e.1) never about an ICMPv6 error message (types below 128) or a Redirect.
        if let quoted = try? IPv6Packet(quoted: quote), let transport = Self.quotedTransport(of: quoted),
            transport.protocolNumber == .icmpv6
        {
            guard let type = transport.bytes.first, type >= 128, type != 137 else { return }
        }
        guard icmpErrorLimiter.take(now: now) else {
            nic.counters.countDrop(.icmpRateLimited)
            return
        }
        // (c) from the address the packet was sent to when it is one we answer for (our own, or
        // the host the gateway plays); else from one of the interface's addresses.
        guard
            let errorSource = destination.isMulticast || asRouter ? nic.ipv6.sourceAddress(toward: source) : destination
        else {
            return
        }
        let data = quote.first(Self.maxQuoteIPv6)
        let request = IPv6SendRequest(
            source: errorSource, destination: source, protocolNumber: .icmpv6,
            hopLimit: configuration.defaultTTL, nic: nic.id)
        if (try? sendIPv6(
            request, transportHeaderLength: repr.headerLength, payload: data,
            writeTransportHeader: { header in
                repr.emit(into: header, data: data, source: errorSource, destination: source)
            })) != nil
        {
            nic.counters.icmpErrorsSent &+= 1
        }
    }

    /// RFC 8200 4.5: reassembly that timed out with fragment zero in hand is reported with
    /// Time Exceeded, code 1 ("fragment reassembly time exceeded"), quoting fragment zero.
    func sendReassemblyTimeExceededIPv6(_ expired: FragmentReassembler.Expired) {
        guard case .v6(let origin) = expired.source, let quoted = try? IPv6Packet(quoted: expired.quote),
            let nic = resolveRoute(origin)?.nic
        else { return }
        nic.counters.countDrop(.fragmentTimeout)
        sendICMPv6Error(
            .timeExceeded(code: 1), on: nic, invokingFrom: origin, to: quoted.destination,
            wasMulticast: false, quote: expired.quote)
    }
}

extension ICMPv4UnreachableCode {
    /// The ICMPv4 code a transport sees for an ICMPv6 Destination Unreachable: the transport
    /// seam speaks ICMPv4 codes for both families, so each code maps to its nearest meaning.
    init(ipv6 code: ICMPv6UnreachableCode) {
        switch code {
        case .noRoute: self = .networkUnreachable
        case .portUnreachable: self = .portUnreachable
        case .administrativelyProhibited, .sourcePolicyFailed, .rejectRoute:
            self = .communicationAdministrativelyProhibited
        default: self = .hostUnreachable
        }
    }
}
