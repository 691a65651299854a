// ICMPv4 (RFC 792, RFC 1122 3.2.2): echo replies, the errors the stack sends (rate-limited,
// and never about an ICMP error, a broadcast or a non-initial fragment), and inbound errors
// handed to the transport that owns the quoted flow.

import Link
import Wire

extension Stack {
    func receiveICMPv4(
        on nic: NIC, _ info: IPPacketInfo, header: UnsafeRawBufferPointer,
        payload: UnsafeRawBufferPointer, checksumVerified: Bool
    ) {
        let message: (repr: ICMPv4Repr, data: UnsafeRawBufferPointer)
        do { message = try ICMPv4Repr.parse(payload, verifyChecksum: !checksumVerified) } catch {
            nic.counters.countDrop(error == .badChecksum ? .icmpBadChecksum : .icmpMalformed)
            return
        }
        guard case .v4(let source) = info.source, case .v4(let destination) = info.destination else { return }
        switch message.repr {
        case .echoRequest(let identifier, let sequence):
            if info.isBroadcast && !configuration.answerBroadcastEcho {
                nic.counters.countDrop(.icmpUnhandledType)
                return
            }
            switch admitEchoRequest(
                .icmp, info, identifier: identifier, sequence: sequence, data: message.data, on: nic)
            {
            case .reply:
                break
            case .done:
                return
            case .reject(let code):
                sendICMPv4Error(
                    .destinationUnreachable(code: code, nextHopMTU: 0), from: destination, on: nic,
                    originalHeader: header, originalPayload: payload, originalIsBroadcast: false)
                return
            }
            // RFC 1122 3.2.2.6: the reply carries the request's identifier, sequence and data;
            // its source is the address the request was sent to (a broadcast is answered from
            // our own address).
            let replySource = info.isBroadcast ? (nic.sourceAddress(toward: source) ?? destination) : destination
            if (try? sendEchoReply(
                from: replySource, to: source, identifier: identifier, sequence: sequence,
                data: message.data)) != nil
            {
                nic.counters.icmpEchoRepliesSent &+= 1
            }
        case .destinationUnreachable(let code, let mtu):
            let kind: TransportICMPError.Kind =
                code == .fragmentationNeeded
                ? .fragmentationNeeded(nextHopMTU: Int(mtu)) : .destinationUnreachable(code)
            deliverICMPv4Error(kind, reporter: source, quote: message.data, on: nic)
        case .timeExceeded(let code):
            deliverICMPv4Error(.timeExceeded(code: code), reporter: source, quote: message.data, on: nic)
        // For these types Wire hands over the data from byte 4; the quote follows the 4-byte
        // pointer (Parameter Problem) or unused (Source Quench) field (RFC 792).
        case .other(let type, _) where type == 12: // Parameter Problem
            deliverICMPv4Error(.parameterProblem, reporter: source, quote: message.data.dropping(4), on: nic)
        case .other(let type, _) where type == 4: // Source Quench (deprecated by RFC 6633, still passed on)
            deliverICMPv4Error(.sourceQuench, reporter: source, quote: message.data.dropping(4), on: nic)
        case .echoReply, .other:
            nic.counters.countDrop(.icmpUnhandledType)
        }
    }

    /// Sends an ICMP echo reply (used by the stack, and by a gateway that forwarded the echo and
    /// got the real host's answer).
    @discardableResult
    public func sendEchoReply(
        from source: IPv4Address, to destination: IPv4Address, identifier: UInt16, sequence: UInt16,
        data: UnsafeRawBufferPointer
    ) throws(SendError) -> SendOutcome {
        let repr = ICMPv4Repr.echoReply(identifier: identifier, sequence: sequence)
        let request = IPv4SendRequest(
            source: source, destination: destination, protocolNumber: .icmp, ttl: configuration.defaultTTL)
        return try sendIPv4(request, transportHeaderLength: repr.headerLength, payload: data) { header in
            repr.emit(into: header, data: data)
        }
    }

    /// Reads the quoted IPv4 datagram and tells the transport that sent it.
    private func deliverICMPv4Error(
        _ kind: TransportICMPError.Kind, reporter: IPv4Address, quote: UnsafeRawBufferPointer, on nic: NIC
    ) {
        guard let quoted = try? IPv4Packet(quoted: quote), quoted.payload.count >= 8 else {
            nic.counters.countDrop(.icmpMalformed)
            return
        }
        deliverICMPError(
            TransportICMPError(
                kind: kind, reporter: .v4(reporter), quotedSource: .v4(quoted.source),
                quotedDestination: .v4(quoted.destination), quotedProtocol: quoted.protocolNumber,
                quotedTransport: quoted.payload, quotedLength: quoted.statedTotalLength), on: nic)
    }

    /// Sends an ICMP error about a datagram we received, unless RFC 1122 3.2.2 forbids it or the
    /// rate limit says no. The quote is the original header plus as much data as fits in 576
    /// bytes (RFC 1812 4.3.2.3).
    func sendICMPv4Error(
        _ repr: ICMPv4Repr, from source: IPv4Address, on nic: NIC,
        originalHeader: UnsafeRawBufferPointer, originalPayload: UnsafeRawBufferPointer,
        originalIsBroadcast: Bool
    ) {
        guard let original = try? IPv4Packet(quoted: originalHeader) else { return }
        let destination = original.source
        // RFC 1122 3.2.2: never about an ICMP error, a broadcast or multicast datagram, a
        // non-initial fragment, or a datagram whose source is not a unicast host.
        if originalIsBroadcast || original.destination.isMulticast || original.fragmentOffset != 0 { return }
        if destination.isUnspecified || destination.isBroadcast || destination.isMulticast || destination.isLoopback {
            return
        }
        if original.protocolNumber == .icmp {
            guard originalPayload.count >= 1 else { return }
            let type = originalPayload[0]
            if type != ICMPv4Type.echoRequest && type != ICMPv4Type.echoReply && type != 13 && type != 14 { return }
        }
        guard icmpErrorLimiter.take(now: now) else {
            nic.counters.countDrop(.icmpRateLimited)
            return
        }
        let headerCount = min(originalHeader.count, Self.maxQuote)
        let dataCount = min(originalPayload.count, Self.maxQuote - headerCount)
        UnsafeMutableRawBufferPointer(rebasing: quoteScratch[0..<headerCount])
            .copyMemory(from: UnsafeRawBufferPointer(rebasing: originalHeader[0..<headerCount]))
        if dataCount > 0 {
            UnsafeMutableRawBufferPointer(rebasing: quoteScratch[headerCount..<(headerCount + dataCount)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: originalPayload[0..<dataCount]))
        }
        let quote = UnsafeRawBufferPointer(rebasing: quoteScratch[0..<(headerCount + dataCount)])
        let request = IPv4SendRequest(
            source: source, destination: destination, protocolNumber: .icmp, ttl: configuration.defaultTTL)
        if (try? sendIPv4(
            request, transportHeaderLength: repr.headerLength, payload: quote,
            writeTransportHeader: { header in
                repr.emit(into: header, data: quote)
            })) != nil
        {
            nic.counters.icmpErrorsSent &+= 1
        }
    }

    /// RFC 1122 3.3.2: a reassembly that timed out with fragment zero in hand is reported with
    /// Time Exceeded, code 1, from the address the datagram was sent to.
    func sendReassemblyTimeExceeded(_ expired: FragmentReassembler.Expired) {
        guard case .v4(let source) = expired.source else {
            sendReassemblyTimeExceededIPv6(expired)
            return
        }
        guard let quoted = try? IPv4Packet(quoted: expired.quote) else { return }
        guard let nic = resolveRoute(source)?.nic else { return }
        nic.counters.countDrop(.fragmentTimeout)
        sendICMPv4Error(
            .timeExceeded(code: 1), from: quoted.destination, on: nic,
            originalHeader: quoted.header, originalPayload: quoted.payload,
            originalIsBroadcast: nic.isBroadcast(quoted.destination))
    }
}
