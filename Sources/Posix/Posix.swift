// The one wrapper every system call goes through (the swift-nio System.swift habit): EINTR is
// retried, -1 becomes a PosixError naming the call. Kept by hand rather than swift-system,
// which has no recvmmsg, sendmmsg, packet-socket or netlink calls.

import Glibc

/// The system call wrappers shared by every module.
public enum Posix {
    /// Runs `body` until it returns something other than -1 with EINTR; any other -1 throws
    /// `name` with errno. `name` is only built on failure.
    @inlinable
    public static func call<T: FixedWidthInteger>(
        _ name: @autoclosure () -> String,
        _ body: () -> T
    ) throws(PosixError) -> T {
        while true {
            let result = body()
            if result != -1 { return result }
            let code = Glibc.errno
            if code != EINTR { throw PosixError(call: name(), errno: code) }
        }
    }

    /// `call` for a read or write on a non-blocking fd, where EAGAIN is an answer ("not now"),
    /// not a failure.
    @inlinable
    public static func io(_ name: @autoclosure () -> String, _ body: () -> Int) throws(PosixError) -> IOResult {
        while true {
            let result = body()
            if result != -1 { return .done(result) }
            let code = Glibc.errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
            throw PosixError(call: name(), errno: code)
        }
    }

    /// close() is never retried: on Linux the fd is gone even when it reports EINTR.
    public static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }
}

extension Posix {
    /// read(2) into `buffer`; on a non-blocking fd EAGAIN is `.wouldBlock`.
    public static func read(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) throws(PosixError) -> IOResult {
        try io("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// write(2) from `buffer`; on a non-blocking fd EAGAIN is `.wouldBlock`.
    public static func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(PosixError) -> IOResult {
        try io("write") { Glibc.write(fd, buffer.baseAddress, buffer.count) }
    }
}
