// Neighbor Discovery (RFC 4861): Router Solicitation/Advertisement, Neighbor
// Solicitation/Advertisement, and their options. Redirect is left to ICMPv6Repr.other.
//
//   RS  0 type 133  1 code  2 checksum  4 reserved(4)                                  8 options
//   RA  0 type 134 ... 4 cur hop limit  5 flags  6 router lifetime  8 reachable  12 retrans  16 options
//   NS  0 type 135 ... 4 reserved(4)  8 target (16)                                    24 options
//   NA  0 type 136 ... 4 R S O flags, reserved  8 target (16)                          24 options
//   option: 0 type  1 length in 8-octet units (0 is invalid)  2 ...

/// NDP option types (RFC 4861 4.6, RFC 3971 5.3.2 for the nonce).
public enum NDPOptionType {
    @inlinable public static var sourceLinkLayerAddress: UInt8 { 1 }
    @inlinable public static var targetLinkLayerAddress: UInt8 { 2 }
    @inlinable public static var prefixInformation: UInt8 { 3 }
    @inlinable public static var mtu: UInt8 { 5 }
    @inlinable public static var nonce: UInt8 { 14 }
}

/// The Prefix Information option (RFC 4861 4.6.2).
public struct NDPPrefixInformation: Sendable, Hashable {
    public var prefixLength: UInt8
    /// L (on-link) 0x80, A (autonomous address configuration) 0x40, the rest as received.
    public var flags: UInt8
    public var validLifetime: UInt32
    public var preferredLifetime: UInt32
    public var prefix: IPv6Address

    @inlinable public init(
        prefix: IPv6Address, prefixLength: UInt8, onLink: Bool = true, autonomous: Bool = true,
        validLifetime: UInt32, preferredLifetime: UInt32
    ) {
        self.prefix = prefix
        self.prefixLength = prefixLength
        self.flags = (onLink ? 0x80 : 0) | (autonomous ? 0x40 : 0)
        self.validLifetime = validLifetime
        self.preferredLifetime = preferredLifetime
    }

    @inlinable public var onLink: Bool { flags & 0x80 != 0 }
    @inlinable public var autonomous: Bool { flags & 0x40 != 0 }
}

/// Up to four prefixes stored inline (no heap). Further Prefix Information options in one RA
/// are ignored; an RA carrying more is not something this gateway needs to follow.
public struct NDPPrefixes: RandomAccessCollection, Hashable, Sendable {
    @inlinable public static var capacity: Int { 4 }
    @usableFromInline var storage:
        (NDPPrefixInformation?, NDPPrefixInformation?, NDPPrefixInformation?, NDPPrefixInformation?)
    @usableFromInline var storedCount: Int

    @inlinable public init() {
        storage = (nil, nil, nil, nil)
        storedCount = 0
    }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { storedCount }

    @inlinable public subscript(index: Int) -> NDPPrefixInformation {
        precondition(index >= 0 && index < storedCount, "prefix index out of range")
        let slot: NDPPrefixInformation?
        switch index {
        case 0: slot = storage.0
        case 1: slot = storage.1
        case 2: slot = storage.2
        default: slot = storage.3
        }
        guard let slot else { preconditionFailure("prefix slot empty below count") }
        return slot
    }

    /// Appends a prefix; returns false (and changes nothing) when all slots are taken.
    @inlinable @discardableResult public mutating func append(_ prefix: NDPPrefixInformation) -> Bool {
        switch storedCount {
        case 0: storage.0 = prefix
        case 1: storage.1 = prefix
        case 2: storage.2 = prefix
        case 3: storage.3 = prefix
        default: return false
        }
        storedCount += 1
        return true
    }

    @inlinable public static func == (a: NDPPrefixes, b: NDPPrefixes) -> Bool { a.elementsEqual(b) }
    @inlinable public func hash(into hasher: inout Hasher) {
        hasher.combine(storedCount)
        for prefix in self { hasher.combine(prefix) }
    }
}

public struct NDPRouterSolicitation: Sendable, Hashable {
    public var sourceLinkAddress: MACAddress?
    @inlinable public init(sourceLinkAddress: MACAddress? = nil) { self.sourceLinkAddress = sourceLinkAddress }
}

public struct NDPRouterAdvertisement: Sendable, Hashable {
    /// Cur Hop Limit; 0 means unspecified.
    public var currentHopLimit: UInt8
    /// M 0x80 (managed), O 0x40 (other configuration), the rest as received.
    public var flags: UInt8
    /// Seconds; 0 means "not a default router".
    public var routerLifetime: UInt16
    /// Milliseconds; 0 means unspecified.
    public var reachableTime: UInt32
    /// Milliseconds; 0 means unspecified.
    public var retransTimer: UInt32
    public var sourceLinkAddress: MACAddress?
    public var mtu: UInt32?
    public var prefixes: NDPPrefixes

    @inlinable public init(
        currentHopLimit: UInt8 = 64, flags: UInt8 = 0, routerLifetime: UInt16, reachableTime: UInt32 = 0,
        retransTimer: UInt32 = 0, sourceLinkAddress: MACAddress? = nil, mtu: UInt32? = nil,
        prefixes: NDPPrefixes = NDPPrefixes()
    ) {
        self.currentHopLimit = currentHopLimit
        self.flags = flags
        self.routerLifetime = routerLifetime
        self.reachableTime = reachableTime
        self.retransTimer = retransTimer
        self.sourceLinkAddress = sourceLinkAddress
        self.mtu = mtu
        self.prefixes = prefixes
    }

    @inlinable public var managed: Bool { flags & 0x80 != 0 }
    @inlinable public var otherConfiguration: Bool { flags & 0x40 != 0 }
}

public struct NDPNeighborSolicitation: Sendable, Hashable {
    public var target: IPv6Address
    public var sourceLinkAddress: MACAddress?
    /// The 48-bit nonce of duplicate address detection probes (RFC 7527; option of RFC 3971).
    public var nonce: UInt64?

    @inlinable public init(target: IPv6Address, sourceLinkAddress: MACAddress? = nil, nonce: UInt64? = nil) {
        self.target = target
        self.sourceLinkAddress = sourceLinkAddress
        self.nonce = nonce
    }
}

public struct NDPNeighborAdvertisement: Sendable, Hashable {
    /// R: the sender is a router.
    public var router: Bool
    /// S: sent in response to a solicitation.
    public var solicited: Bool
    /// O: override an existing cache entry.
    public var override: Bool
    public var target: IPv6Address
    public var targetLinkAddress: MACAddress?

    @inlinable public init(
        router: Bool = false, solicited: Bool, override: Bool, target: IPv6Address,
        targetLinkAddress: MACAddress? = nil
    ) {
        self.router = router
        self.solicited = solicited
        self.override = override
        self.target = target
        self.targetLinkAddress = targetLinkAddress
    }
}

/// A Neighbor Discovery message as values: the whole ICMPv6 message, options included.
public enum NDPRepr: Sendable, Hashable {
    case routerSolicitation(NDPRouterSolicitation)
    case routerAdvertisement(NDPRouterAdvertisement)
    case neighborSolicitation(NDPNeighborSolicitation)
    case neighborAdvertisement(NDPNeighborAdvertisement)

    @inlinable public static var routerSolicitationType: UInt8 { 133 }
    @inlinable public static var routerAdvertisementType: UInt8 { 134 }
    @inlinable public static var neighborSolicitationType: UInt8 { 135 }
    @inlinable public static var neighborAdvertisementType: UInt8 { 136 }

    /// Parses the ICMPv6 message `bytes` (type at offset 0) of an NDP type; nil for other types.
    /// The code must be 0 and the fixed part must fit (RFC 4861 6.1.1, 7.1.1 validity checks;
    /// the hop limit 255 check needs the IPv6 header and is the caller's). A zero option length
    /// is `.malformed` ("nodes MUST silently discard an ND packet that contains an option with
    /// length zero"); unknown options and options that do not belong to the message are skipped.
    /// A multicast NS/NA target is `.malformed`.
    @inlinable public static func parse(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> NDPRepr? {
        guard bytes.count >= 4 else { throw .truncated }
        let type = bytes.u8(0)
        let fixed: Int
        switch type {
        case routerSolicitationType: fixed = 8
        case routerAdvertisementType: fixed = 16
        case neighborSolicitationType, neighborAdvertisementType: fixed = 24
        default: return nil
        }
        guard bytes.u8(1) == 0 else { throw .malformed }
        guard bytes.count >= fixed else { throw .truncated }

        var sourceLink: MACAddress?, targetLink: MACAddress?, mtu: UInt32?, nonce: UInt64?
        var prefixes = NDPPrefixes()
        var offset = fixed
        // Each option is at least 8 bytes long, so the loop ends within bytes.count / 8 rounds.
        while offset < bytes.count {
            guard offset + 2 <= bytes.count else { throw .truncated }
            let optionType = bytes.u8(offset)
            let length = Int(bytes.u8(offset + 1)) * 8
            guard length > 0 else { throw .malformed }
            guard offset + length <= bytes.count else { throw .truncated }
            switch optionType {
            case NDPOptionType.sourceLinkLayerAddress where length == 8:
                sourceLink = bytes.mac(offset + 2)
            case NDPOptionType.targetLinkLayerAddress where length == 8:
                targetLink = bytes.mac(offset + 2)
            case NDPOptionType.mtu:
                guard length == 8 else { throw .malformed }
                mtu = bytes.u32(offset + 4)
            case NDPOptionType.prefixInformation:
                guard length == 32 else { throw .malformed }
                var prefix = NDPPrefixInformation(
                    prefix: bytes.ipv6(offset + 16), prefixLength: bytes.u8(offset + 2),
                    validLifetime: bytes.u32(offset + 4),
                    preferredLifetime: bytes.u32(offset + 8))
                prefix.flags = bytes.u8(offset + 3)
                prefixes.append(prefix)
            case NDPOptionType.nonce where length == 8:
                nonce = UInt64(bytes.u16(offset + 2)) << 32 | UInt64(bytes.u32(offset + 4))
            default:
                break
            }
            offset += length
        }

        switch type {
        case routerSolicitationType:
            return .routerSolicitation(NDPRouterSolicitation(sourceLinkAddress: sourceLink))
        case routerAdvertisementType:
            return .routerAdvertisement(
                NDPRouterAdvertisement(
                    currentHopLimit: bytes.u8(4), flags: bytes.u8(5), routerLifetime: bytes.u16(6),
                    reachableTime: bytes.u32(8), retransTimer: bytes.u32(12), sourceLinkAddress: sourceLink,
                    mtu: mtu, prefixes: prefixes))
        case neighborSolicitationType:
            let target = bytes.ipv6(8)
            guard !target.isMulticast else { throw .malformed }
            return .neighborSolicitation(
                NDPNeighborSolicitation(target: target, sourceLinkAddress: sourceLink, nonce: nonce))
        default:
            let target = bytes.ipv6(8)
            guard !target.isMulticast else { throw .malformed }
            let flags = bytes.u8(4)
            return .neighborAdvertisement(
                NDPNeighborAdvertisement(
                    router: flags & 0x80 != 0, solicited: flags & 0x40 != 0, override: flags & 0x20 != 0,
                    target: target, targetLinkAddress: targetLink))
        }
    }

    /// The whole message's length, options included.
    @inlinable public var length: Int {
        switch self {
        case let .routerSolicitation(rs):
            return 8 + (rs.sourceLinkAddress == nil ? 0 : 8)
        case let .routerAdvertisement(ra):
            return 16 + (ra.sourceLinkAddress == nil ? 0 : 8) + (ra.mtu == nil ? 0 : 8) + 32 * ra.prefixes.count
        case let .neighborSolicitation(ns):
            return 24 + (ns.sourceLinkAddress == nil ? 0 : 8) + (ns.nonce == nil ? 0 : 8)
        case let .neighborAdvertisement(na):
            return 24 + (na.targetLinkAddress == nil ? 0 : 8)
        }
    }

    @inlinable public var type: UInt8 {
        switch self {
        case .routerSolicitation: NDPRepr.routerSolicitationType
        case .routerAdvertisement: NDPRepr.routerAdvertisementType
        case .neighborSolicitation: NDPRepr.neighborSolicitationType
        case .neighborAdvertisement: NDPRepr.neighborAdvertisementType
        }
    }

    /// Writes the message (checksum field zero) into the first `length` bytes of `buffer`.
    /// Options go in a fixed order: link-layer address, then MTU, prefixes, nonce.
    @inlinable public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= length, "NDP message does not fit")
        buffer.put8(type, at: 0)
        buffer.put8(0, at: 1)
        buffer.put16(0, at: 2)
        var offset: Int
        switch self {
        case let .routerSolicitation(rs):
            buffer.put32(0, at: 4)
            offset = 8
            NDPRepr.putLinkAddress(rs.sourceLinkAddress, type: NDPOptionType.sourceLinkLayerAddress, buffer, &offset)
        case let .routerAdvertisement(ra):
            buffer.put8(ra.currentHopLimit, at: 4)
            buffer.put8(ra.flags, at: 5)
            buffer.put16(ra.routerLifetime, at: 6)
            buffer.put32(ra.reachableTime, at: 8)
            buffer.put32(ra.retransTimer, at: 12)
            offset = 16
            NDPRepr.putLinkAddress(ra.sourceLinkAddress, type: NDPOptionType.sourceLinkLayerAddress, buffer, &offset)
            if let mtu = ra.mtu {
                buffer.put8(NDPOptionType.mtu, at: offset)
                buffer.put8(1, at: offset + 1)
                buffer.put16(0, at: offset + 2)
                buffer.put32(mtu, at: offset + 4)
                offset += 8
            }
            for prefix in ra.prefixes {
                buffer.put8(NDPOptionType.prefixInformation, at: offset)
                buffer.put8(4, at: offset + 1)
                buffer.put8(prefix.prefixLength, at: offset + 2)
                buffer.put8(prefix.flags, at: offset + 3)
                buffer.put32(prefix.validLifetime, at: offset + 4)
                buffer.put32(prefix.preferredLifetime, at: offset + 8)
                buffer.put32(0, at: offset + 12)
                buffer.putIPv6(prefix.prefix, at: offset + 16)
                offset += 32
            }
        case let .neighborSolicitation(ns):
            buffer.put32(0, at: 4)
            buffer.putIPv6(ns.target, at: 8)
            offset = 24
            NDPRepr.putLinkAddress(ns.sourceLinkAddress, type: NDPOptionType.sourceLinkLayerAddress, buffer, &offset)
            if let nonce = ns.nonce {
                buffer.put8(NDPOptionType.nonce, at: offset)
                buffer.put8(1, at: offset + 1)
                buffer.put16(UInt16(truncatingIfNeeded: nonce >> 32), at: offset + 2)
                buffer.put32(UInt32(truncatingIfNeeded: nonce), at: offset + 4)
                offset += 8
            }
        case let .neighborAdvertisement(na):
            let flags: UInt8 = (na.router ? 0x80 : 0) | (na.solicited ? 0x40 : 0) | (na.override ? 0x20 : 0)
            buffer.put32(UInt32(flags) << 24, at: 4)
            buffer.putIPv6(na.target, at: 8)
            offset = 24
            NDPRepr.putLinkAddress(na.targetLinkAddress, type: NDPOptionType.targetLinkLayerAddress, buffer, &offset)
        }
    }

    @inlinable static func putLinkAddress(
        _ address: MACAddress?, type: UInt8, _ buffer: UnsafeMutableRawBufferPointer,
        _ offset: inout Int
    ) {
        guard let address else { return }
        buffer.put8(type, at: offset)
        buffer.put8(1, at: offset + 1)
        buffer.putMAC(address, at: offset + 2)
        offset += 8
    }
}
