/// An IP protocol number (IPv4 Protocol field, IPv6 Next Header field), per the IANA registry.
public struct IPProtocol: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let hopByHop = IPProtocol(rawValue: 0)
    public static let icmp = IPProtocol(rawValue: 1)
    public static let tcp = IPProtocol(rawValue: 6)
    public static let udp = IPProtocol(rawValue: 17)
    public static let routing = IPProtocol(rawValue: 43)
    public static let fragment = IPProtocol(rawValue: 44)
    public static let icmpv6 = IPProtocol(rawValue: 58)
    public static let noNextHeader = IPProtocol(rawValue: 59)
    public static let destinationOptions = IPProtocol(rawValue: 60)

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
