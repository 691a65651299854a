// ICMP echo through unprivileged ping sockets (socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)):
// the kernel owns the identifier, fills the checksum and hands back only replies to us.
// Whether we may open one is decided by net.ipv4.ping_group_range (it covers IPv6 too); when
// it forbids us, the gateway counts that and answers nothing. It never fabricates a reply:
// a ping that "works" while the host cannot reach the target would lie to the app.

import Glibc
import Posix
import Wire

public enum PingSocketError: Error, Sendable, Equatable {
    /// EACCES/EPERM: our group is outside net.ipv4.ping_group_range.
    case forbiddenByPingGroupRange
    case system(PosixError)
}

public final class HostPingSocket {
    public private(set) var fd: Int32
    public let destination: IPAddress

    /// An echo reply as the kernel gives it back (header already checked by the kernel).
    public struct EchoReply: Sendable, Equatable {
        public var sequence: UInt16
        /// Bytes of echo data copied into the caller's buffer after the 8-byte header.
        public var dataLength: Int

        public init(sequence: UInt16, dataLength: Int) {
            self.sequence = sequence
            self.dataLength = dataLength
        }
    }

    public init(destination: IPAddress) throws(PingSocketError) {
        self.destination = destination
        let family = destination.isV4 ? AF_INET : AF_INET6
        let proto = destination.isV4 ? Int32(IPPROTO_ICMP) : Int32(IPPROTO_ICMPV6)
        do {
            fd = try Syscall.socket(family, Int32(SOCK_DGRAM.rawValue), proto)
        } catch {
            if error.errno == EACCES || error.errno == EPERM { throw .forbiddenByPingGroupRange }
            throw .system(error)
        }
        do { try Syscall.connect(fd, SocketAddress(destination, port: 0)) } catch {
            Posix.close(fd)
            throw .system(error)
        }
    }

    deinit { close() }

    public func close() {
        guard fd >= 0 else { return }
        Posix.close(fd)
        fd = -1
    }

    /// Sends an echo request with `sequence` and `data`. The identifier is the socket's and
    /// the kernel computes the checksum; `scratch` must hold 8 + data.count bytes.
    public func sendEcho(sequence: UInt16, data: UnsafeRawBufferPointer, scratch: UnsafeMutableRawBufferPointer)
        throws(PosixError) -> IOResult
    {
        let length = 8 + data.count
        guard scratch.count >= length else { throw PosixError(call: "send", errno: EMSGSIZE) }
        // RFC 792 echo: type 8 (ICMPv6: 128, RFC 4443 4.1), code 0, checksum, identifier, sequence.
        scratch[0] = destination.isV4 ? 8 : 128
        scratch[1] = 0
        scratch.storeBytes(of: 0, toByteOffset: 2, as: UInt16.self)
        scratch.storeBytes(of: 0, toByteOffset: 4, as: UInt16.self)
        scratch.storeBytes(of: sequence.bigEndian, toByteOffset: 6, as: UInt16.self)
        if let base = data.baseAddress, let target = scratch.baseAddress {
            (target + 8).copyMemory(from: base, byteCount: data.count)
        }
        return try Syscall.send(fd, UnsafeRawBufferPointer(rebasing: scratch[0..<length]))
    }

    public enum Received: Sendable, Equatable {
        case reply(EchoReply)
        /// Something other than an echo reply (dropped).
        case ignored
        case wouldBlock
    }

    /// Receives one message: an echo reply (type 0, or 129 for ICMPv6) gives its sequence and
    /// data length; the message, header first, is in `buffer`.
    public func receiveReply(into buffer: UnsafeMutableRawBufferPointer) throws(PosixError) -> Received {
        switch try Syscall.recv(fd, buffer) {
        case .wouldBlock:
            return .wouldBlock
        case .done(let count):
            guard count >= 8, count <= buffer.count else { return .ignored }
            let expected: UInt8 = destination.isV4 ? 0 : 129
            guard buffer[0] == expected, buffer[1] == 0 else { return .ignored }
            let sequence = UInt16(buffer[6]) << 8 | UInt16(buffer[7])
            return .reply(EchoReply(sequence: sequence, dataLength: count - 8))
        }
    }
}

/// Opens ping sockets for the gateway and counts what happened, so "ping does not work here"
/// shows up as a number (forbidden by ping_group_range) rather than as silence.
public struct PingSocketOpener: Sendable {
    public struct Counters: Sendable, Equatable {
        public var opened: UInt64 = 0
        public var forbidden: UInt64 = 0
        public var failed: UInt64 = 0

        public init(opened: UInt64 = 0, forbidden: UInt64 = 0, failed: UInt64 = 0) {
            self.opened = opened
            self.forbidden = forbidden
            self.failed = failed
        }
    }

    public private(set) var counters = Counters()

    public init() {}

    /// A socket for echo to `destination`, or nil (counted): the app's echo then goes
    /// unanswered, as it would through a firewall that drops ICMP.
    public mutating func open(destination: IPAddress) -> HostPingSocket? {
        do {
            let socket = try HostPingSocket(destination: destination)
            counters.opened &+= 1
            return socket
        } catch .forbiddenByPingGroupRange {
            counters.forbidden &+= 1
        } catch {
            counters.failed &+= 1
        }
        return nil
    }
}
