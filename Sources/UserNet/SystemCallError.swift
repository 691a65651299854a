// The one error type for a failed syscall: which call, which errno. Every wrapper in
// Syscalls.swift throws it, so a log line always says what the kernel refused and why.

import Glibc

public struct SystemCallError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The syscall's name, e.g. "epoll_ctl" or "connect".
    public let call: String
    public let errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String {
        let text = strerror(errno).map { String(cString: $0) } ?? "errno \(errno)"
        return "\(call): \(text) (errno \(errno))"
    }
}
