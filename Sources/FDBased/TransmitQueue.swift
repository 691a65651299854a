// The TX batch: outbound frames are assembled (virtio_net_hdr, Ethernet header, packet) into
// one preallocated arena and sent together with sendmmsg at flush() or when the batch fills.
// An fd that is not a socket (TUN) gets one write per frame instead.
//
// PACKET_TX_RING was measured against this (bench-fdbased, "TX"); sendmmsg from the arena was
// kept: see Benchmarks/bench-fdbased/README.md.
//
// Not thread-safe: the writer (the stack's thread) serialises writePacket/flush.

import CNetShims
import Glibc
import Link
import Posix

final class TransmitQueue {
    let fd: Int32
    private let useSendmmsg: Bool
    private let counters: CounterStorage
    private let capacity: Int
    private let arena: UnsafeMutableRawBufferPointer
    private let iovecs: UnsafeMutablePointer<iovec>
    private let messages: UnsafeMutablePointer<cshim_mmsghdr>
    private static let directPieces = 3
    private let directIOVecs = UnsafeMutablePointer<iovec>.allocate(capacity: directPieces)
    private(set) var count = 0
    private var used = 0

    init(fd: Int32, isSocket: Bool, batchSize: Int, bufferSize: Int, counters: CounterStorage) {
        self.fd = fd
        useSendmmsg = isSocket
        self.counters = counters
        capacity = batchSize
        arena = .allocate(byteCount: bufferSize, alignment: 16)
        iovecs = .allocate(capacity: batchSize)
        iovecs.initialize(repeating: iovec(iov_base: nil, iov_len: 0), count: batchSize)
        messages = .allocateMessages(over: iovecs, count: batchSize)
    }

    deinit {
        arena.deallocate()
        iovecs.deallocate()
        messages.deallocate()
        directIOVecs.deallocate()
    }

    /// Reserves `length` bytes for the next frame, flushing first when the batch or the arena
    /// is full, lets `fill` write the frame, and queues it. The caller checked that `length`
    /// fits an empty arena.
    @inline(__always)
    func enqueue(length: Int, fill: (UnsafeMutableRawBufferPointer) -> Void) throws(LinkError) {
        if count == capacity || used + length > arena.count { try flush() }
        let frame = UnsafeMutableRawBufferPointer(rebasing: arena[used..<(used + length)])
        fill(frame)
        iovecs[count] = iovec(iov_base: frame.baseAddress, iov_len: length)
        count += 1
        used = (used + length + 15) & ~15
        if used > arena.count { used = arena.count }
        if capacity == 1 { try flush() }
    }

    var arenaSize: Int { arena.count }

    /// Frames at least this long skip the arena: copying 64 KiB into it costs more than the
    /// system call that batching saves (bench-fdbased, TX 64 KiB).
    static let directSendThreshold = 16 << 10

    /// Sends one frame made of three pieces (empty ones skipped) now, without copying: queued
    /// frames go first (order is kept), then one sendmsg (writev on a non-socket).
    func sendDirect(
        _ prefix: UnsafeRawBufferPointer, _ header: UnsafeRawBufferPointer,
        _ payload: UnsafeRawBufferPointer
    ) throws(LinkError) {
        try flush()
        var count = 0
        var length = 0
        @inline(__always) func add(_ piece: UnsafeRawBufferPointer) {
            guard piece.count > 0 else { return }
            directIOVecs[count] = iovec(
                iov_base: UnsafeMutableRawPointer(mutating: piece.baseAddress), iov_len: piece.count)
            count += 1
            length += piece.count
        }
        add(prefix)
        add(header)
        add(payload)
        do throws(PosixError) {
            if useSendmmsg {
                var header = msghdr()
                header.msg_iov = directIOVecs
                header.msg_iovlen = count
                _ = try Posix.call("sendmsg") { sendmsg(fd, &header, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
            } else {
                _ = try Posix.call("writev") { writev(fd, directIOVecs, Int32(count)) }
            }
        } catch {
            if Self.isBackPressure(error.errno) {
                counters.add(.sendDroppedWouldBlock, 1)
                throw .queueFull
            }
            counters.add(.sendFailed, 1)
            throw Self.sendFailure(error)
        }
        counters.add(.sent, 1)
        counters.add(.sentBytes, UInt64(length))
    }

    /// The kernel's queue is full (or short of memory): the frame is dropped like a full NIC's.
    private static func isBackPressure(_ code: Int32) -> Bool {
        code == EAGAIN || code == EWOULDBLOCK || code == ENOBUFS
    }

    private static func sendFailure(_ error: PosixError) -> LinkError {
        error.errno == EMSGSIZE ? .messageTooLong : .system(error)
    }

    /// One sendmmsg of the queued frames from `index` on (one write of one frame on a
    /// non-socket); how many frames went.
    private func sendQueued(from index: Int) throws(PosixError) -> Int {
        if useSendmmsg {
            return Int(
                try Posix.call("sendmmsg") {
                    cshim_sendmmsg(fd, messages + index, UInt32(count - index), Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
                })
        }
        _ = try Posix.call("write") { write(fd, iovecs[index].iov_base, iovecs[index].iov_len) }
        return 1
    }

    /// Sends every queued frame. Frames the kernel refuses are counted and the first error is
    /// thrown after the rest were tried; when the fd would block the remainder is dropped
    /// (counted) and `.queueFull` is thrown, like a NIC whose queue is full.
    func flush() throws(LinkError) {
        guard count > 0 else { return }
        defer {
            count = 0
            used = 0
        }
        var index = 0
        var firstError: LinkError? = nil
        var sentBytes = 0
        while index < count {
            var n = 0
            do throws(PosixError) { n = try sendQueued(from: index) } catch {
                if !Self.isBackPressure(error.errno) {
                    counters.add(.sendFailed, 1)
                    firstError = firstError ?? Self.sendFailure(error)
                    index += 1
                    continue
                }
            }
            if n == 0 {
                // sendmmsg sending nothing is the kernel's queue being full, as EAGAIN is.
                counters.add(.sendDroppedWouldBlock, UInt64(count - index))
                firstError = firstError ?? .queueFull
                break
            }
            for i in index..<(index + n) { sentBytes += iovecs[i].iov_len }
            counters.add(.sent, UInt64(n))
            index += n
        }
        counters.add(.sentBytes, UInt64(sentBytes))
        if let firstError { throw firstError }
    }
}
