import CNetShims
import Wire

#if canImport(Glibc)
    import Glibc
#endif

/// An rtnetlink client bound to one network namespace: veth pairs, link settings, addresses
/// and routes, with no `ip` binary. Every change is acknowledged by the kernel (NLM_F_ACK);
/// a refusal throws `NetlinkError.kernel` carrying the kernel's errno.
///
///     let netlink = try RouteNetlink(in: .fileDescriptor(sandboxNetns))
///     try netlink.createVethPair(name: "sb0", peerName: "eth0", peerNamespace: .process(appPid))
///
/// One request at a time: not Sendable; give each thread its own client.
public final class RouteNetlink {
    private let socket: NetlinkSocket

    /// Opens a NETLINK_ROUTE socket in `namespace` (see `NetworkNamespace` for how a foreign
    /// namespace is entered without moving the caller's thread). Needs CAP_NET_ADMIN there for
    /// any change.
    public init(in namespace: NetworkNamespace = .current) throws(NetlinkError) {
        socket = try NetlinkSocket(in: namespace)
    }

    /// A client over a NETLINK_ROUTE socket someone else opened, e.g. one the sandbox's init
    /// made inside the app's namespace and passed back over SCM_RIGHTS (which also works
    /// rootless, where setns into that namespace would not). The client works on a close-on-exec
    /// duplicate: the caller keeps `socket` and closes it when it likes, but must not send on it
    /// while the client lives (both descriptors are one socket: replies would interleave).
    public init(duplicating socket: Int32) throws(NetlinkError) {
        self.socket = NetlinkSocket(owning: try NamespaceSocketOpener.duplicateRouteSocket(socket))
    }

    /// The socket's descriptor (close-on-exec; closed when the client is released).
    public var fileDescriptor: Int32 { socket.fd }

    // MARK: Links

    /// Creates a veth pair. `name` lives in `namespace` (the client's own by default);
    /// `peerName` is created directly inside `peerNamespace`, so it never appears elsewhere.
    public func createVethPair(
        name: String, peerName: String,
        namespace: NetworkNamespace = .current,
        peerNamespace: NetworkNamespace = .current,
        mtu: UInt32? = nil
    ) throws(NetlinkError) {
        try Self.checkInterfaceName(name)
        try Self.checkInterfaceName(peerName)
        let target = try NamespaceAttribute(namespace)
        defer { target.release() }
        let peerTarget = try NamespaceAttribute(peerNamespace)
        defer { peerTarget.release() }

        var message = MessageBuilder(
            type: UInt16(RTM_NEWLINK),
            flags: Self.changeFlags | UInt16(NLM_F_CREATE | NLM_F_EXCL))
        message.appendInterfaceInfo()
        message.attribute(UInt16(IFLA_IFNAME), string: name)
        if let mtu { message.attribute(UInt16(IFLA_MTU), integer: mtu) }
        target.emit(into: &message)
        message.nested(UInt16(IFLA_LINKINFO)) { info in
            info.attribute(UInt16(IFLA_INFO_KIND), string: "veth")
            info.nested(UInt16(IFLA_INFO_DATA)) { data in
                // VETH_INFO_PEER carries a whole ifinfomsg and then the peer's own attributes.
                data.nested(UInt16(VETH_INFO_PEER)) { peer in
                    peer.appendInterfaceInfo()
                    peer.attribute(UInt16(IFLA_IFNAME), string: peerName)
                    if let mtu { peer.attribute(UInt16(IFLA_MTU), integer: mtu) }
                    peerTarget.emit(into: &peer)
                }
            }
        }
        _ = try socket.transact(message, kind: .newLink, shape: .acknowledgement)
    }

    /// Deletes a link. Deleting one end of a veth pair deletes both.
    public func deleteLink(index: Int32) throws(NetlinkError) {
        var message = MessageBuilder(type: UInt16(RTM_DELLINK), flags: Self.changeFlags)
        message.appendInterfaceInfo(index: index)
        _ = try socket.transact(message, kind: .delLink, shape: .acknowledgement)
    }

    /// Sets the link administratively up or down (IFF_UP).
    public func setLinkUp(index: Int32, _ up: Bool = true) throws(NetlinkError) {
        try changeLink(index: index, flags: up ? UInt32(IFF_UP) : 0, change: UInt32(IFF_UP)) { _ in }
    }

    public func setMTU(index: Int32, _ mtu: UInt32) throws(NetlinkError) {
        try changeLink(index: index) { $0.attribute(UInt16(IFLA_MTU), integer: mtu) }
    }

    public func setMACAddress(index: Int32, _ address: MACAddress) throws(NetlinkError) {
        let octets = (0..<6).map(address.octet)
        try changeLink(index: index) { $0.attribute(UInt16(IFLA_ADDRESS), bytes: octets) }
    }

    /// Renames a link (the kernel refuses with EBUSY while it is up).
    public func renameLink(index: Int32, to name: String) throws(NetlinkError) {
        try Self.checkInterfaceName(name)
        try changeLink(index: index) { $0.attribute(UInt16(IFLA_IFNAME), string: name) }
    }

    /// Moves a link into another namespace, optionally renaming it on the way (so a host-side
    /// name can become `eth0` without a clash with a link already named so).
    public func moveLink(index: Int32, to namespace: NetworkNamespace, newName: String? = nil) throws(NetlinkError) {
        guard namespace != .current else { throw .invalidArgument("moveLink needs a target namespace") }
        if let newName { try Self.checkInterfaceName(newName) }
        let target = try NamespaceAttribute(namespace)
        defer { target.release() }
        try changeLink(index: index) { message in
            target.emit(into: &message)
            if let newName { message.attribute(UInt16(IFLA_IFNAME), string: newName) }
        }
    }

    /// The link named `name`; ENODEV (as `.kernel`) when there is none.
    public func link(named name: String) throws(NetlinkError) -> Link {
        try Self.checkInterfaceName(name)
        var message = MessageBuilder(type: UInt16(RTM_GETLINK), flags: UInt16(NLM_F_REQUEST))
        message.appendInterfaceInfo()
        message.attribute(UInt16(IFLA_IFNAME), string: name)
        message.attribute(UInt16(IFLA_EXT_MASK), integer: UInt32(RTEXT_FILTER_SKIP_STATS))
        return try singleLink(message)
    }

    /// The link with index `index`; ENODEV (as `.kernel`) when there is none.
    public func link(index: Int32) throws(NetlinkError) -> Link {
        var message = MessageBuilder(type: UInt16(RTM_GETLINK), flags: UInt16(NLM_F_REQUEST))
        message.appendInterfaceInfo(index: index)
        message.attribute(UInt16(IFLA_EXT_MASK), integer: UInt32(RTEXT_FILTER_SKIP_STATS))
        return try singleLink(message)
    }

    /// The index of the link named `name` (within this client's namespace).
    public func index(of name: String) throws(NetlinkError) -> Int32 {
        try link(named: name).index
    }

    /// Every link of the namespace (an RTM_GETLINK dump).
    public func links() throws(NetlinkError) -> [Link] {
        var message = MessageBuilder(type: UInt16(RTM_GETLINK), flags: UInt16(NLM_F_REQUEST | NLM_F_DUMP))
        message.appendInterfaceInfo()
        message.attribute(UInt16(IFLA_EXT_MASK), integer: UInt32(RTEXT_FILTER_SKIP_STATS))
        var result: [Link] = []
        for reply in try socket.transact(message, kind: .getLink, shape: .dump) {
            guard reply.type == UInt16(RTM_NEWLINK) else { throw .malformedReply(.unexpectedType(reply.type)) }
            result.append(try Link(newLinkPayload: reply.payload))
        }
        return result
    }

    // MARK: Addresses and routes

    /// Adds `address/prefixLength` to a link. IFA_LOCAL and IFA_ADDRESS are both the address
    /// (a broadcast link, not point-to-point), with the broadcast address of the subnet.
    public func addAddress(_ address: IPv4Address, prefixLength: UInt8, index: Int32) throws(NetlinkError) {
        guard prefixLength <= 32 else { throw .invalidArgument("IPv4 prefix length \(prefixLength) > 32") }
        var message = MessageBuilder(
            type: UInt16(RTM_NEWADDR),
            flags: Self.changeFlags | UInt16(NLM_F_CREATE | NLM_F_EXCL))
        message.appendInterfaceAddress(
            family: UInt8(AF_INET), prefixLength: prefixLength, flags: 0,
            scope: UInt8(RT_SCOPE_UNIVERSE.rawValue), index: index)
        message.attribute(UInt16(IFA_LOCAL), bytes: Self.octets(address))
        message.attribute(UInt16(IFA_ADDRESS), bytes: Self.octets(address))
        if prefixLength < 31 {
            let hostMask: UInt32 = prefixLength == 0 ? .max : (1 << (32 - UInt32(prefixLength))) &- 1
            message.attribute(
                UInt16(IFA_BROADCAST), bytes: Self.octets(IPv4Address(rawValue: address.rawValue | hostMask)))
        }
        _ = try socket.transact(message, kind: .newAddress, shape: .acknowledgement)
    }

    /// Adds `address/prefixLength` to a link. With `skipDuplicateAddressDetection` (IFA_F_NODAD)
    /// the address is usable at once instead of staying tentative for the DAD interval, which is
    /// what a sandbox whose link has exactly one other end wants.
    public func addAddress(
        _ address: IPv6Address, prefixLength: UInt8, index: Int32,
        skipDuplicateAddressDetection: Bool = true
    ) throws(NetlinkError) {
        guard prefixLength <= 128 else { throw .invalidArgument("IPv6 prefix length \(prefixLength) > 128") }
        let flags: UInt32 = skipDuplicateAddressDetection ? UInt32(IFA_F_NODAD) : 0
        var message = MessageBuilder(
            type: UInt16(RTM_NEWADDR),
            flags: Self.changeFlags | UInt16(NLM_F_CREATE | NLM_F_EXCL))
        message.appendInterfaceAddress(
            family: UInt8(AF_INET6), prefixLength: prefixLength,
            flags: UInt8(truncatingIfNeeded: flags),
            scope: UInt8(RT_SCOPE_UNIVERSE.rawValue), index: index)
        message.attribute(UInt16(IFA_ADDRESS), bytes: Self.octets(address))
        message.attribute(UInt16(IFA_FLAGS), integer: flags)
        _ = try socket.transact(message, kind: .newAddress, shape: .acknowledgement)
    }

    /// Adds the default route (0.0.0.0/0) via `gateway`, out of link `index`, in the main table.
    public func addDefaultRoute(via gateway: IPv4Address, index: Int32) throws(NetlinkError) {
        try addDefaultRoute(family: UInt8(AF_INET), gateway: Self.octets(gateway), index: index)
    }

    /// Adds the default route (::/0) via `gateway`, out of link `index`, in the main table.
    public func addDefaultRoute(via gateway: IPv6Address, index: Int32) throws(NetlinkError) {
        try addDefaultRoute(family: UInt8(AF_INET6), gateway: Self.octets(gateway), index: index)
    }

    // MARK: Helpers

    /// Every change asks for an acknowledgement, so success is confirmed, not assumed.
    private static let changeFlags = UInt16(NLM_F_REQUEST | NLM_F_ACK)

    private func addDefaultRoute(family: UInt8, gateway: [UInt8], index: Int32) throws(NetlinkError) {
        var message = MessageBuilder(
            type: UInt16(RTM_NEWROUTE),
            flags: Self.changeFlags | UInt16(NLM_F_CREATE | NLM_F_EXCL))
        message.appendRouteMessage(
            family: family, destinationLength: 0,
            table: UInt8(RT_TABLE_MAIN.rawValue), protocol: UInt8(RTPROT_BOOT),
            scope: UInt8(RT_SCOPE_UNIVERSE.rawValue), type: UInt8(RTN_UNICAST))
        message.attribute(UInt16(RTA_GATEWAY.rawValue), bytes: gateway)
        message.attribute(UInt16(RTA_OIF.rawValue), integer: UInt32(bitPattern: index))
        _ = try socket.transact(message, kind: .newRoute, shape: .acknowledgement)
    }

    private func changeLink(
        index: Int32, flags: UInt32 = 0, change: UInt32 = 0,
        _ attributes: (inout MessageBuilder) -> Void
    ) throws(NetlinkError) {
        var message = MessageBuilder(type: UInt16(RTM_NEWLINK), flags: Self.changeFlags)
        message.appendInterfaceInfo(index: index, flags: flags, change: change)
        attributes(&message)
        _ = try socket.transact(message, kind: .setLink, shape: .acknowledgement)
    }

    private func singleLink(_ message: MessageBuilder) throws(NetlinkError) -> Link {
        let replies = try socket.transact(message, kind: .getLink, shape: .single)
        guard let reply = replies.first else { throw .malformedReply(.truncated(needed: 1, available: 0)) }
        guard reply.type == UInt16(RTM_NEWLINK) else { throw .malformedReply(.unexpectedType(reply.type)) }
        return try Link(newLinkPayload: reply.payload)
    }

    /// Interface names are 1...15 bytes (IFNAMSIZ - 1) without NUL, '/', ':' or white space,
    /// as dev_valid_name() in the kernel requires; checked here for a clear local error.
    static func checkInterfaceName(_ name: String) throws(NetlinkError) {
        let bytes = Array(name.utf8)
        guard (1...15).contains(bytes.count), name != ".", name != "..",
            !bytes.contains(where: {
                $0 == 0 || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") || $0 <= 0x20 || $0 == 0x7F
            })
        else { throw .invalidArgument("interface name \"\(name)\" (1 to 15 bytes, no '/', ':', NUL or white space)") }
    }

    static func octets(_ address: IPv4Address) -> [UInt8] {
        withUnsafeBytes(of: address.rawValue.bigEndian) { Array($0) }
    }

    static func octets(_ address: IPv6Address) -> [UInt8] {
        withUnsafeBytes(of: address.high.bigEndian) { Array($0) }
            + withUnsafeBytes(of: address.low.bigEndian) { Array($0) }
    }
}

/// How a request names a namespace: IFLA_NET_NS_FD for a descriptor (a path is opened for the
/// request and closed after), IFLA_NET_NS_PID for a process, nothing for the socket's own.
private struct NamespaceAttribute {
    private enum Form {
        case none
        case descriptor(Int32, owned: Bool)
        case process(Int32)
    }
    private let form: Form

    init(_ namespace: NetworkNamespace) throws(NetlinkError) {
        switch namespace {
        case .current: form = .none
        case .fileDescriptor(let fd): form = .descriptor(fd, owned: false)
        case .path(let path): form = .descriptor(try NamespaceSocketOpener.openNamespaceFile(path), owned: true)
        case .process(let pid): form = .process(pid)
        }
    }

    func emit(into message: inout MessageBuilder) {
        switch form {
        case .none: break
        case .descriptor(let fd, _): message.attribute(UInt16(IFLA_NET_NS_FD), integer: UInt32(bitPattern: fd))
        case .process(let pid): message.attribute(UInt16(IFLA_NET_NS_PID), integer: UInt32(bitPattern: pid))
        }
    }

    func release() {
        if case .descriptor(let fd, owned: true) = form { close(fd) }
    }
}
