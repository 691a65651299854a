// The receive side of one fd, in one of the dispatch modes. A reader drains what is ready
// without blocking and reports whether the fd would block, has more, or is finished.

import CNetShims
import Glibc
import Link
import Posix

enum DrainOutcome {
    /// Nothing more is ready (the fd would block / the ring is empty).
    case wouldBlock
    /// The budget ran out with frames possibly still ready.
    case budgetExhausted
    /// EOF (`.closed`) or a fatal error.
    case closed(LinkError)
}

protocol FrameReader: AnyObject {
    var fd: Int32 { get }
    /// Reads and delivers up to `budget` frames. Bad frames are tallied, never fatal.
    func drain(
        budget: Int, decoder: FrameDecoder, dispatcher: any NetworkDispatcher,
        tally: inout ReceiveTally
    ) -> DrainOutcome
}

/// What a failed read means for the loop.
enum ReadFailure {
    case wouldBlock
    case transient
    case fatal(LinkError)

    init(_ error: PosixError) {
        switch error.errno {
        case EAGAIN, EWOULDBLOCK: self = .wouldBlock
        // Memory pressure in the kernel: the next read may well succeed.
        case ENOBUFS, ENOMEM: self = .transient
        default: self = .fatal(.system(error))
        }
    }
}

extension LinkError {
    /// EOF (`.closed`) or ECONNRESET: the fd's other end went away (`Options.disconnectOK`).
    var isDisconnect: Bool {
        switch self {
        case .closed: true
        case .system(let error): error.errno == ECONNRESET
        default: false
        }
    }
}

/// The kernel's word on a frame's transport checksum, from a PACKET_AUXDATA status: valid, or
/// not computed yet because the frame was made on this host (CHECKSUM_PARTIAL).
@inline(__always)
func kernelTrustsChecksum(_ status: UInt32) -> Bool {
    status & UInt32(TP_STATUS_CSUM_VALID | TP_STATUS_CSUMNOTREADY) != 0
}
