// A host TCP socket as the gateway uses it: non-blocking connect whose completion is learned
// from epoll writability + SO_ERROR, plain reads/writes that report EAGAIN as a value,
// half-close and abortive close.

import CNetShims
import Glibc
import Posix

public final class HostTCPSocket {
    public private(set) var fd: Int32

    /// Where a non-blocking connect stands right after the call.
    public enum ConnectStart: Equatable, Sendable {
        case connected
        /// EINPROGRESS: wait for writability, then call `finishConnect()`.
        case inProgress
    }

    /// Wraps an fd that is already a connected stream socket (e.g. from `accept`).
    public init(adopting fd: Int32) {
        self.fd = fd
    }

    deinit {
        if fd >= 0 { Posix.close(fd) }
    }

    /// Starts a non-blocking connect. An immediate failure (a refused loopback port, no route)
    /// comes back as `ConnectFailure`; resource errors as `PosixError`.
    public static func connect(to destination: SocketAddress, noDelay: Bool = true)
        throws(HostConnectError) -> (socket: HostTCPSocket, start: ConnectStart)
    {
        let fd: Int32
        do { fd = try Syscall.socket(destination.family, Int32(SOCK_STREAM.rawValue), 0) } catch {
            throw .system(error)
        }
        let socket = HostTCPSocket(adopting: fd)
        if noDelay {
            // Latency: the app's own Nagle already decided what to coalesce.
            do { try Syscall.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1) } catch { throw .system(error) }
        }
        do {
            _ = try Posix.call("connect") { destination.withSockAddr { sa, len in Glibc.connect(fd, sa, len) } }
            return (socket, .connected)
        } catch {
            switch error.errno {
            case EINPROGRESS: return (socket, .inProgress)
            case EMFILE, ENFILE, ENOBUFS, ENOMEM, EADDRNOTAVAIL, EAFNOSUPPORT: throw .system(error)
            default: throw .failed(ConnectFailure(errno: error.errno))
            }
        }
    }

    /// After epoll reported writability (or an error) on an in-progress connect: success, or
    /// why it failed.
    public func finishConnect() -> Result<Void, ConnectFailure> {
        let pending = usernet_socket_error(fd)
        if pending == 0 { return .success(()) }
        return .failure(ConnectFailure(errno: pending < 0 ? errno : pending))
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(PosixError) -> IOResult {
        try Syscall.recv(fd, buffer)
    }

    /// Into `first`, then `second`, in one receive.
    public func read(into first: UnsafeMutableRawBufferPointer, _ second: UnsafeMutableRawBufferPointer)
        throws(PosixError) -> IOResult
    {
        try Syscall.recv(fd, first, second)
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(PosixError) -> IOResult {
        try Syscall.send(fd, bytes)
    }

    /// `first` then `second` in one send.
    public func write(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) throws(PosixError)
        -> IOResult
    {
        try Syscall.send(fd, first, second)
    }

    /// Half-close: our FIN to the host peer (the app sent FIN). Reads keep working.
    public func shutdownWrite() throws(PosixError) {
        try Syscall.shutdown(fd, Int32(SHUT_WR))
    }

    /// Orderly close (FIN if not sent yet).
    public func close() {
        guard fd >= 0 else { return }
        Posix.close(fd)
        fd = -1
    }

    /// Abortive close: SO_LINGER {1, 0} then close, so the host peer gets RST (the app sent RST).
    public func abort() {
        guard fd >= 0 else { return }
        _ = usernet_set_linger_zero(fd)
        close()
    }

    public func localAddress() throws(PosixError) -> SocketAddress { try Syscall.localAddress(fd) }
}

public enum HostConnectError: Error, Sendable, Equatable {
    /// The destination answered (or the kernel knew) that it cannot be reached.
    case failed(ConnectFailure)
    /// We could not even try (out of fds, memory, ...).
    case system(PosixError)
}
