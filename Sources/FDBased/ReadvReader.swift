// PacketDispatchMode.readv: one read per frame into one buffer that the delivery borrows.
// (gVisor reads with readv into separate virtio-header and payload views; here the header and
// frame share one contiguous buffer, so a single-iovec read is the same call.) On an AF_PACKET
// socket the read is a recvmsg, to get the PACKET_AUXDATA checksum status with the frame.

import CNetShims
import Glibc
import Link
import Posix

final class ReadvReader: FrameReader {
    let fd: Int32
    /// A zero-length read is an empty datagram on SOCK_DGRAM, EOF on anything else.
    private let zeroLengthIsEOF: Bool
    private let buffer: UnsafeMutableRawBufferPointer
    /// With PACKET_AUXDATA: the message header, its iovec and control buffer, built once.
    private let message: UnsafeMutablePointer<msghdr>?
    private let control: UnsafeMutableRawBufferPointer?
    private let iov: UnsafeMutablePointer<iovec>

    /// `maxFrameLength` is the largest frame expected; one spare byte detects truncation.
    init(fd: Int32, maxFrameLength: Int, zeroLengthIsEOF: Bool, auxiliaryData: Bool) {
        self.fd = fd
        self.zeroLengthIsEOF = zeroLengthIsEOF
        buffer = .allocate(byteCount: maxFrameLength + 1, alignment: 16)
        iov = .allocate(capacity: 1)
        iov.initialize(to: iovec(iov_base: buffer.baseAddress, iov_len: buffer.count))
        if auxiliaryData {
            let control = UnsafeMutableRawBufferPointer.allocate(byteCount: cshim_packet_auxdata_space(), alignment: 16)
            var header = msghdr()
            header.msg_iov = iov
            header.msg_iovlen = 1
            let message = UnsafeMutablePointer<msghdr>.allocate(capacity: 1)
            message.initialize(to: header)
            self.control = control
            self.message = message
        } else {
            control = nil
            message = nil
        }
    }

    deinit {
        buffer.deallocate()
        iov.deallocate()
        control?.deallocate()
        message?.deallocate()
    }

    @inline(__always)
    private func readOne() throws(PosixError) -> (Int, checksumTrusted: Bool) {
        guard let message, let control else {
            return (try Posix.call("read") { read(fd, buffer.baseAddress, buffer.count) }, false)
        }
        message.pointee.msg_control = control.baseAddress
        message.pointee.msg_controllen = control.count
        let n = try Posix.call("recvmsg") { recvmsg(fd, message, Int32(MSG_DONTWAIT)) }
        return (n, n > 0 && kernelTrustsChecksum(cshim_packet_auxdata_status(message)))
    }

    func drain(
        budget: Int, decoder: FrameDecoder, dispatcher: any NetworkDispatcher,
        tally: inout ReceiveTally
    ) -> DrainOutcome {
        var remaining = budget
        while remaining > 0 {
            let n: Int, trusted: Bool
            do throws(PosixError) { (n, trusted) = try readOne() } catch {
                switch ReadFailure(error) {
                case .wouldBlock: return .wouldBlock
                case .transient:
                    tally.readErrors &+= 1
                    remaining -= 1
                    continue
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
            decoder.deliver(
                UnsafeRawBufferPointer(rebasing: buffer[..<n]), kernelChecksumTrusted: trusted,
                to: dispatcher, tally: &tally)
        }
        return .budgetExhausted
    }
}
