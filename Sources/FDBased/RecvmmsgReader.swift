// PacketDispatchMode.recvmmsg: up to `batchSize` frames per system call, each into its own
// preallocated buffer; the message headers are built once and reused. On an AF_PACKET socket
// each message also carries the PACKET_AUXDATA checksum status.

import CNetShims
import Glibc
import Link
import Posix

final class RecvmmsgReader: FrameReader {
    let fd: Int32
    private let zeroLengthIsEOF: Bool
    private let batchSize: Int
    private let bufferLength: Int
    private let buffers: UnsafeMutableRawPointer
    private let iovecs: UnsafeMutablePointer<iovec>
    private let messages: UnsafeMutablePointer<cshim_mmsghdr>
    /// Per-message control buffers for PACKET_AUXDATA (0 bytes each without it).
    private let controlLength: Int
    private let controls: UnsafeMutableRawPointer

    init(fd: Int32, maxFrameLength: Int, batchSize: Int, zeroLengthIsEOF: Bool, auxiliaryData: Bool) {
        self.fd = fd
        self.zeroLengthIsEOF = zeroLengthIsEOF
        self.batchSize = batchSize
        // One spare byte per buffer, so a frame that fills it exactly is not mistaken for
        // a truncated one when MSG_TRUNC is not reported.
        bufferLength = (maxFrameLength + 16) & ~15
        buffers = .allocate(byteCount: bufferLength * batchSize, alignment: 16)
        iovecs = .allocate(capacity: batchSize)
        for i in 0..<batchSize {
            iovecs[i] = iovec(iov_base: buffers + i * bufferLength, iov_len: bufferLength)
        }
        messages = .allocateMessages(over: iovecs, count: batchSize)
        controlLength = auxiliaryData ? cshim_packet_auxdata_space() : 0
        controls = .allocate(byteCount: max(1, controlLength * batchSize), alignment: 16)
    }

    deinit {
        buffers.deallocate()
        iovecs.deallocate()
        messages.deallocate()
        controls.deallocate()
    }

    func drain(
        budget: Int, decoder: FrameDecoder, dispatcher: any NetworkDispatcher,
        tally: inout ReceiveTally
    ) -> DrainOutcome {
        var remaining = budget
        while remaining > 0 {
            let want = min(remaining, batchSize)
            if controlLength > 0 {
                // The kernel shrinks msg_controllen to what it wrote; give the room back.
                for i in 0..<want {
                    messages[i].msg_hdr.msg_control = controls + i * controlLength
                    messages[i].msg_hdr.msg_controllen = controlLength
                }
            }
            let n: Int
            do throws(PosixError) {
                n = Int(try Posix.call("recvmmsg") { cshim_recvmmsg(fd, messages, UInt32(want), Int32(MSG_DONTWAIT)) })
            } catch {
                switch ReadFailure(error) {
                case .wouldBlock: return .wouldBlock
                case .transient:
                    tally.readErrors &+= 1
                    remaining -= 1
                    continue
                case .fatal(let failure): return .closed(failure)
                }
            }
            if n == 0 { return zeroLengthIsEOF ? .closed(.closed) : .wouldBlock }
            remaining -= n
            for i in 0..<n {
                let length = Int(messages[i].msg_len)
                if length == 0 {
                    if zeroLengthIsEOF { return .closed(.closed) }
                    tally.droppedShort &+= 1
                    continue
                }
                if messages[i].msg_hdr.msg_flags & Int32(MSG_TRUNC) != 0 || length >= bufferLength {
                    tally.truncated &+= 1
                    continue
                }
                let trusted =
                    controlLength > 0 && kernelTrustsChecksum(cshim_packet_auxdata_status(&messages[i].msg_hdr))
                decoder.deliver(
                    UnsafeRawBufferPointer(start: buffers + i * bufferLength, count: length),
                    kernelChecksumTrusted: trusted, to: dispatcher, tally: &tally)
            }
            if n < want { return .wouldBlock }
        }
        return .budgetExhausted
    }
}
