// struct virtio_net_hdr (the legacy 10-byte form that PACKET_VNET_HDR and TUN IFF_VNET_HDR use),
// mapped to and from Link's GSOInfo. Fields are in host byte order (the kernel's vio_le() is
// true on little-endian hosts and the legacy layout is native-endian otherwise).
//
//   0 flags  1 gso_type  2 hdr_len  4 gso_size  6 csum_start  8 csum_offset
//
// csum_start counts from the start of the frame (link header included); GSOInfo.checksumStart
// counts from the network header, so the link header length is added or removed here.

import Link

public enum VirtioNetHeader {
    public static let length = 10

    public static let flagNeedsChecksum: UInt8 = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM
    public static let flagDataValid: UInt8 = 2 // VIRTIO_NET_HDR_F_DATA_VALID
    public static let gsoECN: UInt8 = 0x80 // VIRTIO_NET_HDR_GSO_ECN

    /// What an inbound header says.
    public struct Decoded: Equatable, Sendable {
        public var gso: GSOInfo?
        /// The kernel validated (DATA_VALID) or will not need (NEEDS_CSUM: locally made,
        /// checksum still partial) the transport checksum.
        public var checksumTrusted: Bool

        @inlinable
        public init(gso: GSOInfo?, checksumTrusted: Bool) {
            self.gso = gso
            self.checksumTrusted = checksumTrusted
        }
    }

    public enum DecodeError: Error, Equatable, Sendable {
        case unknownGSOType(UInt8)
        case badOffsets
    }

    /// Decodes the header at the front of `bytes` (which holds at least `length` bytes) of a
    /// frame of `frameLength` bytes after the header.
    @inlinable
    public static func decode(
        _ bytes: UnsafeRawBufferPointer, linkHeaderLength: Int,
        frameLength: Int
    ) throws(DecodeError) -> Decoded {
        let flags = bytes[0]
        let rawType = bytes[1] & ~gsoECN
        let headerLength = UInt16(bytes[2]) | UInt16(bytes[3]) << 8
        let segmentSize = UInt16(bytes[4]) | UInt16(bytes[5]) << 8
        let checksumStart = UInt16(bytes[6]) | UInt16(bytes[7]) << 8
        let checksumOffset = UInt16(bytes[8]) | UInt16(bytes[9]) << 8
        let trusted = flags & (flagNeedsChecksum | flagDataValid) != 0
        guard let kind = GSOInfo.Kind(rawValue: rawType) else { throw .unknownGSOType(rawType) }
        let needsChecksum = flags & flagNeedsChecksum != 0
        var networkChecksumStart: UInt16 = 0
        if needsChecksum {
            // The checksum field (2 bytes) must lie inside the frame, after the link header.
            guard Int(checksumStart) >= linkHeaderLength,
                Int(checksumStart) + Int(checksumOffset) + 2 <= frameLength
            else { throw .badOffsets }
            networkChecksumStart = checksumStart &- UInt16(truncatingIfNeeded: linkHeaderLength)
        }
        if kind == .none { return Decoded(gso: nil, checksumTrusted: trusted) }
        guard segmentSize != 0, Int(headerLength) <= frameLength else { throw .badOffsets }
        let info = GSOInfo(
            kind: kind, headerLength: headerLength, segmentSize: segmentSize,
            checksumStart: networkChecksumStart, checksumOffset: checksumOffset,
            needsChecksum: needsChecksum)
        return Decoded(gso: info, checksumTrusted: trusted)
    }

    /// Writes the header for an outbound packet into the first `length` bytes of `into`.
    @inlinable
    public static func encode(_ gso: GSOInfo?, linkHeaderLength: Int, into: UnsafeMutableRawBufferPointer) {
        guard let gso else {
            for i in 0..<length { into[i] = 0 }
            return
        }
        func put(_ value: UInt16, at offset: Int) {
            into[offset] = UInt8(truncatingIfNeeded: value)
            into[offset + 1] = UInt8(truncatingIfNeeded: value >> 8)
        }
        into[0] = gso.needsChecksum ? flagNeedsChecksum : 0
        into[1] = gso.kind.rawValue
        put(gso.headerLength, at: 2)
        put(gso.kind == .none ? 0 : gso.segmentSize, at: 4)
        put(gso.needsChecksum ? gso.checksumStart &+ UInt16(truncatingIfNeeded: linkHeaderLength) : 0, at: 6)
        put(gso.needsChecksum ? gso.checksumOffset : 0, at: 8)
    }
}
