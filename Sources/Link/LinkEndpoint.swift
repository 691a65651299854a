// The seam between a data-link endpoint and the network stack, after gVisor's
// pkg/tcpip/stack LinkEndpoint / NetworkDispatcher. It lives in its own module so that the
// stack (Netstack) and the endpoints (FDBased, in-memory test links) both depend on it and
// neither depends on the other.
//
// Ownership rule for every buffer pointer that crosses this seam: it is borrowed for the
// duration of the call only. Nothing here allocates per packet.

import Posix
import Wire

/// What a link endpoint can do beyond moving frames.
public struct LinkCapabilities: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Inbound checksums were verified below us (InboundPacket.checksumVerified says per packet).
    public static let rxChecksumOffload = LinkCapabilities(rawValue: 1 << 0)
    /// The endpoint (or the kernel behind it) fills transport checksums on send.
    public static let txChecksumOffload = LinkCapabilities(rawValue: 1 << 1)
    /// Link addresses must be resolved (ARP / NDP) before sending.
    public static let resolutionRequired = LinkCapabilities(rawValue: 1 << 2)
    /// Generic segmentation offload: the endpoint accepts and delivers segments larger than
    /// the MTU together with `GSOInfo` (virtio_net_hdr on AF_PACKET/TUN).
    public static let gso = LinkCapabilities(rawValue: 1 << 3)
}

/// Segmentation metadata for a super-frame, mirroring struct virtio_net_hdr.
public struct GSOInfo: Sendable, Hashable {
    public enum Kind: UInt8, Sendable {
        case none = 0
        case tcpv4 = 1
        case udp = 3
        case tcpv6 = 4
        /// UDP GSO (UDP_SEGMENT): one UDP header over many datagrams of `segmentSize` bytes
        /// each (the last may be shorter), cut apart by the receiver, never IP fragments.
        case udpL4 = 5
    }

    public var kind: Kind
    /// Length of the headers (link + network + transport) in front of the payload.
    public var headerLength: UInt16
    /// Payload bytes per resulting segment (the MSS for TCP).
    public var segmentSize: UInt16
    /// When `needsChecksum`: where checksumming starts, counted from the start of the
    /// network header, and where in that region the checksum field sits.
    public var checksumStart: UInt16
    public var checksumOffset: UInt16
    /// The transport checksum holds only the pseudo-header sum; the receiver of this packet
    /// (kernel or stack) must complete it.
    public var needsChecksum: Bool

    public init(
        kind: Kind, headerLength: UInt16, segmentSize: UInt16,
        checksumStart: UInt16 = 0, checksumOffset: UInt16 = 0, needsChecksum: Bool = false
    ) {
        self.kind = kind
        self.headerLength = headerLength
        self.segmentSize = segmentSize
        self.checksumStart = checksumStart
        self.checksumOffset = checksumOffset
        self.needsChecksum = needsChecksum
    }
}

/// One inbound packet, borrowed for the duration of `deliverNetworkPacket`.
public struct InboundPacket {
    /// The link header as received (empty when the endpoint has none, e.g. TUN).
    public var linkHeader: UnsafeRawBufferPointer
    /// The network-layer packet: IPv4/IPv6/ARP header onward.
    public var network: UnsafeRawBufferPointer
    /// Present when the packet is a GSO super-frame to be treated as one large segment.
    public var gso: GSOInfo?
    /// The kernel (or device) already validated the transport checksum.
    public var checksumVerified: Bool

    public init(
        linkHeader: UnsafeRawBufferPointer, network: UnsafeRawBufferPointer,
        gso: GSOInfo? = nil, checksumVerified: Bool = false
    ) {
        self.linkHeader = linkHeader
        self.network = network
        self.gso = gso
        self.checksumVerified = checksumVerified
    }
}

/// One outbound packet. The endpoint prepends its link header; `header` and `payload` are
/// copied (or handed to the kernel) before `writePacket` returns, so the caller may reuse
/// them at once.
public struct OutboundPacket {
    public var protocolNumber: EtherType
    /// Destination link address (ignored by endpoints without a link header).
    public var remoteLinkAddress: MACAddress
    /// Network + transport headers, built by the stack.
    public var header: UnsafeRawBufferPointer
    /// Payload after the headers; may be empty.
    public var payload: UnsafeRawBufferPointer
    /// Set when the packet is larger than the MTU and the endpoint advertised `.gso`.
    public var gso: GSOInfo?

    public init(
        protocolNumber: EtherType, remoteLinkAddress: MACAddress,
        header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
        gso: GSOInfo? = nil
    ) {
        self.protocolNumber = protocolNumber
        self.remoteLinkAddress = remoteLinkAddress
        self.header = header
        self.payload = payload
        self.gso = gso
    }

    public var length: Int { header.count + payload.count }
}

/// Why a write failed.
public enum LinkError: Error, Sendable, Equatable {
    /// The endpoint was closed or never opened.
    case closed
    /// The TX queue is full; the packet was dropped and counted.
    case queueFull
    /// Larger than the MTU (and no GSO for it).
    case messageTooLong
    /// The link is not attached / has no fd able to send this.
    case notSupported
    /// A syscall failed: its name and errno.
    case system(PosixError)
}

/// Receives inbound packets from a link endpoint (implemented by the stack's NIC).
public protocol NetworkDispatcher: AnyObject {
    /// Called once per inbound packet, on the endpoint's dispatch thread.
    func deliverNetworkPacket(_ protocolNumber: EtherType, _ packet: InboundPacket)
    /// Called after a run of deliveries (one drain of the ring or one recvmmsg batch), so the
    /// receiver can flush what it queued for sending in one batch.
    func deliveryBatchEnded()
}

extension NetworkDispatcher {
    public func deliveryBatchEnded() {}
}

/// A data-link endpoint (gVisor's stack.LinkEndpoint).
public protocol LinkEndpoint: AnyObject {
    /// Largest network-layer packet (without link header) for one frame.
    var mtu: Int { get }
    var capabilities: LinkCapabilities { get }
    /// Bytes of link header the endpoint puts in front of each packet.
    var maxHeaderLength: Int { get }
    var linkAddress: MACAddress { get }
    /// Largest packet accepted with `GSOInfo` (0 when GSO is off).
    var gsoMaxSize: Int { get }

    var isAttached: Bool { get }
    /// Starts (or, with nil, stops) delivering inbound packets to `dispatcher`.
    func attach(_ dispatcher: (any NetworkDispatcher)?)

    /// Sends one packet, or queues it in the endpoint's TX batch; queued packets go out at
    /// `flush()` or when the batch fills. The caller's buffers are free again on return.
    func writePacket(_ packet: OutboundPacket) throws(LinkError)
    /// Sends (or queues) the packets in order; returns how many were taken before the first
    /// failure and that failure, if any.
    func writePackets(_ packets: UnsafeBufferPointer<OutboundPacket>) -> (written: Int, error: LinkError?)
    /// Sends everything queued. The stack calls this at the end of each round of work.
    func flush() throws(LinkError)
}

extension LinkEndpoint {
    public func writePackets(_ packets: UnsafeBufferPointer<OutboundPacket>) -> (written: Int, error: LinkError?) {
        for (i, packet) in packets.enumerated() {
            do { try writePacket(packet) } catch { return (i, error) }
        }
        return (packets.count, nil)
    }
}
