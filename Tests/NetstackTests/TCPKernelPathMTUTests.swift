// Path MTU discovery against Linux: our client uploads through a Linux router whose next link
// has a smaller MTU than ours. The far host's MSS does not reveal it. With ICMP, the router's
// "fragmentation needed" must (RFC 1191); with ICMP filtered, timeouts and probes must (RFC
// 4821). Either way the upload finishes intact.

import Foundation
import Netstack
import NetstackTesting
import Testing
import Wire

@Suite(.serialized, .tags(.root), .needsRoot) struct TCPKernelPathMTUTests {
    static let total = 4 << 20

    /// Uploads `total` bytes to a Linux server behind the router; returns the server's report
    /// and our connection.
    static func upload(through lab: KernelLab) throws -> (output: String, connection: TCPConnection?) {
        try NamespaceLab.run(["ip", "-n", lab.kernelNamespace, "link", "set", lab.kernelLink, "gso_max_segs", "1"])
        let far = try #require(lab.farNamespace)
        let fd = lab.stackPacketSocket()
        try #require(fd >= 0)
        let endpoint = try PatternEndpoint(pattern: TCPKernelTests.pattern, sendTotal: total, sendAfterEOF: false)
        let app = ClientApplication(
            config: TCPKernelTests.config(mtu: 1500), endpoint: endpoint, local: TCPKernelTests.stackAddress,
            remote: lab.farAddress)
        let runner = try TCPStackRunner(fd: fd, address: TCPKernelTests.stackAddress, mtu: 1500, application: app)
        runner.stack.addRoute(
            Route(
                destination: .v4(IPv4Subnet(IPv4Address(10, 0, 3, 0), prefixLength: 24)),
                gateway: .v4(lab.kernelAddress), nic: runner.nic))
        let peer = Process()
        peer.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        peer.arguments = [
            "ip", "netns", "exec", far, "timeout", "120", "/usr/bin/python3", "-c", TCPKernelPeer.script, "serve",
            "5001", "0"
        ]
        let pipe = Pipe()
        peer.standardOutput = pipe
        peer.standardError = pipe
        try peer.run()
        runner.start()
        defer { runner.stop() }
        let output = TCPKernelTests.finish((peer, pipe))
        runner.waitUntilDone(limit: .seconds(30))
        runner.stop()
        return (output, endpoint.connection)
    }

    @Test func uploadThroughALinuxRouterLearnsTheBottleneckFromICMP() throws {
        let lab = try KernelLab(mtu: 1500, bottleneckMTU: 1280)
        let (output, made) = try Self.upload(through: lab)
        #expect(output.split(separator: "\n").first == "OK received=\(Self.total) sent=0", "peer: \(output)")
        let connection = try #require(made)
        #expect(connection.error == nil)
        #expect(connection.counters.pathMTUReductions >= 1)
        #expect(connection.maximumSegmentSize == 1280 - 40)
        #expect(connection.counters.retransmissionTimeouts == 0, "the ICMP, not a timeout, found the MTU")
    }

    /// The same router sending no ICMP: three timeouts fall back to the base MSS (1024), and
    /// probes climb back toward the bottleneck without passing it.
    @Test func uploadThroughABlackHoleFindsTheBottleneckByProbing() throws {
        let lab = try KernelLab(mtu: 1500, bottleneckMTU: 1280)
        try lab.filterRouterICMP()
        let (output, made) = try Self.upload(through: lab)
        #expect(output.split(separator: "\n").first == "OK received=\(Self.total) sent=0", "peer: \(output)")
        let connection = try #require(made)
        #expect(connection.error == nil)
        #expect(connection.counters.pathMTUReductions == 0, "no ICMP came")
        #expect(connection.counters.pathMTUBlackHoles == 1)
        #expect(connection.counters.pathMTUProbesLost >= 1)
        // Never above the bottleneck, never below the base MSS. (Alone, the search ends within
        // 8 bytes of it; under load a probe's ACK can come late enough to be judged lost, which
        // leaves the search lower: TCPPathMTUProbingTests pins the exact steps.)
        #expect((1024...1280 - 40).contains(connection.maximumSegmentSize))
    }
}
