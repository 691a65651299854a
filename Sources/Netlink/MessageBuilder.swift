// Encoding of rtnetlink requests. Netlink is a host-byte-order protocol (netlink(7)): header
// fields and integer attributes are written in native order; only addresses inside attributes
// are in network order, as the kernel's in_addr/in6_addr are.

/// Netlink aligns every message and every attribute to 4 bytes (NLMSG_ALIGNTO, RTA_ALIGNTO).
@inline(__always) func netlinkAligned(_ length: Int) -> Int { (length + 3) & ~3 }

/// Size of `struct nlmsghdr` and `struct rtattr` on the wire.
let netlinkHeaderSize = 16
let attributeHeaderSize = 4

/// Builds one request: the netlink header, a family header (ifinfomsg, ifaddrmsg, rtmsg), then
/// attributes, nested where the kernel expects nests. Lengths are patched in when a nest or the
/// message is finished, so callers never count bytes.
struct MessageBuilder {
    private(set) var bytes: [UInt8]

    init(type: UInt16, flags: UInt16) {
        bytes = []
        bytes.reserveCapacity(256)
        append(UInt32(0)) // nlmsg_len, patched by finish()
        append(type) // nlmsg_type
        append(flags) // nlmsg_flags
        append(UInt32(0)) // nlmsg_seq, patched by finish()
        append(UInt32(0)) // nlmsg_pid: 0 means "to the kernel"
    }

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    private mutating func padToAlignment() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }

    /// `struct ifinfomsg` (16 bytes): the family header of link requests.
    mutating func appendInterfaceInfo(index: Int32 = 0, flags: UInt32 = 0, change: UInt32 = 0) {
        append(UInt8(0)) // ifi_family: AF_UNSPEC
        append(UInt8(0)) // pad
        append(UInt16(0)) // ifi_type
        append(index) // ifi_index
        append(flags) // ifi_flags
        append(change) // ifi_change: which flags the request changes
    }

    /// `struct ifaddrmsg` (8 bytes): the family header of address requests.
    mutating func appendInterfaceAddress(family: UInt8, prefixLength: UInt8, flags: UInt8, scope: UInt8, index: Int32) {
        append(family)
        append(prefixLength)
        append(flags)
        append(scope)
        append(UInt32(bitPattern: index))
    }

    /// `struct rtmsg` (12 bytes): the family header of route requests.
    mutating func appendRouteMessage(
        family: UInt8, destinationLength: UInt8, table: UInt8,
        protocol: UInt8, scope: UInt8, type: UInt8
    ) {
        append(family)
        append(destinationLength)
        append(UInt8(0)) // rtm_src_len
        append(UInt8(0)) // rtm_tos
        append(table)
        append(`protocol`)
        append(scope)
        append(type)
        append(UInt32(0)) // rtm_flags
    }

    mutating func attribute(_ type: UInt16, bytes payload: some Collection<UInt8>) {
        append(UInt16(attributeHeaderSize + payload.count))
        append(type)
        bytes.append(contentsOf: payload)
        padToAlignment()
    }

    mutating func attribute<T: FixedWidthInteger>(_ type: UInt16, integer value: T) {
        withUnsafeBytes(of: value) { attribute(type, bytes: $0) }
    }

    /// A NUL-terminated string attribute (the kernel's NLA_STRING / IFNAMSIZ names).
    mutating func attribute(_ type: UInt16, string: String) {
        attribute(type, bytes: Array(string.utf8) + [0])
    }

    /// An attribute that holds other attributes (and, for VETH_INFO_PEER, a family header).
    /// rta_len is 16 bits; the nests built here hold a few names and integers, far below that.
    mutating func nested(_ type: UInt16, _ body: (inout MessageBuilder) -> Void) {
        let start = bytes.count
        append(UInt16(0))
        append(type)
        body(&self)
        padToAlignment()
        let length = UInt16(truncatingIfNeeded: bytes.count - start)
        withUnsafeBytes(of: length) { bytes.replaceSubrange(start..<start + 2, with: $0) }
    }

    /// The finished message with its length and sequence number filled in.
    func finish(sequence: UInt32) -> [UInt8] {
        var out = bytes
        withUnsafeBytes(of: UInt32(out.count)) { out.replaceSubrange(0..<4, with: $0) }
        withUnsafeBytes(of: sequence) { out.replaceSubrange(8..<12, with: $0) }
        return out
    }
}
