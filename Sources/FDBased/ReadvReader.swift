// PacketDispatchMode.readv: one read per frame into one buffer that the delivery borrows.
// (gVisor reads with readv into separate virtio-header and payload views; here the header and
// frame share one contiguous buffer, so a single-iovec read is the same call.)

import Glibc
import Link

final class ReadvReader: FrameReader {
    let fd: Int32
    /// A zero-length read is an empty datagram on SOCK_DGRAM, EOF on anything else.
    private let zeroLengthIsEOF: Bool
    private let buffer: UnsafeMutableRawBufferPointer

    /// `maxFrameLength` is the largest frame expected; one spare byte detects truncation.
    init(fd: Int32, maxFrameLength: Int, zeroLengthIsEOF: Bool) {
        self.fd = fd
        self.zeroLengthIsEOF = zeroLengthIsEOF
        buffer = .allocate(byteCount: maxFrameLength + 1, alignment: 16)
    }

    deinit { buffer.deallocate() }

    func drain(budget: Int, decoder: FrameDecoder, dispatcher: any NetworkDispatcher,
               tally: inout ReceiveTally) -> DrainOutcome {
        var remaining = budget
        while remaining > 0 {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                let error = errno
                if error == EINTR { continue }
                switch ReadFailure(call: "read", errno: error) {
                case .wouldBlock: return .wouldBlock
                case .transient: tally.readErrors &+= 1; remaining -= 1; continue
                case .fatal(let failure): return .closed(failure)
                }
            }
            remaining -= 1
            if n == 0 {
                if zeroLengthIsEOF { return .closed(.closed) }
                tally.droppedShort &+= 1
                continue
            }
            if n == buffer.count {
                tally.truncated &+= 1
                continue
            }
            decoder.deliver(UnsafeRawBufferPointer(rebasing: buffer[..<n]), kernelChecksumTrusted: false,
                            to: dispatcher, tally: &tally)
        }
        return .budgetExhausted
    }
}
