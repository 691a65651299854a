import CNetShims
import Posix

#if canImport(Glibc)
    import Glibc
#endif

/// The transport: one NETLINK_ROUTE socket, requests numbered by sequence, every reply checked
/// to come from the kernel (sender port id 0) and to answer the request just sent.
/// Not thread-safe: one request at a time (the owner serialises).
final class NetlinkSocket {
    let fd: Int32
    private var nextSequence: UInt32 = 1
    /// One receive buffer for the socket's life. 64 KiB holds any datagram rtnetlink sends to
    /// a reader with this buffer size (dumps are sized to the reader's last recvmsg length).
    private var buffer = [UInt8](repeating: 0, count: 65536)

    /// Bounds that keep every receive loop finite even if the kernel (or a bug) kept talking.
    static let maxDatagramsPerRequest = 100_000
    static let maxStrayMessages = 1024

    init(in namespace: NetworkNamespace) throws(NetlinkError) {
        fd = try NamespaceSocketOpener.openRouteSocket(in: namespace)
    }

    /// Takes ownership of `fd`, which the caller has checked is a NETLINK_ROUTE socket.
    init(owning fd: Int32) {
        self.fd = fd
    }

    deinit { close(fd) }

    enum ReplyShape {
        /// An acknowledgement only (NLM_F_ACK): success or the kernel's errno.
        case acknowledgement
        /// One reply message (a GET of one object).
        case single
        /// A multipart dump ending with NLMSG_DONE.
        case dump
    }

    /// Sends one request and collects its answer: the messages that carry the request's
    /// sequence number (none for `.acknowledgement`). A negative NLMSG_ERROR becomes `.kernel`.
    func transact(_ message: MessageBuilder, kind: NetlinkRequestKind, shape: ReplyShape) throws(NetlinkError)
        -> [NetlinkMessage]
    {
        let sequence = nextSequence
        nextSequence &+= 1
        try send(message.finish(sequence: sequence))

        var replies: [NetlinkMessage] = []
        var strays = 0
        for _ in 0..<NetlinkSocket.maxDatagramsPerRequest {
            let datagram = try receive()
            for reply in try NetlinkMessage.split(datagram) {
                // A message for an earlier request (e.g. one abandoned by an error) is skipped.
                guard reply.sequence == sequence else {
                    strays += 1
                    guard strays <= NetlinkSocket.maxStrayMessages else {
                        throw .malformedReply(.tooManyMessages(limit: NetlinkSocket.maxStrayMessages))
                    }
                    continue
                }
                switch reply.type {
                case UInt16(NLMSG_ERROR):
                    let code = try NetlinkSocket.errorCode(of: reply)
                    guard code == 0 else {
                        throw .kernel(request: kind, errno: code, message: NetlinkSocket.extendedAckMessage(of: reply))
                    }
                    return replies
                case UInt16(NLMSG_DONE):
                    if reply.flags & UInt16(NLM_F_DUMP_INTR) != 0 { throw .malformedReply(.dumpInterrupted) }
                    return replies
                case UInt16(NLMSG_NOOP):
                    continue
                default:
                    if reply.flags & UInt16(NLM_F_DUMP_INTR) != 0 { throw .malformedReply(.dumpInterrupted) }
                    guard shape != .acknowledgement else { throw .malformedReply(.unexpectedType(reply.type)) }
                    replies.append(reply)
                    if shape == .single { return replies }
                }
            }
        }
        throw .malformedReply(.tooManyMessages(limit: NetlinkSocket.maxDatagramsPerRequest))
    }

    private func send(_ bytes: [UInt8]) throws(NetlinkError) {
        var kernel = sockaddr_nl()
        kernel.nl_family = sa_family_t(AF_NETLINK)
        let sent = try system { () throws(PosixError) in
            try Posix.call("sendto(netlink)") {
                bytes.withUnsafeBytes { raw in
                    withUnsafePointer(to: &kernel) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            sendto(fd, raw.baseAddress, raw.count, 0, $0, socklen_t(MemoryLayout<sockaddr_nl>.size))
                        }
                    }
                }
            }
        }
        if sent != bytes.count { throw .system(PosixError(call: "sendto(netlink): short write", errno: EMSGSIZE)) }
    }

    /// One datagram from the kernel, or an error for a truncated or foreign one.
    private func receive() throws(NetlinkError) -> ArraySlice<UInt8> {
        var sender = sockaddr_nl()
        let capacity = buffer.count
        var senderLength = socklen_t(MemoryLayout<sockaddr_nl>.size)
        // MSG_TRUNC makes recvfrom return the datagram's real size, so a cut is detected.
        let received = try system { () throws(PosixError) in
            try Posix.call("recvfrom(netlink)") {
                buffer.withUnsafeMutableBytes { raw in
                    withUnsafeMutablePointer(to: &sender) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            recvfrom(fd, raw.baseAddress, raw.count, Int32(MSG_TRUNC), $0, &senderLength)
                        }
                    }
                }
            }
        }
        guard received <= capacity else {
            throw .malformedReply(.datagramTruncated(size: received, buffer: capacity))
        }
        // Other processes may unicast to our port id; only the kernel's words count.
        guard sender.nl_pid == 0 else { throw .malformedReply(.notFromKernel(portID: sender.nl_pid)) }
        return buffer[0..<received]
    }

    /// `struct nlmsgerr` starts with the negative errno (0 for a positive acknowledgement).
    static func errorCode(of reply: NetlinkMessage) throws(NetlinkError) -> Int32 {
        guard reply.payload.count >= 4 else {
            throw .malformedReply(.truncated(needed: 4, available: reply.payload.count))
        }
        let raw = reply.payload.loadNative(Int32.self, at: reply.payload.startIndex)
        guard raw <= 0, raw > -4096 else {
            throw .malformedReply(.badLength(field: "nlmsgerr.error", value: Int(raw), available: 4))
        }
        return -raw
    }

    /// The extended-ack text (NLMSGERR_ATTR_MSG), if the kernel attached one. Best effort:
    /// any malformation here yields nil, the errno alone still reports the failure.
    static func extendedAckMessage(of reply: NetlinkMessage) -> String? {
        guard reply.flags & UInt16(NLM_F_ACK_TLVS) != 0 else { return nil }
        let payload = reply.payload
        // The TLVs follow the error code and the echoed request: only its header when capped.
        var echoed = netlinkHeaderSize
        if reply.flags & UInt16(NLM_F_CAPPED) == 0 {
            guard payload.count >= 4 + netlinkHeaderSize else { return nil }
            echoed = netlinkAligned(Int(payload.loadNative(UInt32.self, at: payload.startIndex + 4)))
        }
        let start = 4 + echoed
        guard start <= payload.count,
            let attributes = try? NetlinkAttribute.split(payload[(payload.startIndex + start)...])
        else { return nil }
        for attribute in attributes where attribute.type == UInt16(NLMSGERR_ATTR_MSG.rawValue) {
            return String(attribute.string().prefix(512))
        }
        return nil
    }
}
