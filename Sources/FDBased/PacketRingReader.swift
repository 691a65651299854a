// PacketDispatchMode.packetMMap: an AF_PACKET PACKET_RX_RING mapped into our memory. The
// kernel writes frames into ring slots and flips each slot's status word to TP_STATUS_USER;
// we deliver straight from the slot (the dispatcher borrows it) and hand it back by writing
// TP_STATUS_KERNEL. Status words are loaded with acquire and stored with release ordering
// (CNetShims), because the kernel reads and writes them concurrently.
//
// Two layouts (Options.ringVersion): TPACKET_V2, one fixed-size slot per frame, and
// TPACKET_V3, frames packed into blocks that are handed over whole.

import CNetShims
import Glibc
import Link
import Posix

/// Geometry shared by both ring versions.
struct PacketRingGeometry {
    var blockSize: Int
    var blockCount: Int
    var frameSize: Int
    var framesPerBlock: Int
    var mappedLength: Int { blockSize * blockCount }

    private static func roundUp(_ value: Int, to multiple: Int) -> Int { (value + multiple - 1) / multiple * multiple }

    /// The slot size that holds a maximal frame: the kernel puts the network header at
    /// TPACKET_ALIGN(tp_hdrlen + max(maclen, 16)) + vnet header length (net/packet/af_packet.c,
    /// tpacket_rcv), so that offset plus the largest network packet must fit.
    static func frameSize(headerLength: Int, virtioHeaderLength: Int, maxNetworkLength: Int) -> Int {
        let tpHeaderLength = headerLength + MemoryLayout<sockaddr_ll>.size
        let networkOffset = roundUp(tpHeaderLength + 16, to: 16) + virtioHeaderLength
        // 4 spare bytes for a VLAN tag left in the data.
        return roundUp(networkOffset + maxNetworkLength + 4, to: 16)
    }

    static func v2(frameSize: Int, ringSize: Int, pageSize: Int) -> PacketRingGeometry {
        // The kernel backs each block with 2^order pages (alloc_pg_vec: get_order(tp_block_size)),
        // so a block that is not a power-of-two number of pages wastes the rest of its
        // allocation: 65616-byte slots in 17-page blocks used 128 KiB each, half of it idle.
        // Use power-of-two blocks from 128 KiB up to 512 KiB (larger orders are slow to find)
        // and keep the one that wastes least:
        // less memory to zero at start-up and to free at exit (the ring's setup was the largest
        // part of `sandbox run --net=user` start-up).
        var best = PacketRingGeometry(blockSize: 0, blockCount: 0, frameSize: frameSize, framesPerBlock: 0)
        var bestWaste = Int.max
        var blockSize = max(128 << 10, pageSize)
        while blockSize < frameSize { blockSize *= 2 }
        let largest = max(512 << 10, blockSize)
        while blockSize <= largest {
            let framesPerBlock = blockSize / frameSize
            // Waste per frame, compared across block sizes as a fraction of the block.
            let waste = (blockSize - framesPerBlock * frameSize) * 1024 / blockSize
            if waste < bestWaste {
                bestWaste = waste
                best = PacketRingGeometry(
                    blockSize: blockSize, blockCount: max(1, ringSize / blockSize),
                    frameSize: frameSize, framesPerBlock: framesPerBlock)
            }
            blockSize *= 2
        }
        return best
    }

    static func v3(frameSize: Int, ringSize: Int, blockSize requested: Int, pageSize: Int) -> PacketRingGeometry {
        // A block must hold its descriptor plus one maximal frame.
        let blockSize = roundUp(max(requested, frameSize + 64), to: pageSize)
        let blockCount = max(2, ringSize / blockSize)
        return PacketRingGeometry(
            blockSize: blockSize, blockCount: blockCount,
            frameSize: frameSize, framesPerBlock: blockSize / frameSize)
    }
}

/// Maps a configured ring, and unmaps and releases it on deinit.
final class MappedPacketRing {
    let fd: Int32
    let geometry: PacketRingGeometry
    let base: UnsafeMutableRawPointer
    private let version: PacketRingVersion
    /// Options.detachesRingOnClose.
    private let detachOnDeinit: Bool

    /// Sets up the ring on `fd` (PACKET_VERSION, PACKET_RX_RING) and maps it. `configured`:
    /// someone did the set-up already with `configure` and the same arguments (another
    /// process, before the socket was bound: then the kernel needs no RCU grace period for
    /// it); only the mapping is left.
    init(
        fd: Int32, version: PacketRingVersion, virtioHeaderLength: Int, maxNetworkLength: Int,
        ringSize: Int, blockSize: Int, blockTimeoutMilliseconds: Int, detachOnDeinit: Bool,
        configured: Bool = false
    ) throws(PosixError) {
        self.fd = fd
        self.detachOnDeinit = detachOnDeinit
        geometry = Self.geometry(
            version: version, virtioHeaderLength: virtioHeaderLength, maxNetworkLength: maxNetworkLength,
            ringSize: ringSize, blockSize: blockSize)
        if !configured {
            try Self.configure(
                fd: fd, version: version, geometry: geometry, blockTimeoutMilliseconds: blockTimeoutMilliseconds)
        }
        let mapped = mmap(nil, geometry.mappedLength, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let mapped, mapped != MAP_FAILED else {
            let error = errno
            MappedPacketRing.releaseRing(fd: fd, version: version)
            throw PosixError(call: "mmap(PACKET_RX_RING)", errno: error)
        }
        base = mapped
        self.version = version
    }

    static func geometry(
        version: PacketRingVersion, virtioHeaderLength: Int, maxNetworkLength: Int,
        ringSize: Int, blockSize: Int
    ) -> PacketRingGeometry {
        let page = SystemCalls.pageSize
        switch version {
        case .v2:
            let frame = PacketRingGeometry.frameSize(
                headerLength: cshim_tpacket2_header_length(),
                virtioHeaderLength: virtioHeaderLength, maxNetworkLength: maxNetworkLength)
            return .v2(frameSize: frame, ringSize: ringSize, pageSize: page)
        case .v3:
            let frame = PacketRingGeometry.frameSize(
                headerLength: cshim_tpacket3_header_length(),
                virtioHeaderLength: virtioHeaderLength, maxNetworkLength: maxNetworkLength)
            return .v3(frameSize: frame, ringSize: ringSize, blockSize: blockSize, pageSize: page)
        }
    }

    static func configure(
        fd: Int32, version: PacketRingVersion, geometry: PacketRingGeometry,
        blockTimeoutMilliseconds: Int
    ) throws(PosixError) {
        switch version {
        case .v2:
            try SystemCalls.setSocketOption(
                fd, level: SOL_PACKET, name: PACKET_VERSION,
                value: Int32(TPACKET_V2.rawValue), call: "setsockopt(PACKET_VERSION)")
            let request = tpacket_req(
                tp_block_size: UInt32(geometry.blockSize), tp_block_nr: UInt32(geometry.blockCount),
                tp_frame_size: UInt32(geometry.frameSize),
                tp_frame_nr: UInt32(geometry.framesPerBlock * geometry.blockCount))
            try SystemCalls.setSocketOption(
                fd, level: SOL_PACKET, name: PACKET_RX_RING, value: request,
                call: "setsockopt(PACKET_RX_RING)")
        case .v3:
            try SystemCalls.setSocketOption(
                fd, level: SOL_PACKET, name: PACKET_VERSION,
                value: Int32(TPACKET_V3.rawValue), call: "setsockopt(PACKET_VERSION)")
            let request = tpacket_req3(
                tp_block_size: UInt32(geometry.blockSize), tp_block_nr: UInt32(geometry.blockCount),
                tp_frame_size: UInt32(geometry.frameSize),
                tp_frame_nr: UInt32(geometry.framesPerBlock * geometry.blockCount),
                tp_retire_blk_tov: UInt32(max(1, blockTimeoutMilliseconds)),
                tp_sizeof_priv: 0, tp_feature_req_word: 0)
            try SystemCalls.setSocketOption(
                fd, level: SOL_PACKET, name: PACKET_RX_RING, value: request,
                call: "setsockopt(PACKET_RX_RING)")
        }
    }

    deinit {
        munmap(base, geometry.mappedLength)
        if detachOnDeinit { MappedPacketRing.releaseRing(fd: fd, version: version) }
    }

    /// Frees the kernel's ring (a zero-sized request), so the fd we do not own is left as we
    /// found it.
    private static func releaseRing(fd: Int32, version: PacketRingVersion) {
        switch version {
        case .v2:
            try? SystemCalls.setSocketOption(
                fd, level: SOL_PACKET, name: PACKET_RX_RING, value: tpacket_req(),
                call: "setsockopt(PACKET_RX_RING)")
        case .v3:
            try? SystemCalls.setSocketOption(
                fd, level: SOL_PACKET, name: PACKET_RX_RING, value: tpacket_req3(),
                call: "setsockopt(PACKET_RX_RING)")
        }
    }

    /// The socket's pending error, checked when a wake-up finds the ring empty (an interface
    /// that went away reports ENETDOWN this way; the ring itself just stays empty).
    func pendingError() -> LinkError? {
        guard
            let error = try? SystemCalls.socketOption(
                fd, level: SOL_SOCKET, name: SO_ERROR, call: "getsockopt(SO_ERROR)"),
            error != 0
        else { return nil }
        return .system(PosixError(call: "AF_PACKET socket", errno: error))
    }
}

/// Counts a ring slot whose frame was cut short, or delivers it.
@inline(__always)
private func deliverRingFrame(
    slot: UnsafeRawPointer, slotLimit: Int, status: UInt32, macOffset: Int,
    snapLength: Int, length: Int, decoder: FrameDecoder,
    dispatcher: any NetworkDispatcher, tally: inout ReceiveTally
) {
    if status & UInt32(TP_STATUS_COPY) != 0 || snapLength < length {
        tally.truncated &+= 1
        return
    }
    let start = macOffset - decoder.virtioHeaderLength
    guard start >= 0, macOffset + snapLength <= slotLimit else {
        tally.droppedShort &+= 1
        return
    }
    let trusted = status & UInt32(TP_STATUS_CSUM_VALID | TP_STATUS_CSUMNOTREADY) != 0
    decoder.deliver(
        UnsafeRawBufferPointer(start: slot + start, count: snapLength + decoder.virtioHeaderLength),
        kernelChecksumTrusted: trusted, to: dispatcher, tally: &tally)
}

/// TPACKET_V2: slot by slot.
final class PacketRingV2Reader: FrameReader {
    let ring: MappedPacketRing
    var fd: Int32 { ring.fd }
    private var nextFrame = 0
    private let frameCount: Int

    init(ring: MappedPacketRing) {
        self.ring = ring
        frameCount = ring.geometry.framesPerBlock * ring.geometry.blockCount
    }

    @inline(__always)
    private func slot(_ index: Int) -> UnsafeMutableRawPointer {
        let g = ring.geometry
        return ring.base + (index / g.framesPerBlock) * g.blockSize + (index % g.framesPerBlock) * g.frameSize
    }

    func drain(
        budget: Int, decoder: FrameDecoder, dispatcher: any NetworkDispatcher,
        tally: inout ReceiveTally
    ) -> DrainOutcome {
        var remaining = budget
        var any = false
        while remaining > 0 {
            let header = slot(nextFrame)
            let status = cshim_ring_status_load(header)
            if status & UInt32(TP_STATUS_USER) == 0 {
                if !any, let error = ring.pendingError() { return .closed(error) }
                return .wouldBlock
            }
            any = true
            let fields = header.load(as: tpacket2_hdr.self)
            deliverRingFrame(
                slot: header, slotLimit: ring.geometry.frameSize, status: status,
                macOffset: Int(fields.tp_mac), snapLength: Int(fields.tp_snaplen), length: Int(fields.tp_len),
                decoder: decoder, dispatcher: dispatcher, tally: &tally)
            cshim_ring_status_store(header, UInt32(TP_STATUS_KERNEL))
            nextFrame = nextFrame + 1 == frameCount ? 0 : nextFrame + 1
            remaining -= 1
        }
        return .budgetExhausted
    }
}

/// TPACKET_V3: block by block; a block goes back to the kernel once all its frames are read.
final class PacketRingV3Reader: FrameReader {
    let ring: MappedPacketRing
    var fd: Int32 { ring.fd }
    private var nextBlock = 0

    // struct tpacket_block_desc: version, offset_to_priv, then tpacket_hdr_v1 whose first
    // words are block_status, num_pkts, offset_to_first_pkt.
    private static let blockStatusOffset = 8
    private static let packetCountOffset = 12
    private static let firstPacketOffset = 16

    init(ring: MappedPacketRing) { self.ring = ring }

    func drain(
        budget: Int, decoder: FrameDecoder, dispatcher: any NetworkDispatcher,
        tally: inout ReceiveTally
    ) -> DrainOutcome {
        let blockSize = ring.geometry.blockSize
        let headerSize = MemoryLayout<tpacket3_hdr>.size
        var remaining = budget
        var any = false
        while remaining > 0 {
            let block = ring.base + nextBlock * blockSize
            let status = cshim_ring_status_load(block + Self.blockStatusOffset)
            if status & UInt32(TP_STATUS_USER) == 0 {
                if !any, let error = ring.pendingError() { return .closed(error) }
                return .wouldBlock
            }
            any = true
            let packets = Int(block.load(fromByteOffset: Self.packetCountOffset, as: UInt32.self))
            var offset = Int(block.load(fromByteOffset: Self.firstPacketOffset, as: UInt32.self))
            // Bounded by the kernel's packet count and by the block's end, whatever it wrote.
            for _ in 0..<packets {
                guard offset >= 0, offset + headerSize <= blockSize else {
                    tally.droppedShort &+= 1
                    break
                }
                let fields = (block + offset).load(as: tpacket3_hdr.self)
                deliverRingFrame(
                    slot: block + offset, slotLimit: blockSize - offset, status: fields.tp_status,
                    macOffset: Int(fields.tp_mac), snapLength: Int(fields.tp_snaplen),
                    length: Int(fields.tp_len), decoder: decoder, dispatcher: dispatcher, tally: &tally)
                if fields.tp_next_offset == 0 { break }
                offset += Int(fields.tp_next_offset)
            }
            remaining -= max(packets, 1)
            cshim_ring_status_store(block + Self.blockStatusOffset, UInt32(TP_STATUS_KERNEL))
            nextBlock = nextBlock + 1 == ring.geometry.blockCount ? 0 : nextBlock + 1
        }
        return .budgetExhausted
    }
}
