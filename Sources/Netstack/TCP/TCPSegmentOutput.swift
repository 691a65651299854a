// The one way a TCP connection or listener sends: it hands a finished TCP header value and a
// borrowed payload to a sink. The stack's sink adds the IP header and writes to the link; the
// tests' sink records the segments so a test can assert exactly what went out.

import Wire

/// Address and port of one side of a flow.
public struct TCPSocketAddress: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(_ address: IPAddress, _ port: UInt16) {
        self.address = address
        self.port = port
    }

    public var description: String { "\(address):\(port)" }
}

/// The four-tuple naming a connection, seen from our side.
public struct TCPFlowID: Hashable, Sendable, CustomStringConvertible {
    public var local: TCPSocketAddress
    public var remote: TCPSocketAddress

    public init(local: TCPSocketAddress, remote: TCPSocketAddress) {
        self.local = local
        self.remote = remote
    }

    public var description: String { "\(local)<->\(remote)" }

    /// The connection runs over IPv6 (both ends are of one family).
    public var isIPv6: Bool {
        if case .v6 = local.address { true } else { false }
    }
}

/// Where outgoing segments go. `payload` is borrowed for the duration of the call only;
/// `segment.payloadLength == payload.count`.
public protocol TCPSegmentOutput {
    mutating func send(_ segment: TCPRepr, payload: UnsafeRawBufferPointer, flow: TCPFlowID)
    /// A segment with more than `segmentSize` payload bytes (only with
    /// `TCPConfig.segmentationOffloadSize`): the link is to cut it into segments of
    /// `segmentSize` payload bytes each, copying the header (GSO). By default it goes as is.
    mutating func send(_ segment: TCPRepr, payload: UnsafeRawBufferPointer, flow: TCPFlowID, segmentSize: Int)
}

extension TCPSegmentOutput {
    public mutating func send(_ segment: TCPRepr, payload: UnsafeRawBufferPointer, flow: TCPFlowID, segmentSize: Int) {
        send(segment, payload: payload, flow: flow)
    }
}
