// libFuzzer entry for the whole stack as the gateway runs it (built by scripts/fuzz.sh): a
// gateway-mode Stack on a MemoryLink with a fake clock, IPv4 and IPv6 addresses and router
// advertisements, a hook that accepts every flow (UDP flows get an endpoint, TCP SYNs reach
// the gateway listener), and every accepted TCP connection echoing what it reads, so the
// fuzzer can walk TCP through its states. The input is a list of records:
//   [length: 2 bytes big-endian][clock step: 1 byte, in 10 ms units][frame: length bytes]
// A frame's destination MAC is set to the stack's unless it is a group address (else almost
// every mutation would die at the NIC). The gateway engine itself needs real host sockets
// (its core is bound to FDBasedEndpoint), so it is not in this target.

import Link
import Netstack
import NetstackTesting
import Wire

let stackMAC = MACAddress(0x52, 0x55, 0x0A, 0x00, 0x02, 0x02)

final class AcceptEverything: GatewayFlowHook, UDPEndpointDelegate {
    var endpoints: [UDPEndpoint] = []

    func stack(_ stack: Stack, verdictFor flow: FlowKey, now: NetstackInstant) -> FlowVerdict {
        if flow.protocolNumber == .udp, endpoints.count < 64,
           let endpoint = try? stack.udp.open(localAddress: flow.destination, localPort: flow.destinationPort,
                                              remoteAddress: flow.source, remotePort: flow.sourcePort, delegate: self) {
            endpoints.append(endpoint)
        }
        return flow.destinationPort % 7 == 0 ? .reject(.communicationAdministrativelyProhibited) : .accept
    }

    func udpEndpoint(_ endpoint: UDPEndpoint, received payload: UnsafeRawBufferPointer, from source: IPAddress,
                     port: UInt16, to destination: IPAddress, now: NetstackInstant) {
        _ = try? endpoint.send(payload, to: source, port: port)
    }
}

nonisolated(unsafe) let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 8)

@_cdecl("LLVMFuzzerTestOneInput")
public func stackFuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var configuration = Stack.Configuration()
    configuration.gatewayMode = true
    let stack = Stack(configuration: configuration)
    let link = MemoryLink(linkAddress: stackMAC, mtu: 65_520, capacity: 32)
    let nic = stack.addNIC(link, name: "veth")
    stack.addAddress(IPv4Subnet(IPv4Address(10, 0, 2, 2), prefixLength: 24), to: nic)
    stack.addAddress(IPv6Subnet(IPv6Address(high: 0xFD00_0000_0000_0000, low: 2), prefixLength: 64), to: nic)
    stack.enableRouterAdvertisements(on: nic, RouterAdvertisementConfiguration(
        prefix: IPv6Subnet(IPv6Address(high: 0xFD00_0000_0000_0000, low: 0), prefixLength: 64)))
    let hook = AcceptEverything()
    stack.gatewayHook = hook
    let tcp = TCPTransport(stack: stack)
    tcp.gatewayListener = TCPListener(config: TCPConfig(), secret: (1, 2))
    let clock = FakeClock()
    stack.advance(to: clock.now)
    var connections: [TCPConnection] = []
    var offset = 0
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    while offset + 3 <= size {
        let length = min(Int(bytes[offset]) << 8 | Int(bytes[offset + 1]), size - offset - 3)
        let step = Int(bytes[offset + 2])
        var frame = Array(bytes[(offset + 3)..<(offset + 3 + length)])
        offset += 3 + length
        if frame.count >= 6 && frame[0] & 1 == 0 {
            for (i, byte) in withUnsafeBytes(of: stackMAC.rawValue.bigEndian, Array.init).suffix(6).enumerated() { frame[i] = byte }
        }
        link.receive(frame: frame)
        clock.advance(by: .milliseconds(10 * step), stacks: stack)
        while let accepted = tcp.gatewayListener?.accept() { connections.append(accepted) }
        echo(connections, tcp: tcp, now: clock.now)
        stack.flush()
        _ = link.takeWrittenFrames()
    }
    for endpoint in hook.endpoints { endpoint.close() }
    return 0
}

/// Each connection sends back what it read (bounded by its send space), then runs its timers.
func echo(_ connections: [TCPConnection], tcp: TCPTransport, now: NetstackInstant) {
    var output = tcp.output
    for connection in connections {
        let room = min(connection.availableToRead, connection.writableSpace, scratch.count)
        if room > 0 {
            let count = connection.read(into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<room]))
            _ = try? connection.write(UnsafeRawBufferPointer(rebasing: scratch[0..<count]))
        }
        if connection.isReadClosed { connection.shutdownWrite() }
        connection.poll(now: TCPInstant(stack: now), output: &output)
    }
}
