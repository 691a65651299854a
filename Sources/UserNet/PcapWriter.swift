// `--pcap FILE`: every frame on the veth in classic pcap (the libpcap file format:
// 24-byte global header, then a 16-byte record header per frame), LINKTYPE_ETHERNET, which
// tshark and wireshark read. Frames are copied into one preallocated buffer and written when
// it fills (or on flush), so the hot path makes no syscall and no allocation per frame.

import CNetShims
import Glibc
import Posix

public final class PcapWriter {
    public struct Counters: Sendable, Equatable {
        public var frames: UInt64 = 0
        public var bytes: UInt64 = 0
        /// Frames longer than the snap length, stored cut (their original length is kept).
        public var truncated: UInt64 = 0
        /// Frames lost because a write to the file failed.
        public var dropped: UInt64 = 0
        public var writeErrors: UInt64 = 0
        public var flushes: UInt64 = 0
    }

    /// Larger than any GSO super-frame the veth hands us (64 KiB + headers), and the largest
    /// snap length tshark accepts for Ethernet.
    public static let snapLength = 262_144
    public static let linkTypeEthernet: UInt32 = 1

    public private(set) var counters = Counters()
    private var fd: Int32
    private let buffer: UnsafeMutableRawBufferPointer
    private var used = 0
    /// Bytes written to the file so far (header included).
    public private(set) var fileSize = 0

    /// Creates (truncates) `path` with mode 0600 and writes the global header.
    public convenience init(path: String, bufferSize: Int = 1 << 20) throws(PosixError) {
        try self.init(fd: try Self.openFile(path), bufferSize: bufferSize)
    }

    /// Opens (truncates) a capture file for `init(fd:)`, which may run in another process.
    public static func openFile(_ path: String) throws(PosixError) -> Int32 {
        try Posix.open(path, O_WRONLY | O_CREAT | O_TRUNC, mode: 0o600)
    }

    /// Writes the global header to `fd` (an empty file open for writing; owned from here, and
    /// closed if this throws).
    public init(fd: Int32, bufferSize: Int = 1 << 20) throws(PosixError) {
        self.fd = fd
        buffer = .allocate(byteCount: max(bufferSize, 16 + 64), alignment: 8)
        var header = (
            UInt32(0xA1B2_C3D4), UInt16(2), UInt16(4), Int32(0), UInt32(0), UInt32(Self.snapLength),
            Self.linkTypeEthernet
        )
        do {
            try withUnsafeBytes(of: &header) { (raw) throws(PosixError) in try writeFully(raw) }
        } catch {
            Posix.close(fd)
            buffer.deallocate()
            throw error
        }
    }

    deinit {
        close()
        buffer.deallocate()
    }

    /// Records one Ethernet frame seen at `timestampNanoseconds` (Unix time; default now).
    public func write(frame: UnsafeRawBufferPointer, timestampNanoseconds: UInt64 = usernet_realtime_now_ns()) {
        write(frame, Self.empty, Self.empty, timestampNanoseconds: timestampNanoseconds)
    }

    /// Records one frame given in up to three consecutive pieces (link header, network header,
    /// payload, as a stack holds an outbound packet), so the caller never assembles it.
    public func write(
        _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer, _ third: UnsafeRawBufferPointer,
        timestampNanoseconds: UInt64 = usernet_realtime_now_ns()
    ) {
        guard fd >= 0 else {
            counters.dropped &+= 1
            return
        }
        let length = first.count + second.count + third.count
        let captured = min(length, Self.snapLength)
        if captured < length { counters.truncated &+= 1 }
        if used + 16 + captured > buffer.count { flush() }
        // Record header, in the host byte order the magic number announces.
        let seconds = UInt32(truncatingIfNeeded: timestampNanoseconds / 1_000_000_000)
        let micros = UInt32(truncatingIfNeeded: timestampNanoseconds % 1_000_000_000 / 1_000)
        if used + 16 + captured > buffer.count {
            // Larger than the whole buffer: write it straight through.
            var header = (seconds, micros, UInt32(captured), UInt32(length))
            do {
                try withUnsafeBytes(of: &header) { (raw) throws(PosixError) in try writeFully(raw) }
                var left = captured
                for piece in [first, second, third] where left > 0 {
                    let take = min(piece.count, left)
                    if take > 0 { try writeFully(UnsafeRawBufferPointer(rebasing: piece[0..<take])) }
                    left -= take
                }
            } catch {
                counters.dropped &+= 1
                return
            }
        } else {
            buffer.storeBytes(of: seconds, toByteOffset: used, as: UInt32.self)
            buffer.storeBytes(of: micros, toByteOffset: used + 4, as: UInt32.self)
            buffer.storeBytes(of: UInt32(captured), toByteOffset: used + 8, as: UInt32.self)
            buffer.storeBytes(of: UInt32(length), toByteOffset: used + 12, as: UInt32.self)
            var offset = used + 16
            var left = captured
            copy(first, at: &offset, left: &left)
            copy(second, at: &offset, left: &left)
            copy(third, at: &offset, left: &left)
            used += 16 + captured
        }
        counters.frames &+= 1
        counters.bytes &+= UInt64(length)
    }

    private static var empty: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: nil, count: 0) }

    private func copy(_ piece: UnsafeRawBufferPointer, at offset: inout Int, left: inout Int) {
        let take = min(piece.count, left)
        if take > 0, let source = piece.baseAddress, let target = buffer.baseAddress {
            (target + offset).copyMemory(from: source, byteCount: take)
        }
        offset += take
        left -= take
    }

    /// Writes what is buffered. The gateway calls this from an idle or periodic point.
    public func flush() {
        guard used > 0, fd >= 0 else { return }
        counters.flushes &+= 1
        do {
            try writeFully(UnsafeRawBufferPointer(rebasing: buffer[0..<used]))
        } catch {
            // The buffered frames are lost; count them by scanning their record headers.
            var offset = 0
            while offset + 16 <= used {
                counters.dropped &+= 1
                counters.frames &-= 1
                offset += 16 + Int(buffer.load(fromByteOffset: offset + 8, as: UInt32.self))
            }
        }
        used = 0
    }

    public func close() {
        guard fd >= 0 else { return }
        flush()
        Posix.close(fd)
        fd = -1
    }

    private func writeFully(_ bytes: UnsafeRawBufferPointer) throws(PosixError) {
        var offset = 0
        while offset < bytes.count {
            let result: IOResult
            do {
                result = try Posix.write(fd, UnsafeRawBufferPointer(rebasing: bytes[offset...]))
            } catch {
                counters.writeErrors &+= 1
                throw error
            }
            // A regular file never says EAGAIN; treat it (and a 0-byte write) as a failure.
            guard case .done(let n) = result, n > 0 else {
                counters.writeErrors &+= 1
                throw PosixError(call: "write", errno: EIO)
            }
            offset += n
        }
        fileSize += bytes.count
    }
}
