// A network interface: one link endpoint, its addresses, its neighbour cache and its counters.
// It is the link's NetworkDispatcher and hands every frame to the stack.

import Link
import Wire

/// Names a NIC of a stack.
public struct NICID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public var description: String { "nic\(rawValue)" }
}

final class NIC: NetworkDispatcher {
    unowned let stack: Stack
    let id: NICID
    let name: String
    let link: any LinkEndpoint
    // Read once: the endpoint's properties are existential calls we keep off the hot path.
    let linkAddress: MACAddress
    let mtu: Int
    let capabilities: LinkCapabilities
    let gsoMaxSize: Int

    var addresses: [IPv4Subnet] = []
    var counters = NICCounters()
    var neighbours: NeighbourCache
    var arpPolicy: ARPReplyPolicy = .ownAddresses
    /// Something was written since the last flush.
    var needsFlush = false

    init(stack: Stack, id: NICID, name: String, link: any LinkEndpoint, neighbours: NeighbourConfiguration) {
        self.stack = stack
        self.id = id
        self.name = name
        self.link = link
        linkAddress = link.linkAddress
        mtu = link.mtu
        capabilities = link.capabilities
        gsoMaxSize = link.gsoMaxSize
        self.neighbours = NeighbourCache(configuration: neighbours)
    }

    func deliverNetworkPacket(_ protocolNumber: EtherType, _ packet: InboundPacket) {
        stack.receive(on: self, protocolNumber, packet)
    }

    func deliveryBatchEnded() {
        stack.flush()
    }

    func hasAddress(_ address: IPv4Address) -> Bool {
        for subnet in addresses where subnet.address == address { return true }
        return false
    }

    /// Limited broadcast or the directed broadcast of one of our subnets.
    func isBroadcast(_ address: IPv4Address) -> Bool {
        if address.isBroadcast { return true }
        for subnet in addresses where subnet.prefixLength < 31 && subnet.broadcast == address { return true }
        return false
    }

    /// The source address for traffic to `destination`: one whose subnet holds it, else the first.
    func sourceAddress(toward destination: IPv4Address) -> IPv4Address? {
        for subnet in addresses where subnet.contains(destination) { return subnet.address }
        return addresses.first?.address
    }

    func write(_ packet: OutboundPacket) throws(LinkError) {
        do {
            try link.writePacket(packet)
        } catch {
            counters.countDrop(.linkWriteFailed)
            throw error
        }
        needsFlush = true
        counters.txFrames &+= 1
        counters.txBytes &+= UInt64(packet.length)
    }
}
