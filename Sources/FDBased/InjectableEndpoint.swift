// InjectableEndpoint (gVisor's fdbased.InjectableEndpoint): outbound packets go to the fd like
// FDBasedEndpoint's; inbound packets never come from the fd, only from `inject(_:_:)`. Used to
// feed a stack from somewhere else (a test, a capture, another process) while still writing
// real frames.

import Link
import Wire

public final class InjectableEndpoint: LinkEndpoint, @unchecked Sendable {
    private let endpoint: FDBasedEndpoint
    private var dispatcher: (any NetworkDispatcher)?

    /// `options.dispatchMode` and `options.driver` are ignored: nothing is read from the fds.
    public init(options: FDBasedEndpoint.Options) throws(FDBasedError) {
        endpoint = try FDBasedEndpoint(options: options, receives: false)
    }

    public var mtu: Int { endpoint.mtu }
    public var capabilities: LinkCapabilities { endpoint.capabilities }
    public var maxHeaderLength: Int { endpoint.maxHeaderLength }
    public var linkAddress: MACAddress { endpoint.linkAddress }
    public var gsoMaxSize: Int { endpoint.gsoMaxSize }
    public var isAttached: Bool { dispatcher != nil }
    public var statistics: FDBasedStatistics { endpoint.statistics }

    public func attach(_ dispatcher: (any NetworkDispatcher)?) { self.dispatcher = dispatcher }

    /// Delivers `packet` to the attached dispatcher as if it had arrived on the link, followed
    /// by `deliveryBatchEnded()`. Returns false when nothing is attached.
    @discardableResult
    public func inject(_ protocolNumber: EtherType, _ packet: InboundPacket) -> Bool {
        guard let dispatcher else { return false }
        dispatcher.deliverNetworkPacket(protocolNumber, packet)
        dispatcher.deliveryBatchEnded()
        return true
    }

    /// Writes `frame` to the fd unchanged (gVisor's InjectOutbound).
    public func injectOutbound(_ frame: UnsafeRawBufferPointer) throws(LinkError) {
        try endpoint.writeRawFrame(frame)
    }

    public func writePacket(_ packet: OutboundPacket) throws(LinkError) { try endpoint.writePacket(packet) }

    public func writePackets(_ packets: UnsafeBufferPointer<OutboundPacket>) -> (written: Int, error: LinkError?) {
        endpoint.writePackets(packets)
    }

    public func flush() throws(LinkError) { try endpoint.flush() }

    public func close() {
        dispatcher = nil
        endpoint.close()
    }
}
