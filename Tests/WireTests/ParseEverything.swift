// One frame through every parser, the way the stack would take it apart plus each parser on
// the raw bytes directly; every accepted parse is re-emitted and parsed again, and must agree.
// Shared by the mutation test (MutationTests.swift) and the libFuzzer target
// (Fuzz/WireFuzz, built with -D WIRE_FUZZ into one module with the Wire sources).
#if !WIRE_FUZZ
    import Wire
#endif

/// Scratch memory for re-emitting: big enough for any IPv4/IPv6 payload.
struct ParseScratch {
    let buffer: UnsafeMutableRawBufferPointer
    init() { buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 70_000, alignment: 16) }
    func free() { buffer.deallocate() }
}

/// Returns nil when every accepted parse re-emitted consistently, else what disagreed.
/// Never traps on any input (that is what the callers are testing).
func parseEverything(_ frame: UnsafeRawBufferPointer, _ scratch: ParseScratch) -> String? {
    if let failure = parseAsStack(frame, scratch) { return failure }
    // Each parser straight on the bytes, so each sees every kind of garbage first-hand.
    _ = try? ARPRepr.parse(frame)
    if let failure = checkIPv4(frame, scratch) { return failure }
    if let failure = checkIPv6(frame, scratch) { return failure }
    let v4 = PseudoHeader.v4(source: IPv4Address(10, 0, 2, 100), destination: IPv4Address(10, 0, 2, 2))
    if let failure = checkTransport(.tcp, frame, v4, scratch) { return failure }
    if let failure = checkTransport(.udp, frame, v4, scratch) { return failure }
    if let failure = checkTransport(.icmp, frame, v4, scratch) { return failure }
    let v6 = PseudoHeader.v6(
        source: IPv6Address(high: 0xFD00 << 48, low: 0x100), destination: IPv6Address(high: 0xFE80 << 48, low: 1))
    if let failure = checkTransport(.icmpv6, frame, v6, scratch) { return failure }
    _ = try? TCPOptions.parse(frame)
    if let first = frame.first {
        _ = try? IPv6ExtensionWalk.walk(
            firstHeader: IPProtocol(rawValue: first), in: UnsafeRawBufferPointer(rebasing: frame.dropFirst()))
    }
    _ = try? IPv4Packet(quoted: frame).payload.count
    _ = try? IPv6Packet(quoted: frame).payload.count
    return nil
}

func parseAsStack(_ frame: UnsafeRawBufferPointer, _ scratch: ParseScratch) -> String? {
    guard let ethernet = try? EthernetFrame(frame) else { return nil }
    let repr = EthernetRepr.parse(ethernet)
    guard repr.headerLength == ethernet.headerLength else { return "Ethernet header length" }
    repr.emit(into: scratch.buffer)
    guard scratch.buffer.prefix(repr.headerLength).elementsEqual(frame.prefix(repr.headerLength)) else {
        return "Ethernet re-emit differs"
    }
    switch ethernet.etherType {
    case .arp:
        guard let arp = try? ARPRepr.parse(ethernet.payload) else { return nil }
        arp.emit(into: scratch.buffer)
        guard scratch.buffer.prefix(ARPRepr.length).elementsEqual(ethernet.payload.prefix(ARPRepr.length)) else {
            return "ARP re-emit differs"
        }
        return nil
    case .ipv4:
        return checkIPv4(ethernet.payload, scratch)
    case .ipv6:
        return checkIPv6(ethernet.payload, scratch)
    default:
        return nil
    }
}

func checkIPv4(_ bytes: UnsafeRawBufferPointer, _ scratch: ParseScratch) -> String? {
    guard let packet = try? IPv4Packet(bytes) else { return nil }
    let checksumOK = packet.verifyChecksum()
    guard let repr = try? IPv4Repr.parse(packet, verifyChecksum: false) else { return nil }
    if checksumOK != ((try? IPv4Repr.parse(packet, verifyChecksum: true)) != nil) {
        return "IPv4 checksum verdicts differ"
    }
    repr.emit(into: scratch.buffer)
    let again = try? IPv4Repr.parse(
        IPv4Packet(UnsafeRawBufferPointer(rebasing: scratch.buffer.prefix(20 + repr.payloadLength))),
        verifyChecksum: true)
    if again != repr { return "IPv4 re-emit does not parse back equal" }
    // RFC 791 fields all live in the repr, so a plain header with a good checksum and a clear
    // reserved flag comes back byte for byte.
    if packet.headerLength == 20 && checksumOK && packet.bytes[6] & 0x80 == 0
        && !scratch.buffer.prefix(20).elementsEqual(packet.header)
    {
        return "IPv4 re-emit differs"
    }
    guard packet.fragmentOffset == 0 else { return nil }
    return checkTransport(
        packet.protocolNumber, packet.payload,
        .v4(source: packet.source, destination: packet.destination), scratch)
}

func checkIPv6(_ bytes: UnsafeRawBufferPointer, _ scratch: ParseScratch) -> String? {
    guard let packet = try? IPv6Packet(bytes) else { return nil }
    guard let repr = try? IPv6Repr.parse(packet) else { return nil }
    repr.emit(into: scratch.buffer)
    guard scratch.buffer.prefix(40).elementsEqual(packet.header) else { return "IPv6 re-emit differs" }
    guard let (upper, offset, fragment) = try? IPv6ExtensionWalk.walk(packet) else { return nil }
    guard offset <= packet.payload.count else { return "IPv6 walk offset past the payload" }
    if let fragment {
        fragment.emit(into: scratch.buffer)
        let again = try? IPv6FragmentHeaderRepr.parse(UnsafeRawBufferPointer(rebasing: scratch.buffer.prefix(8)))
        if again != fragment { return "fragment header re-emit does not parse back equal" }
        if fragment.fragmentOffset != 0 { return nil }
    }
    return checkTransport(
        upper, UnsafeRawBufferPointer(rebasing: packet.payload[offset...]),
        .v6(source: packet.source, destination: packet.destination), scratch)
}

/// Copies `header` (already in scratch) and `payload` together and returns the whole.
func joined(_ headerLength: Int, _ payload: UnsafeRawBufferPointer, _ scratch: ParseScratch) -> UnsafeRawBufferPointer {
    let tail = UnsafeMutableRawBufferPointer(rebasing: scratch.buffer[headerLength..<(headerLength + payload.count)])
    if payload.count > 0 { tail.copyMemory(from: payload) }
    return UnsafeRawBufferPointer(rebasing: scratch.buffer.prefix(headerLength + payload.count))
}

func checkTransport(
    _ protocolNumber: IPProtocol, _ bytes: UnsafeRawBufferPointer, _ pseudo: PseudoHeader,
    _ scratch: ParseScratch
) -> String? {
    switch protocolNumber {
    case .tcp:
        guard let segment = try? TCPSegment(bytes), let repr = try? TCPRepr.parse(segment, checksum: nil) else {
            return nil
        }
        if segment.verifyChecksum(pseudo) != ((try? TCPRepr.parse(segment, checksum: pseudo)) != nil) {
            return "TCP checksum verdicts differ"
        }
        repr.emit(into: scratch.buffer, payload: segment.payload, pseudoHeader: pseudo, checksum: .compute)
        let first = Array(scratch.buffer.prefix(repr.headerLength))
        let whole = joined(repr.headerLength, segment.payload, scratch)
        guard let again = try? TCPRepr.parse(TCPSegment(whole), checksum: pseudo) else {
            return "TCP re-emit does not parse"
        }
        var expected = repr
        // Emit keeps only the SACK blocks that fit in 40 bytes of options.
        var kept = SACKBlocks()
        for block in repr.options.sackBlocks.prefix(repr.options.emittedSACKBlockCount) { kept.append(block) }
        expected.options.sackBlocks = kept
        if again != expected { return "TCP re-emit does not parse back equal" }
        again.emit(into: scratch.buffer, payload: segment.payload, pseudoHeader: pseudo, checksum: .compute)
        if !scratch.buffer.prefix(again.headerLength).elementsEqual(first) { return "TCP emit is not idempotent" }
        return nil
    case .udp:
        guard let datagram = try? UDPDatagram(bytes), let repr = try? UDPRepr.parse(datagram, checksum: nil) else {
            return nil
        }
        _ = try? UDPRepr.parse(datagram, checksum: pseudo)
        repr.emit(into: scratch.buffer, payload: datagram.payload, pseudoHeader: pseudo, checksum: .compute)
        let whole = joined(8, datagram.payload, scratch)
        guard let again = try? UDPRepr.parse(UDPDatagram(whole), checksum: pseudo) else {
            return "UDP re-emit does not parse"
        }
        return again == repr ? nil : "UDP re-emit does not parse back equal"
    case .icmp:
        guard let (repr, data) = try? ICMPv4Repr.parse(bytes, verifyChecksum: false) else { return nil }
        repr.emit(into: scratch.buffer, data: data)
        let whole = joined(repr.headerLength, data, scratch)
        guard let (again, againData) = try? ICMPv4Repr.parse(whole, verifyChecksum: true) else {
            return "ICMPv4 re-emit does not parse"
        }
        if again != repr || !againData.elementsEqual(data) { return "ICMPv4 re-emit does not parse back equal" }
        if case let .destinationUnreachable(_, mtu) = repr, case let .destinationUnreachable(_, againMTU) = again,
            mtu != againMTU
        {
            return "ICMPv4 MTU lost"
        }
        return nil
    case .icmpv6:
        guard case let .v6(source, destination) = pseudo,
            let (repr, data) = try? ICMPv6Repr.parse(
                bytes, source: source, destination: destination, verifyChecksum: false)
        else { return nil }
        repr.emit(into: scratch.buffer, data: data, source: source, destination: destination)
        let whole = joined(repr.headerLength, data, scratch)
        guard
            let (again, againData) = try? ICMPv6Repr.parse(
                whole, source: source, destination: destination, verifyChecksum: true)
        else { return "ICMPv6 re-emit does not parse" }
        if again != repr || !againData.elementsEqual(data) { return "ICMPv6 re-emit does not parse back equal" }
        return nil
    default:
        return nil
    }
}
