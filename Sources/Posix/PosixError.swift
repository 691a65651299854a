// The one shape of a failed system call: which call, and errno. Every module's own error wraps
// this (LinkError.system, NetlinkError.system, SandboxError.system, ...) instead of capturing
// errno its own way.

import Glibc

/// A failed system call: its name and errno.
public struct PosixError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The call's name as a reader would look for it: "connect", "setsockopt(SO_RCVBUF)".
    public var call: String
    public var errno: Int32

    public init(call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    /// "connect: Connection refused (errno 111)".
    public var description: String { "\(call): \(Posix.errnoText(errno))" }
}

extension Posix {
    /// "Connection refused (errno 111)": strerror's text with the number, for messages that
    /// name their own subject (a kernel refusal, a failed step in the sandbox's child).
    public static func errnoText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return "\(String(cString: text)) (errno \(code))"
    }
}
