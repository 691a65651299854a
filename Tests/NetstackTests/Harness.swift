// Shared set-up: one stack on a MemoryLink, with the test playing the peer host by handing in
// frames built with FrameBuilder and decoding what the stack wrote.

import Link
import Netstack
import NetstackTesting
import Wire

let stackMAC = MACAddress(0x02, 0, 0, 0, 0, 0x01)
let peerMAC = MACAddress(0x02, 0, 0, 0, 0, 0x02)
let stackIP = IPv4Address(10, 0, 2, 2)
let peerIP = IPv4Address(10, 0, 2, 100)
let remoteIP = IPv4Address(93, 184, 216, 34)

final class Harness {
    let stack: Stack
    let link: MemoryLink
    let nic: NICID
    let clock = FakeClock()

    init(configuration: Stack.Configuration = Stack.Configuration(), mtu: Int = 1500, capacity: Int = 1024) {
        stack = Stack(configuration: configuration)
        link = MemoryLink(linkAddress: stackMAC, mtu: mtu, capacity: capacity)
        nic = stack.addNIC(link, name: "eth0")
        stack.addAddress(IPv4Subnet(stackIP, prefixLength: 24), to: nic)
        stack.addRoute(Route(destination: .v4(IPv4Subnet(.any, prefixLength: 0)), gateway: .v4(peerIP), nic: nic))
        stack.advance(to: clock.now)
    }

    static func gateway(hook: (any GatewayFlowHook)? = nil, configure: (inout Stack.Configuration) -> Void = { _ in })
        -> Harness
    {
        var configuration = Stack.Configuration()
        configuration.gatewayMode = true
        configure(&configuration)
        let harness = Harness(configuration: configuration)
        harness.stack.gatewayHook = hook
        return harness
    }

    var counters: NICCounters { stack.counters(of: nic) }

    /// Teaches the stack the peer's MAC, as an ARP request from the peer would.
    func learnPeer() {
        stack.addStaticNeighbour(peerIP, peerMAC, on: nic)
    }

    func receive(_ frame: [UInt8], gso: GSOInfo? = nil) { link.receive(frame: frame, gso: gso) }

    /// Hands an IPv4 packet from the peer to the stack.
    func receiveIPv4(_ packet: [UInt8], destinationMAC: MACAddress = stackMAC, gso: GSOInfo? = nil) {
        receive(
            FrameBuilder.ethernet(destination: destinationMAC, source: peerMAC, etherType: .ipv4, payload: packet),
            gso: gso)
    }

    func receiveUDP(
        from source: IPv4Address = peerIP, sourcePort: UInt16 = 40000, to destination: IPv4Address = stackIP,
        port: UInt16, payload: [UInt8], checksum: ChecksumMode = .compute
    ) {
        let udp = FrameBuilder.udp(
            source: source, sourcePort: sourcePort, destination: destination, destinationPort: port,
            payload: payload, checksum: checksum)
        receiveIPv4(FrameBuilder.ipv4(source: source, destination: destination, protocolNumber: .udp, payload: udp))
    }

    func written() -> [DecodedFrame] { link.takeWrittenFrames().map(DecodedFrame.init) }

    func advance(by duration: Duration) { clock.advance(by: duration, stacks: stack) }
}

/// Records what a UDP endpoint receives.
final class UDPRecorder: UDPEndpointDelegate {
    struct Datagram: Equatable {
        var payload: [UInt8]
        var source: IPAddress
        var port: UInt16
        var destination: IPAddress
    }
    var datagrams: [Datagram] = []
    var errors: [TransportICMPError.Kind] = []
    /// When set, every datagram is sent back to where it came from.
    var echo = false
    /// When set, the endpoint closes itself on the first datagram.
    var closeOnFirst = false

    func udpEndpoint(
        _ endpoint: UDPEndpoint, received payload: UnsafeRawBufferPointer, from source: IPAddress, port: UInt16,
        to destination: IPAddress, now: NetstackInstant
    ) {
        datagrams.append(Datagram(payload: Array(payload), source: source, port: port, destination: destination))
        if echo { _ = try? endpoint.send(payload, to: source, port: port) }
        if closeOnFirst { endpoint.close() }
    }

    func udpEndpoint(_ endpoint: UDPEndpoint, receivedError error: TransportICMPError, now: NetstackInstant) {
        errors.append(error.kind)
    }
}

/// A gateway hook that records flows and answers with a fixed verdict, opening an endpoint
/// for accepted UDP flows.
final class RecordingHook: GatewayFlowHook {
    var verdict: FlowVerdict
    var flows: [FlowKey] = []
    let recorder = UDPRecorder()
    var endpoints: [UDPEndpoint] = []

    init(verdict: FlowVerdict) { self.verdict = verdict }

    func stack(_ stack: Stack, verdictFor flow: FlowKey, now: NetstackInstant) -> FlowVerdict {
        flows.append(flow)
        if verdict == .accept && flow.protocolNumber == .udp,
            let endpoint = try? stack.udp.open(
                localAddress: flow.destination, localPort: flow.destinationPort,
                remoteAddress: flow.source, remotePort: flow.sourcePort, delegate: recorder)
        {
            endpoints.append(endpoint)
        }
        return verdict
    }
}

func bytes(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed)) }
}

@discardableResult
func send(_ endpoint: UDPEndpoint, _ payload: [UInt8], to address: IPv4Address, port: UInt16) throws(SendError)
    -> SendOutcome
{
    let result: Result<SendOutcome, SendError> = payload.withUnsafeBytes { buffer in
        do throws(SendError) { return .success(try endpoint.send(buffer, to: .v4(address), port: port)) } catch {
            return .failure(error)
        }
    }
    return try result.get()
}
