/// An IP protocol number (IPv4 Protocol field, IPv6 Next Header field), per the IANA registry.
public struct IPProtocol: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    @inlinable public static var hopByHop: IPProtocol { IPProtocol(rawValue: 0) }
    @inlinable public static var icmp: IPProtocol { IPProtocol(rawValue: 1) }
    @inlinable public static var tcp: IPProtocol { IPProtocol(rawValue: 6) }
    @inlinable public static var udp: IPProtocol { IPProtocol(rawValue: 17) }
    @inlinable public static var routing: IPProtocol { IPProtocol(rawValue: 43) }
    @inlinable public static var fragment: IPProtocol { IPProtocol(rawValue: 44) }
    @inlinable public static var icmpv6: IPProtocol { IPProtocol(rawValue: 58) }
    @inlinable public static var noNextHeader: IPProtocol { IPProtocol(rawValue: 59) }
    @inlinable public static var destinationOptions: IPProtocol { IPProtocol(rawValue: 60) }

    public var description: String {
        switch self {
        case .hopByHop: "hop-by-hop"
        case .icmp: "ICMP"
        case .tcp: "TCP"
        case .udp: "UDP"
        case .routing: "routing"
        case .fragment: "fragment"
        case .icmpv6: "ICMPv6"
        case .noNextHeader: "no-next-header"
        case .destinationOptions: "destination-options"
        default: "protocol \(rawValue)"
        }
    }
}
