// IPv6 extension headers (RFC 8200 section 4): the walk from the fixed header to the upper
// layer, and the Fragment header.
//
//   hop-by-hop / routing / destination options: 0 next header  1 length in 8-octet units,
//       not counting the first 8   2 ...
//   fragment: 0 next header  1 reserved  2 offset(13) res(2) M(1)  4 identification (32)

/// The Fragment header (RFC 8200 4.5) as values.
public struct IPv6FragmentHeaderRepr: Sendable, Hashable {
    /// The header that starts the fragmentable part.
    public var nextHeader: IPProtocol
    /// In bytes; a multiple of 8.
    public var fragmentOffset: Int
    public var moreFragments: Bool
    public var identification: UInt32

    @inlinable public static var length: Int { 8 }

    @inlinable public init(nextHeader: IPProtocol, fragmentOffset: Int, moreFragments: Bool, identification: UInt32) {
        self.nextHeader = nextHeader
        self.fragmentOffset = fragmentOffset
        self.moreFragments = moreFragments
        self.identification = identification
    }

    /// Reads the 8-byte header at the start of `bytes`.
    @inlinable public static func parse(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> IPv6FragmentHeaderRepr {
        guard bytes.count >= 8 else { throw .truncated }
        let offsetAndFlags = bytes.u16(2)
        return IPv6FragmentHeaderRepr(
            nextHeader: IPProtocol(rawValue: bytes.u8(0)),
            fragmentOffset: Int(offsetAndFlags & 0xFFF8),
            moreFragments: offsetAndFlags & 1 != 0,
            identification: bytes.u32(4))
    }

    /// Writes the 8-byte header into the start of `buffer`.
    @inlinable public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= 8, "fragment header does not fit")
        precondition(fragmentOffset >= 0 && fragmentOffset & 7 == 0 && fragmentOffset <= 0xFFF8, "bad fragment offset")
        buffer.put8(nextHeader.rawValue, at: 0)
        buffer.put8(0, at: 1)
        buffer.put16(UInt16(fragmentOffset) | (moreFragments ? 1 : 0), at: 2)
        buffer.put32(identification, at: 4)
    }
}

/// Finds the upper-layer header behind a chain of extension headers.
public enum IPv6ExtensionWalk {
    /// More extension headers than this is `.malformed`: RFC 8200 4.1 recommends an order with
    /// each type at most once (destination options twice), so a real packet has at most six.
    @inlinable public static var maximumHeaders: Int { 8 }

    /// Walks the packet's extension headers. Returns the upper-layer protocol, its offset within
    /// `packet.payload`, and the Fragment header if one was met.
    ///
    /// The walk stops after a Fragment header: what follows it is the fragmentable part, which
    /// is only complete after reassembly (walk it then with `walk(firstHeader:in:)`). A Routing
    /// header with Segments Left > 0 is `.unsupported`: we forward nothing, and RFC 8200 4.4
    /// says such a packet is not for us to deliver. A Hop-by-Hop header anywhere but first is
    /// `.malformed` (RFC 8200 4.3: it "must immediately follow the IPv6 header").
    @inlinable public static func walk(_ packet: IPv6Packet) throws(WireError)
        -> (upperLayer: IPProtocol, offset: Int, fragment: IPv6FragmentHeaderRepr?)
    {
        try walk(firstHeader: packet.nextHeader, in: packet.payload)
    }

    /// Walks the headers in `bytes`, the first of type `firstHeader`. Bounded: each header
    /// consumes at least 8 bytes and at most `maximumHeaders` are read.
    @inlinable public static func walk(firstHeader: IPProtocol, in bytes: UnsafeRawBufferPointer) throws(WireError)
        -> (upperLayer: IPProtocol, offset: Int, fragment: IPv6FragmentHeaderRepr?)
    {
        var next = firstHeader
        var offset = 0
        var seen = 0
        while true {
            switch next {
            case .hopByHop, .routing, .destinationOptions:
                if next == .hopByHop && seen > 0 { throw .malformed }
                guard offset + 8 <= bytes.count else { throw .truncated }
                let length = (Int(bytes.u8(offset + 1)) + 1) * 8
                guard offset + length <= bytes.count else { throw .truncated }
                // Routing header: 2 routing type, 3 segments left.
                if next == .routing && bytes.u8(offset + 3) != 0 { throw .unsupported }
                next = IPProtocol(rawValue: bytes.u8(offset))
                offset += length
            case .fragment:
                let fragment = try IPv6FragmentHeaderRepr.parse(bytes.suffix(from: offset))
                return (fragment.nextHeader, offset + 8, fragment)
            default:
                return (next, offset, nil)
            }
            seen += 1
            if seen > maximumHeaders { throw .malformed }
        }
    }
}
