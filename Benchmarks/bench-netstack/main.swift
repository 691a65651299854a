// bench-netstack: UDP echo through two Swift stacks joined by an in-memory link (client stack
// sends, server stack echoes, client receives), in packets per second, and heap allocations per
// packet once warm, counted by the CMallocCounter interposer. Beside it, the peer measured in
// the same run: the kernel's UDP echo over loopback (two sockets, one thread).
//
//   swift run -c release bench-netstack [--seconds S] [--size BYTES] [--mtu BYTES] [--ipv6]
// (a size above the MTU measures fragmentation and reassembly; packets then count datagrams;
// --ipv6 runs the echo over IPv6, fd00::100 to fd00::2, with NDP instead of ARP)

import CMallocCounter
import Glibc
import Link
import Netstack
import NetstackTesting
import Wire

func monotonicNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

var seconds = 2.0
var size = 64
var mtu = 65_520
var ipv6 = false
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--seconds": seconds = arguments.next().flatMap(Double.init) ?? seconds
    case "--size": size = arguments.next().flatMap(Int.init) ?? size
    case "--mtu": mtu = arguments.next().flatMap(Int.init) ?? mtu
    case "--ipv6": ipv6 = true
    default:
        print("usage: bench-netstack [--seconds S] [--size BYTES] [--mtu BYTES] [--ipv6]")
        exit(2)
    }
}

/// Echoes every datagram back.
final class Echo: UDPEndpointDelegate {
    func udpEndpoint(
        _ endpoint: UDPEndpoint, received payload: UnsafeRawBufferPointer, from source: IPAddress, port: UInt16,
        to destination: IPAddress, now: NetstackInstant
    ) {
        _ = try? endpoint.send(payload, to: source, port: port)
    }
}

/// Counts replies.
final class Counter: UDPEndpointDelegate {
    var replies = 0
    var bytes = 0
    func udpEndpoint(
        _ endpoint: UDPEndpoint, received payload: UnsafeRawBufferPointer, from source: IPAddress, port: UInt16,
        to destination: IPAddress, now: NetstackInstant
    ) {
        replies += 1
        bytes += payload.count
    }
}

struct Figures {
    var packetsPerSecond: Double
    var allocationsPerPacket: Double
    var roundTrips: Int
}

func benchStack(size: Int, mtu: Int, ipv6: Bool, seconds: Double) -> Figures {
    let (a, b) = MemoryLink.pair(mtu: mtu, capacity: 128)
    let client = Stack(), server = Stack()
    let clientNIC = client.addNIC(a), serverNIC = server.addNIC(b)
    let clientIP = IPv4Address(10, 0, 2, 100), serverIP = IPv4Address(10, 0, 2, 2)
    client.addAddress(IPv4Subnet(clientIP, prefixLength: 24), to: clientNIC)
    server.addAddress(IPv4Subnet(serverIP, prefixLength: 24), to: serverNIC)
    let serverIP6 = IPv6Address(high: 0xFD00 << 48, low: 2), clientIP6 = IPv6Address(high: 0xFD00 << 48, low: 0x100)
    client.addAddress(IPv6Subnet(clientIP6, prefixLength: 64), to: clientNIC)
    server.addAddress(IPv6Subnet(serverIP6, prefixLength: 64), to: serverNIC)
    let destination: IPAddress = ipv6 ? .v6(serverIP6) : .v4(serverIP)
    let echo = Echo(), counter = Counter()
    guard let serverEndpoint = try? server.udp.open(localPort: 7, delegate: echo),
        let clientEndpoint = try? client.udp.open(localPort: 9000, delegate: counter)
    else {
        print("cannot open endpoints")
        exit(1)
    }
    let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
    defer { payload.deallocate() }
    for i in 0..<size { payload[i] = UInt8(truncatingIfNeeded: i) }
    let buffer = UnsafeRawBufferPointer(payload)

    func roundTrip() {
        _ = try? clientEndpoint.send(buffer, to: destination, port: 7)
        a.deliverToPeer() // request to the server, which echoes into b's outbox
        b.deliverToPeer() // reply to the client
    }
    // Warm up: ARP (or NDP) both ways, dictionaries and buffers at their steady size.
    for _ in 0..<1000 { roundTrip() }
    guard counter.replies == 1000 else {
        print("warm-up lost packets: \(counter.replies) of 1000 replies")
        exit(1)
    }
    let batch = 10_000
    var trips = 0
    let allocationsBefore = malloc_counter_allocations()
    let start = monotonicNanoseconds()
    let deadline = start + UInt64(seconds * 1e9)
    var now = start
    while now < deadline {
        for _ in 0..<batch { roundTrip() }
        trips += batch
        now = monotonicNanoseconds()
    }
    let allocations = malloc_counter_allocations() - allocationsBefore
    let elapsed = Double(now - start) / 1e9
    guard counter.replies == 1000 + trips else {
        print("lost packets: \(counter.replies - 1000) replies for \(trips) requests")
        exit(1)
    }
    _ = serverEndpoint
    // Each round trip is two packets through each stack: one in, one out.
    return Figures(
        packetsPerSecond: Double(trips * 2) / elapsed,
        allocationsPerPacket: Double(allocations) / Double(trips * 2), roundTrips: trips)
}

func benchKernelLoopback(size: Int, seconds: Double) -> Figures? {
    func udpSocket(port: UInt16) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            close(fd)
            return nil
        }
        return fd
    }
    func connectTo(_ fd: Int32, port: UInt16) -> Bool {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        } == 0
    }
    guard let server = udpSocket(port: 0), let client = udpSocket(port: 0) else { return nil }
    defer {
        close(server)
        close(client)
    }
    var address = sockaddr_in()
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    func port(of fd: Int32) -> UInt16 {
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return UInt16(bigEndian: address.sin_port)
    }
    let serverPort = port(of: server), clientPort = port(of: client)
    guard connectTo(client, port: serverPort), connectTo(server, port: clientPort) else { return nil }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 8)
    defer { buffer.deallocate() }
    let start = monotonicNanoseconds()
    let deadline = start + UInt64(seconds * 1e9)
    var trips = 0
    var now = start
    while now < deadline {
        for _ in 0..<1000 {
            guard send(client, buffer.baseAddress, size, 0) == size,
                recv(server, buffer.baseAddress, buffer.count, 0) == size,
                send(server, buffer.baseAddress, size, 0) == size,
                recv(client, buffer.baseAddress, buffer.count, 0) == size
            else { return nil }
        }
        trips += 1000
        now = monotonicNanoseconds()
    }
    let elapsed = Double(now - start) / 1e9
    return Figures(packetsPerSecond: Double(trips * 2) / elapsed, allocationsPerPacket: 0, roundTrips: trips)
}

/// `value` with `places` decimals (no Foundation in this binary).
func decimal(_ value: Double, places: Int) -> String {
    var scale = 1.0
    for _ in 0..<places { scale *= 10 }
    let scaled = Int((value * scale).rounded())
    let whole = scaled / Int(scale), fraction = scaled % Int(scale)
    var digits = String(fraction)
    while digits.count < places { digits = "0" + digits }
    return "\(whole).\(digits)"
}

// The interposer must be live, or "zero allocations" would mean nothing: allocate once and see.
let probeBefore = malloc_counter_allocations()
let probe = UnsafeMutableRawPointer.allocate(byteCount: 100, alignment: 8)
probe.deallocate()
guard malloc_counter_allocations() > probeBefore else {
    print("malloc counter is not interposed; cannot count allocations")
    exit(1)
}

let stackFigures = benchStack(size: size, mtu: mtu, ipv6: ipv6, seconds: seconds)
print(
    "netstack UDP\(ipv6 ? " over IPv6" : "") echo, \(size)-byte payload, MTU \(mtu), in-memory link, client+server stacks on one thread:"
)
print("  \(Int(stackFigures.packetsPerSecond)) packets/s through each stack (\(stackFigures.roundTrips) round trips)")
print(
    "  \(decimal(stackFigures.allocationsPerPacket, places: 4)) heap allocations per packet (steady state, after 1000 warm-up round trips)"
)
if let kernel = benchKernelLoopback(size: size, seconds: seconds) {
    print("peer: kernel UDP echo over loopback, same payload, one thread, send+recv syscalls:")
    print("  \(Int(kernel.packetsPerSecond)) packets/s (\(kernel.roundTrips) round trips)")
} else {
    print("peer: kernel UDP loopback echo could not run")
}
