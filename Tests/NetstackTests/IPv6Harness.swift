// Shared set-up for the IPv6 tests: one stack on a MemoryLink with the slirp addresses
// (gateway fd00::2/64), the test playing the app at fd00::100 by handing in frames built with
// FrameBuilder and decoding what the stack wrote.

import Link
import Netstack
import NetstackTesting
import Wire

func v6(_ text: String) -> IPv6Address {
    guard let address = IPv6Address(text) else { preconditionFailure("bad test address \(text)") }
    return address
}

let stackIP6 = v6("fd00::2")
let peerIP6 = v6("fd00::100")
let remoteIP6 = v6("2001:db8::1")
/// fe80:: plus the modified EUI-64 of 02:00:00:00:00:01.
let stackLinkLocal = v6("fe80::ff:fe00:1")
let peerLinkLocal = v6("fe80::ff:fe00:2")

final class Harness6 {
    let h: Harness
    var stack: Stack { h.stack }
    var nic: NICID { h.nic }
    var counters: NICCounters { h.counters }
    var clock: FakeClock { h.clock }

    init(configuration: Stack.Configuration = Stack.Configuration(), mtu: Int = 1500) {
        h = Harness(configuration: configuration, mtu: mtu)
        stack.addAddress(IPv6Subnet(stackIP6, prefixLength: 64), to: nic)
        stack.addRoute(Route(destination: .v6(IPv6Subnet(.any, prefixLength: 0)), gateway: .v6(peerIP6), nic: nic))
    }

    static func gateway(hook: (any GatewayFlowHook)? = nil) -> Harness6 {
        var configuration = Stack.Configuration()
        configuration.gatewayMode = true
        let harness = Harness6(configuration: configuration)
        harness.stack.gatewayHook = hook
        return harness
    }

    func learnPeer() { stack.addStaticNeighbour(peerIP6, peerMAC, on: nic) }

    /// Hands an IPv6 packet (fixed header onward) from the peer to the stack.
    func receive(_ packet: [UInt8], destinationMAC: MACAddress = stackMAC) {
        h.receive(
            FrameBuilder.ethernet(destination: destinationMAC, source: peerMAC, etherType: .ipv6, payload: packet))
    }

    func receiveUDP(
        from source: IPv6Address = peerIP6, sourcePort: UInt16 = 40000, to destination: IPv6Address = stackIP6,
        port: UInt16, payload: [UInt8], checksum: ChecksumMode = .compute, hopLimit: UInt8 = 64
    ) {
        let udp = FrameBuilder.udp(
            source: source, sourcePort: sourcePort, destination: destination, destinationPort: port,
            payload: payload, checksum: checksum)
        receive(
            FrameBuilder.ipv6(
                source: source, destination: destination, nextHeader: .udp, payload: udp, hopLimit: hopLimit))
    }

    func receiveICMPv6(
        _ repr: ICMPv6Repr, data: [UInt8] = [], from source: IPv6Address = peerIP6,
        to destination: IPv6Address = stackIP6, hopLimit: UInt8 = 64, destinationMAC: MACAddress = stackMAC
    ) {
        let icmp = FrameBuilder.icmpv6(repr, data: data, source: source, destination: destination)
        receive(
            FrameBuilder.ipv6(
                source: source, destination: destination, nextHeader: .icmpv6, payload: icmp, hopLimit: hopLimit),
            destinationMAC: destinationMAC)
    }

    func written() -> [DecodedFrame] { h.written() }
    func advance(by duration: Duration) { h.advance(by: duration) }
}

extension DecodedFrame {
    var ipv6Header: IPv6Repr? {
        if case .ipv6(let ip, _, _) = self { return ip }
        return nil
    }

    var ethernetDestination: MACAddress? {
        switch self {
        case .arp(_, let destination), .ipv4(_, _, let destination), .ipv6(_, _, let destination): destination
        case .other: nil
        }
    }
}

@discardableResult
func send(_ endpoint: UDPEndpoint, _ payload: [UInt8], to address: IPv6Address, port: UInt16) throws(SendError)
    -> SendOutcome
{
    let result: Result<SendOutcome, SendError> = payload.withUnsafeBytes { buffer in
        do throws(SendError) { return .success(try endpoint.send(buffer, to: .v6(address), port: port)) } catch {
            return .failure(error)
        }
    }
    return try result.get()
}
