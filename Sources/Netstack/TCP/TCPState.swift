// What a connection is and can do, as its owner sees it: the RFC 9293 state, why it ended,
// and the readiness it reports.

/// The connection states of RFC 9293 section 3.3.2.
public enum TCPState: Sendable, Hashable, CustomStringConvertible {
    case closed
    case synSent
    case synReceived
    case established
    case finWait1
    case finWait2
    case closeWait
    case closing
    case lastAck
    case timeWait

    public var description: String {
        switch self {
        case .closed: "CLOSED"
        case .synSent: "SYN-SENT"
        case .synReceived: "SYN-RECEIVED"
        case .established: "ESTABLISHED"
        case .finWait1: "FIN-WAIT-1"
        case .finWait2: "FIN-WAIT-2"
        case .closeWait: "CLOSE-WAIT"
        case .closing: "CLOSING"
        case .lastAck: "LAST-ACK"
        case .timeWait: "TIME-WAIT"
        }
    }

    /// "synchronized" states of RFC 9293 (everything after the handshake).
    public var isSynchronized: Bool {
        switch self {
        case .closed, .synSent, .synReceived: false
        default: true
        }
    }
}

/// Why a connection ended abnormally.
public enum TCPError: Error, Sendable, Hashable {
    /// The peer reset the connection (ECONNRESET), or refused it in SYN-SENT (ECONNREFUSED).
    case connectionReset
    case connectionRefused
    /// Retransmissions or keepalive probes ran out (ETIMEDOUT).
    case timedOut
    /// We aborted it (RST sent).
    case aborted
    /// The memory budget refused the connection's buffers.
    case noBufferSpace
    /// A write after shutdown, or before/after the connection could carry data.
    case notWritable
}

/// What a connection can do now, reported to the readiness callback.
public struct TCPReadiness: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Bytes are waiting in the receive buffer, or the peer finished sending (read returns 0).
    public static let readable = TCPReadiness(rawValue: 1 << 0)
    /// The send buffer has room.
    public static let writable = TCPReadiness(rawValue: 1 << 1)
    /// The handshake completed.
    public static let connected = TCPReadiness(rawValue: 1 << 2)
    /// The connection is fully closed (or failed: see `error`).
    public static let closed = TCPReadiness(rawValue: 1 << 3)
}
