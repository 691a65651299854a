// The message vector recvmmsg and sendmmsg take, as both the batched reader and the transmit
// queue build it: one mmsghdr per frame, each pointing at its own single iovec. Built once
// when the reader or queue is made and reused for every batch (no per-frame allocation).

import CNetShims
import Glibc

extension UnsafeMutablePointer where Pointee == cshim_mmsghdr {
    /// Allocates `count` message headers, message `i` covering the one buffer `iovecs[i]`
    /// describes. The caller owns (and deallocates) the result; `iovecs` must outlive it.
    static func allocateMessages(over iovecs: UnsafeMutablePointer<iovec>, count: Int) -> Self {
        let messages = Self.allocate(capacity: count)
        for i in 0..<count {
            var header = msghdr()
            header.msg_iov = iovecs + i
            header.msg_iovlen = 1
            (messages + i).initialize(to: cshim_mmsghdr(msg_hdr: header, msg_len: 0))
        }
        return messages
    }
}
