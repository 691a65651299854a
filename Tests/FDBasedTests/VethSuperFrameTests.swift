// A veth hands its peer's TSO/GSO super-frames to a packet socket unsegmented, whatever the MTU:
// the MTU-1500 collapse of issue 17 was ring slots sized for the MTU cutting every such frame
// short, so a kernel TCP sender got through only its single-segment skbs.

import FDBased
import Glibc
import Link
import TestPrivileges
import Testing
import Wire

@Suite(.tags(.root), .needsRoot) struct VethSuperFrameTests {
    /// The inner end writes one GSO TCPv4 super-frame (4 segments of 1000 bytes, 4040 bytes of
    /// IP packet at MTU 1500); the outer endpoint, at MTU 1500 with no virtio_net_hdr, delivers
    /// it whole, as the one IP packet it is, in every dispatch mode.
    @Test(arguments: ModeCase.all)
    func aKernelSuperFrameOverTheMTUArrivesWhole(_ modeCase: ModeCase) throws {
        let (delivered, statistics) = try Self.receiveSuperFrame(modeCase, receivesSuperFrames: true)
        let packet = try #require(delivered)
        #expect(packet.network == Self.superFrame)
        #expect(packet.checksumVerified) // CHECKSUM_PARTIAL: made on this host
        #expect(statistics.truncated == 0)
        #expect(statistics.received == 1)
    }

    /// The control: slots sized for the MTU alone cut the same frame short and count it. (This
    /// is what proves the frame above really crossed as a super-frame, not segmented.)
    @Test func slotsSizedForTheMTUCutASuperFrameShort() throws {
        let ring = ModeCase(mode: .packetMMap, ring: .v2, gso: false)
        let (delivered, statistics) = try Self.receiveSuperFrame(ring, receivesSuperFrames: false)
        #expect(delivered == nil)
        #expect(statistics.truncated == 1)
    }

    static let payload = (0..<4000).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
    static let superFrame = VethGSOTests.tcpIPv4(
        source: IPv4Address(10, 213, 0, 1), destination: IPv4Address(10, 213, 0, 2),
        payload: payload)

    /// Sends `superFrame` from the inner end (an endpoint with GSO, so the kernel takes a frame
    /// over the MTU) and returns what the outer endpoint delivered of it, and its statistics.
    static func receiveSuperFrame(_ modeCase: ModeCase, receivesSuperFrames: Bool) throws
        -> (Delivered?, FDBasedStatistics)
    {
        let lab = try VethLab(mtu: 1500)
        defer { withExtendedLifetime(lab) {} }
        let fd = lab.outerPacketSocket()
        let sender = lab.innerPacketSocket()
        try #require(fd >= 0 && sender >= 0)
        defer {
            close(fd)
            close(sender)
        }
        var options = FDBasedEndpoint.Options(
            fds: [fd], mtu: 1500, address: .zero, gsoMaxSize: modeCase.gso ? 65535 : 0,
            dispatchMode: modeCase.mode, ringVersion: modeCase.ring)
        options.receivesSuperFrames = receivesSuperFrames
        let endpoint = try FDBasedEndpoint(options: options)
        defer { endpoint.close() }
        let recorder = RecordingDispatcher()
        endpoint.attach(recorder)
        let writer = try FDBasedEndpoint(
            options: .init(
                fds: [sender], mtu: 1500, gsoMaxSize: 65535, driver: .external,
                txChecksumOffload: true))
        defer { writer.close() }
        let gso = GSOInfo(
            kind: .tcpv4, headerLength: 14 + 40, segmentSize: 1000, checksumStart: 20, checksumOffset: 16,
            needsChecksum: true)
        try writer.write(superFrame, to: VethTests.endpointMAC, gso: gso)
        try writer.flush()
        // Wait for the frame (delivered, or counted as cut short); other traffic is not TCP.
        let isOurs: (Delivered) -> Bool = { $0.network.count > 9 && $0.network[9] == 6 }
        var waited = 0
        while !recorder.packets.contains(where: isOurs) && endpoint.statistics.truncated == 0 && waited < 5_000 {
            usleep(2_000)
            waited += 2
        }
        return (recorder.packets.first(where: isOurs), endpoint.statistics)
    }
}
