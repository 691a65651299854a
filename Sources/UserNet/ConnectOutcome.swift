// What became of a host connect, and what the gateway tells the app about it. The gateway
// answers the app's SYN only after the host connect settled (RFC 9293 leaves the passive side
// free to delay its SYN-ACK), so the app sees the real outcome: a refusal as a refusal.

import Glibc

/// Why a host connect failed, from the errno the kernel gave.
public enum ConnectFailure: Error, Sendable, Equatable {
    /// ECONNREFUSED: the destination sent RST.
    case refused
    /// EHOSTUNREACH (an ICMP host unreachable came back, or no neighbour answered).
    case hostUnreachable
    /// ENETUNREACH: no route.
    case networkUnreachable
    /// ETIMEDOUT from the kernel, or the gateway's own connect timer ran out.
    case timedOut
    /// EACCES / EPERM: a local firewall or policy refused it.
    case prohibited
    /// Anything else, kept for the log.
    case other(errno: Int32)

    public init(errno code: Int32) {
        switch code {
        case ECONNREFUSED: self = .refused
        case EHOSTUNREACH, EHOSTDOWN: self = .hostUnreachable
        case ENETUNREACH, ENETDOWN: self = .networkUnreachable
        case ETIMEDOUT: self = .timedOut
        case EACCES, EPERM: self = .prohibited
        default: self = .other(errno: code)
        }
    }

    /// What the app gets in place of a SYN-ACK.
    public var appReply: AppReply {
        switch self {
        case .refused: .tcpReset
        // RFC 1122 4.2.3.9: a TCP must treat host/network unreachable as soft errors, so the
        // app keeps retrying its SYN until its own timeout; a timed-out destination looks the
        // same. That matches what the app would see on a real network.
        case .hostUnreachable, .timedOut: .icmpUnreachable(.host)
        case .networkUnreachable: .icmpUnreachable(.network)
        case .prohibited: .icmpUnreachable(.administrativelyProhibited)
        case .other: .tcpReset
        }
    }
}

/// The gateway's answer to an app packet it will not (or cannot) forward.
public enum AppReply: Sendable, Equatable {
    /// Answer the SYN (or segment) with RST.
    case tcpReset
    /// Answer with ICMP (v4 type 3 / v6 type 1) destination unreachable of this kind.
    case icmpUnreachable(UnreachableReason)
}

/// Unreachable kinds, mapped to ICMPv4 codes (RFC 792, RFC 1812 5.2.7.1) and ICMPv6 codes
/// (RFC 4443 3.1) where the stack emits them.
public enum UnreachableReason: Sendable, Equatable {
    case network
    case host
    case port
    case administrativelyProhibited

    /// ICMPv4 Destination Unreachable code.
    public var icmpv4Code: UInt8 {
        switch self {
        case .network: 0
        case .host: 1
        case .port: 3
        case .administrativelyProhibited: 13
        }
    }

    /// ICMPv6 Destination Unreachable code (0 no route, 1 prohibited, 3 address, 4 port).
    public var icmpv6Code: UInt8 {
        switch self {
        case .network: 0
        case .host: 3
        case .port: 4
        case .administrativelyProhibited: 1
        }
    }
}
