import CNetShims
import Wire

#if canImport(Glibc)
    import Glibc
#endif

/// A network interface as an RTM_NEWLINK reply describes it.
public struct Link: Sendable, Equatable {
    public let index: Int32
    public let name: String
    public let mtu: UInt32?
    /// The hardware address when it is a 6-byte Ethernet address (nil for e.g. `ip6tnl`).
    public let macAddress: MACAddress?
    /// `ifi_flags` (IFF_UP, IFF_LOWER_UP, ...).
    public let flags: UInt32
    /// IFLA_INFO_KIND: "veth", "bridge", ... (nil for devices without link info, like `lo`).
    public let kind: String?

    /// Administratively up (IFF_UP).
    public var isUp: Bool { flags & UInt32(IFF_UP) != 0 }

    /// Size of `struct ifinfomsg`.
    static let headerSize = 16

    /// Decodes the payload of an RTM_NEWLINK message (ifinfomsg + attributes).
    public init(newLinkPayload payload: ArraySlice<UInt8>) throws(NetlinkError) {
        guard payload.count >= Link.headerSize else {
            throw .malformedReply(.truncated(needed: Link.headerSize, available: payload.count))
        }
        let base = payload.startIndex
        index = payload.loadNative(Int32.self, at: base + 4)
        flags = payload.loadNative(UInt32.self, at: base + 8)
        var name: String?, mtu: UInt32?, mac: MACAddress?, kind: String?
        for attribute in try NetlinkAttribute.split(payload[(base + Link.headerSize)...]) {
            switch attribute.type {
            case UInt16(IFLA_IFNAME):
                name = attribute.string()
            case UInt16(IFLA_MTU):
                mtu = try attribute.uint32()
            case UInt16(IFLA_ADDRESS) where attribute.payload.count == 6:
                let b = Array(attribute.payload)
                mac = MACAddress(b[0], b[1], b[2], b[3], b[4], b[5])
            case UInt16(IFLA_LINKINFO):
                for info in try NetlinkAttribute.split(attribute.payload) where info.type == UInt16(IFLA_INFO_KIND) {
                    kind = info.string()
                }
            default:
                break
            }
        }
        // Every RTM_NEWLINK the kernel sends names the link (rtnl_fill_ifinfo puts IFLA_IFNAME first).
        guard let name else { throw .malformedReply(.badAttribute(type: UInt16(IFLA_IFNAME), length: 0)) }
        self.name = name
        self.mtu = mtu
        self.macAddress = mac
        self.kind = kind
    }
}
