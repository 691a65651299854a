// A host UDP socket for one app flow. It is connect()ed to the flow's destination, so the
// kernel filters replies to that peer and reports ICMP errors for it: with IP_RECVERR the
// error queue says which ICMP came back, which the gateway maps back to the app.

import CNetShims
import Glibc
import Posix

public final class HostUDPSocket {
    public private(set) var fd: Int32
    public let destination: SocketAddress

    /// An ICMP error the host got for this flow (from the socket's error queue).
    public struct ICMPError: Sendable, Equatable {
        /// True for ICMPv6, false for ICMPv4.
        public var isV6: Bool
        public var type: UInt8
        public var code: UInt8
        /// The errno the kernel derived (ECONNREFUSED for port unreachable, ...).
        public var errno: Int32
    }

    /// Opens a socket connected to `destination` (connect on UDP sends nothing).
    public init(connectingTo destination: SocketAddress) throws(PosixError) {
        self.destination = destination
        fd = try Syscall.socket(destination.family, Int32(SOCK_DGRAM.rawValue), 0)
        do {
            if destination.address.isV4 {
                try Syscall.setOption(fd, Int32(IPPROTO_IP), IP_RECVERR, 1)
            } else {
                try Syscall.setOption(fd, Int32(IPPROTO_IPV6), IPV6_RECVERR, 1)
            }
            try Syscall.connect(fd, destination)
        } catch {
            Posix.close(fd)
            throw error
        }
    }

    deinit { close() }

    public func close() {
        guard fd >= 0 else { return }
        Posix.close(fd)
        fd = -1
    }

    /// Sends one datagram. An ICMP error from an earlier datagram may surface here as
    /// ECONNREFUSED etc.; the caller then reads `readError()`.
    public func send(_ datagram: UnsafeRawBufferPointer) throws(PosixError) -> IOResult {
        try Syscall.send(fd, datagram)
    }

    /// Sends `datagrams` (`segmentSize` bytes each, the last perhaps shorter) in one call (UDP
    /// GSO). EINVAL: the path cannot take them unfragmented; send them one by one instead.
    public func send(_ datagrams: UnsafeRawBufferPointer, segmentSize: Int) throws(PosixError) -> IOResult {
        try Posix.io("sendmsg(UDP_SEGMENT)") {
            usernet_send_segmented(fd, datagrams.baseAddress, UInt(datagrams.count), UInt16(segmentSize))
        }
    }

    /// Receives one datagram (truncated to the buffer; returns the bytes copied).
    public func receive(into buffer: UnsafeMutableRawBufferPointer) throws(PosixError) -> IOResult {
        try Syscall.recv(fd, buffer)
    }

    /// Takes one ICMP error report from the error queue; nil when it is empty.
    public func readError() -> ICMPError? {
        var origin: UInt8 = 0, type: UInt8 = 0, code: UInt8 = 0
        var code32: UInt32 = 0
        while true {
            let read = try? Posix.call("recvmsg(MSG_ERRQUEUE)") {
                usernet_read_error_queue(fd, &origin, &type, &code, &code32)
            }
            guard read != nil else { return nil }
            let isV6 = origin == UInt8(SO_EE_ORIGIN_ICMP6)
            guard isV6 || origin == UInt8(SO_EE_ORIGIN_ICMP) else { continue }
            return ICMPError(isV6: isV6, type: type, code: code, errno: Int32(bitPattern: code32))
        }
    }

    public func localAddress() throws(PosixError) -> SocketAddress { try Syscall.localAddress(fd) }
}
