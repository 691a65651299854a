// `--pcap`: a link endpoint that sits between the FDBased endpoint and the stack's NIC and
// records every frame both ways, exactly as it crosses the veth. Inbound frames are recorded
// from the ring (link header and packet, borrowed); outbound ones from the stack's header and
// payload with the Ethernet header the endpoint will put in front, rebuilt in a 14-byte
// scratch, so nothing is assembled or allocated per frame.

import Link
import Wire

final class CapturingLink: WrappingLink, NetworkDispatcher {
    let inner: any LinkEndpoint
    let pcap: PcapWriter
    private var upper: (any NetworkDispatcher)?
    private let ethernetScratch: UnsafeMutableRawBufferPointer

    init(wrapping inner: any LinkEndpoint, pcap: PcapWriter) {
        self.inner = inner
        self.pcap = pcap
        ethernetScratch = .allocate(byteCount: EthernetRepr.headerLength, alignment: 8)
        ethernetScratch.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit { ethernetScratch.deallocate() }

    var isAttached: Bool { upper != nil }

    func attach(_ dispatcher: (any NetworkDispatcher)?) {
        upper = dispatcher
        inner.attach(dispatcher == nil ? nil : self)
    }

    func deliverNetworkPacket(_ protocolNumber: EtherType, _ packet: InboundPacket) {
        pcap.write(packet.linkHeader, packet.network, UnsafeRawBufferPointer(start: nil, count: 0))
        upper?.deliverNetworkPacket(protocolNumber, packet)
    }

    func deliveryBatchEnded() { upper?.deliveryBatchEnded() }

    func writePacket(_ packet: OutboundPacket) throws(LinkError) {
        try inner.writePacket(packet)
        EthernetRepr(destination: packet.remoteLinkAddress, source: inner.linkAddress, etherType: packet.protocolNumber)
            .emit(into: ethernetScratch)
        pcap.write(UnsafeRawBufferPointer(ethernetScratch), packet.header, packet.payload)
    }

    func flush() throws(LinkError) { try inner.flush() }
}
