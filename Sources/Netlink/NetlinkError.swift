import Posix

/// Everything that can go wrong talking rtnetlink. Each case says which step failed, so a
/// caller can tell "the kernel said EEXIST" (`.kernel`) from "socket() failed" (`.system`)
/// from "the reply made no sense" (`.malformedReply`).
public enum NetlinkError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed locally (its name, e.g. "socket", "setns", "recvfrom", and errno).
    case system(PosixError)
    /// The kernel refused a request: the negative errno from the NLMSG_ERROR acknowledgement,
    /// negated back to a positive errno, plus the extended-ack text when the kernel gave one.
    case kernel(request: NetlinkRequestKind, errno: Int32, message: String?)
    /// A reply that does not parse (truncated, lengths that lie, wrong sequence, ...).
    case malformedReply(MalformedReply)
    /// An argument was rejected before anything was sent (e.g. an interface name too long).
    case invalidArgument(String)

    /// The errno behind this error, if there is one (kernel refusal or failed syscall).
    public var errno: Int32? {
        switch self {
        case .system(let error): error.errno
        case .kernel(_, let errno, _): errno
        case .malformedReply, .invalidArgument: nil
        }
    }

    public var description: String {
        switch self {
        case .system(let error):
            error.description
        case .kernel(let request, let errno, let message):
            "\(request): \(Posix.errnoText(errno))" + (message.map { " (\($0))" } ?? "")
        case .malformedReply(let reason):
            "malformed netlink reply: \(reason)"
        case .invalidArgument(let text):
            "invalid argument: \(text)"
        }
    }
}

/// Why a reply was rejected. Replies come from the kernel, but the parser treats them as
/// hostile bytes anyway: a bug there must become an error, never a trap or an overread.
public enum MalformedReply: Error, Equatable, Sendable {
    /// Fewer bytes than a header needs.
    case truncated(needed: Int, available: Int)
    /// A length field smaller than its own header or larger than the bytes that hold it.
    case badLength(field: String, value: Int, available: Int)
    /// The datagram did not fit the receive buffer (MSG_TRUNC).
    case datagramTruncated(size: Int, buffer: Int)
    /// The datagram did not come from the kernel (sender port id not 0).
    case notFromKernel(portID: UInt32)
    /// A reply whose type was not the one the request calls for.
    case unexpectedType(UInt16)
    /// More messages than any sane reply holds (the bound that keeps a dump loop finite).
    case tooManyMessages(limit: Int)
    /// The kernel reported that the dump was interrupted by a concurrent change (NLM_F_DUMP_INTR).
    case dumpInterrupted
    /// An attribute whose payload has the wrong size for its type.
    case badAttribute(type: UInt16, length: Int)
}

/// What a request asked for; carried by `.kernel` errors so a message names the operation.
public enum NetlinkRequestKind: String, Sendable, Equatable, CustomStringConvertible {
    case newLink = "RTM_NEWLINK"
    case setLink = "RTM_NEWLINK (change)"
    case delLink = "RTM_DELLINK"
    case getLink = "RTM_GETLINK"
    case newAddress = "RTM_NEWADDR"
    case newRoute = "RTM_NEWROUTE"

    public var description: String { rawValue }
}

/// Runs system calls (through Posix), turning their failure into `NetlinkError.system`.
func system<T>(_ body: () throws(PosixError) -> T) throws(NetlinkError) -> T {
    do { return try body() } catch { throw .system(error) }
}
