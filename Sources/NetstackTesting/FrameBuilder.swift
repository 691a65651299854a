// Builds whole Ethernet frames with Wire's emitters, for tests that play the other host.
// Allocates freely: it is test code.

import Netstack
import Wire

public enum FrameBuilder {
    public static func ethernet(destination: MACAddress, source: MACAddress, etherType: EtherType, payload: [UInt8])
        -> [UInt8]
    {
        var frame = [UInt8](repeating: 0, count: EthernetRepr.headerLength + payload.count)
        frame.withUnsafeMutableBytes { buffer in
            EthernetRepr(destination: destination, source: source, etherType: etherType).emit(into: buffer)
        }
        frame.replaceSubrange(EthernetRepr.headerLength..., with: payload)
        return frame
    }

    public static func arp(_ repr: ARPRepr, destination: MACAddress) -> [UInt8] {
        var body = [UInt8](repeating: 0, count: ARPRepr.length)
        body.withUnsafeMutableBytes { repr.emit(into: $0) }
        return ethernet(destination: destination, source: repr.senderHardwareAddress, etherType: .arp, payload: body)
    }

    /// An IPv4 packet (header + `payload`), optionally a fragment of a larger datagram.
    public static func ipv4(
        source: IPv4Address, destination: IPv4Address, protocolNumber: IPProtocol, payload: [UInt8],
        identification: UInt16 = 1, ttl: UInt8 = 64, dontFragment: Bool = false,
        moreFragments: Bool = false, fragmentOffset: Int = 0
    ) -> [UInt8] {
        let repr = IPv4Repr(
            source: source, destination: destination, protocolNumber: protocolNumber,
            payloadLength: payload.count, ttl: ttl, identification: identification,
            dontFragment: dontFragment, moreFragments: moreFragments, fragmentOffset: fragmentOffset)
        var packet = [UInt8](repeating: 0, count: IPv4Repr.headerLength)
        packet.withUnsafeMutableBytes { repr.emit(into: $0) }
        return packet + payload
    }

    /// A UDP datagram (header + payload) with its checksum.
    public static func udp(
        source: IPv4Address, sourcePort: UInt16, destination: IPv4Address, destinationPort: UInt16,
        payload: [UInt8], checksum: ChecksumMode = .compute
    ) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: UDPRepr.headerLength)
        let repr = UDPRepr(sourcePort: sourcePort, destinationPort: destinationPort, payloadLength: payload.count)
        header.withUnsafeMutableBytes { h in
            payload.withUnsafeBytes { p in
                repr.emit(
                    into: h, payload: p, pseudoHeader: .v4(source: source, destination: destination), checksum: checksum
                )
            }
        }
        return header + payload
    }

    /// A TCP segment (header + payload) with its checksum over `pseudoHeader`.
    public static func tcp(_ segment: TCPRepr, payload: [UInt8] = [], pseudoHeader: PseudoHeader) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: segment.headerLength) + payload
        bytes.withUnsafeMutableBytes { raw in
            payload.withUnsafeBytes { data in
                segment.emit(into: raw, payload: data, pseudoHeader: pseudoHeader, checksum: .compute)
            }
        }
        return bytes
    }

    /// An ICMPv4 message (header + data) with its checksum.
    public static func icmp(_ repr: ICMPv4Repr, data: [UInt8]) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: repr.headerLength)
        header.withUnsafeMutableBytes { h in data.withUnsafeBytes { repr.emit(into: h, data: $0) } }
        return header + data
    }

    /// An IPv6 packet: fixed header, then `payload` (extension headers included, if any).
    public static func ipv6(
        source: IPv6Address, destination: IPv6Address, nextHeader: IPProtocol, payload: [UInt8],
        hopLimit: UInt8 = 64
    ) -> [UInt8] {
        let repr = IPv6Repr(
            source: source, destination: destination, nextHeader: nextHeader, hopLimit: hopLimit,
            payloadLength: payload.count)
        var packet = [UInt8](repeating: 0, count: IPv6Repr.headerLength)
        packet.withUnsafeMutableBytes { repr.emit(into: $0) }
        return packet + payload
    }

    /// An IPv6 Fragment header followed by `data` (one fragment of a packet's fragmentable part).
    public static func ipv6Fragment(
        nextHeader: IPProtocol, offset: Int, more: Bool, identification: UInt32, data: [UInt8]
    ) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: IPv6FragmentHeaderRepr.length)
        header.withUnsafeMutableBytes {
            IPv6FragmentHeaderRepr(
                nextHeader: nextHeader, fragmentOffset: offset, moreFragments: more,
                identification: identification
            ).emit(into: $0)
        }
        return header + data
    }

    /// A UDP datagram over IPv6 (header + payload) with its checksum.
    public static func udp(
        source: IPv6Address, sourcePort: UInt16, destination: IPv6Address, destinationPort: UInt16,
        payload: [UInt8], checksum: ChecksumMode = .compute
    ) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: UDPRepr.headerLength)
        let repr = UDPRepr(sourcePort: sourcePort, destinationPort: destinationPort, payloadLength: payload.count)
        header.withUnsafeMutableBytes { h in
            payload.withUnsafeBytes { p in
                repr.emit(
                    into: h, payload: p, pseudoHeader: .v6(source: source, destination: destination), checksum: checksum
                )
            }
        }
        return header + payload
    }

    /// An ICMPv6 message (header + data; the whole message for NDP) with its checksum.
    public static func icmpv6(_ repr: ICMPv6Repr, data: [UInt8] = [], source: IPv6Address, destination: IPv6Address)
        -> [UInt8]
    {
        var header = [UInt8](repeating: 0, count: repr.headerLength)
        header.withUnsafeMutableBytes { h in
            data.withUnsafeBytes { repr.emit(into: h, data: $0, source: source, destination: destination) }
        }
        return header + data
    }

    /// Cuts an IPv4 datagram's payload into fragments of `chunk` bytes (a multiple of 8),
    /// returning each fragment's (offset, more fragments, bytes).
    public static func fragments(of payload: [UInt8], chunk: Int) -> [(offset: Int, more: Bool, bytes: [UInt8])] {
        stride(from: 0, to: payload.count, by: chunk).map { offset in
            let end = min(offset + chunk, payload.count)
            return (offset, end < payload.count, Array(payload[offset..<end]))
        }
    }
}

/// A decoded frame, for assertions.
public enum DecodedFrame: Equatable, Sendable {
    case arp(ARPRepr, ethernetDestination: MACAddress)
    case ipv4(IPv4Repr, payload: [UInt8], ethernetDestination: MACAddress)
    /// `payload` is everything after the fixed header (extension headers included).
    case ipv6(IPv6Repr, payload: [UInt8], ethernetDestination: MACAddress)
    case other

    public init(_ frame: [UInt8]) {
        self = frame.withUnsafeBytes { bytes -> DecodedFrame in
            guard let ethernet = try? EthernetFrame(bytes) else { return .other }
            switch ethernet.etherType {
            case .arp:
                guard let arp = try? ARPRepr.parse(ethernet.payload) else { return .other }
                return .arp(arp, ethernetDestination: ethernet.destination)
            case .ipv4:
                guard let packet = try? IPv4Packet(ethernet.payload),
                    let repr = try? IPv4Repr.parse(packet, verifyChecksum: true)
                else {
                    return .other
                }
                return .ipv4(repr, payload: Array(packet.payload), ethernetDestination: ethernet.destination)
            case .ipv6:
                guard let packet = try? IPv6Packet(ethernet.payload), let repr = try? IPv6Repr.parse(packet) else {
                    return .other
                }
                return .ipv6(repr, payload: Array(packet.payload), ethernetDestination: ethernet.destination)
            default:
                return .other
            }
        }
    }

    /// The UDP header and payload, when this is an unfragmented UDP datagram with a valid checksum.
    public var udp: (repr: UDPRepr, payload: [UInt8])? {
        guard case .ipv4(let ip, let payload, _) = self, ip.protocolNumber == .udp, !ip.moreFragments,
            ip.fragmentOffset == 0
        else {
            return nil
        }
        return payload.withUnsafeBytes { bytes in
            guard let datagram = try? UDPDatagram(bytes),
                let repr = try? UDPRepr.parse(datagram, checksum: .v4(source: ip.source, destination: ip.destination))
            else { return nil }
            return (repr, Array(datagram.payload))
        }
    }

    /// The ICMP message and its data, when this is an unfragmented ICMP packet with a valid checksum.
    public var icmp: (repr: ICMPv4Repr, data: [UInt8])? {
        guard case .ipv4(let ip, let payload, _) = self, ip.protocolNumber == .icmp, !ip.moreFragments,
            ip.fragmentOffset == 0
        else {
            return nil
        }
        return payload.withUnsafeBytes { bytes in
            guard let message = try? ICMPv4Repr.parse(bytes, verifyChecksum: true) else { return nil }
            return (message.repr, Array(message.data))
        }
    }

    /// The fragment header and fragment data, when this is an IPv6 fragment (the Fragment
    /// header right after the fixed header).
    public var ipv6Fragment: (header: IPv6FragmentHeaderRepr, data: [UInt8])? {
        guard case .ipv6(let ip, let payload, _) = self, ip.nextHeader == .fragment else { return nil }
        return payload.withUnsafeBytes { bytes in
            guard let header = try? IPv6FragmentHeaderRepr.parse(bytes) else { return nil }
            return (header, Array(payload[IPv6FragmentHeaderRepr.length...]))
        }
    }

    /// The ICMPv6 message and its data, when this is an unfragmented ICMPv6 packet with a valid
    /// checksum and no extension headers.
    public var icmpv6: (repr: ICMPv6Repr, data: [UInt8])? {
        guard case .ipv6(let ip, let payload, _) = self, ip.nextHeader == .icmpv6 else { return nil }
        return payload.withUnsafeBytes { bytes in
            guard
                let message = try? ICMPv6Repr.parse(
                    bytes, source: ip.source, destination: ip.destination, verifyChecksum: true)
            else {
                return nil
            }
            return (message.repr, Array(message.data))
        }
    }

    /// The UDP header and payload, when this is an unfragmented UDP-over-IPv6 packet with a valid
    /// (mandatory) checksum.
    public var udp6: (repr: UDPRepr, payload: [UInt8])? {
        guard case .ipv6(let ip, let payload, _) = self, ip.nextHeader == .udp else { return nil }
        return payload.withUnsafeBytes { bytes in
            guard let datagram = try? UDPDatagram(bytes),
                let repr = try? UDPRepr.parse(datagram, checksum: .v6(source: ip.source, destination: ip.destination))
            else { return nil }
            return (repr, Array(datagram.payload))
        }
    }
}
