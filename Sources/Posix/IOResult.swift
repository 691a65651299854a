/// The outcome of a read or write on a non-blocking fd.
public enum IOResult: Equatable, Sendable {
    /// This many bytes moved (0 on a read means end of stream).
    case done(Int)
    /// EAGAIN / EWOULDBLOCK: try again when epoll says so.
    case wouldBlock
}
