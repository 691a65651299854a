// Real kernel traffic over a veth pair in throwaway namespaces, read with AF_PACKET on the
// outer end in every dispatch mode; and frames the endpoint writes, received by a kernel socket.

import FDBased
import Glibc
import Link
import TestPrivileges
import Testing
import Wire

struct ModeCase: CustomTestStringConvertible, Sendable {
    var mode: PacketDispatchMode
    var ring: PacketRingVersion
    var gso: Bool
    var testDescription: String { "\(mode)\(mode == .packetMMap ? "-\(ring)" : "")\(gso ? "+vnet" : "")" }

    static let all: [ModeCase] = [
        ModeCase(mode: .readv, ring: .v2, gso: false), ModeCase(mode: .recvmmsg, ring: .v2, gso: false),
        ModeCase(mode: .packetMMap, ring: .v2, gso: false), ModeCase(mode: .packetMMap, ring: .v3, gso: false),
        ModeCase(mode: .readv, ring: .v2, gso: true), ModeCase(mode: .recvmmsg, ring: .v2, gso: true),
        ModeCase(mode: .packetMMap, ring: .v2, gso: true), ModeCase(mode: .packetMMap, ring: .v3, gso: true)
    ]
}

@Suite(.tags(.root), .needsRoot) struct VethTests {
    static let endpointMAC = MACAddress(0x02, 0, 0, 0, 0, 0x01)

    @Test(arguments: ModeCase.all)
    func kernelFramesArriveIntact(_ modeCase: ModeCase) throws {
        let lab = try VethLab()
        // Keep the namespaces until the end of the test (ARC could end `lab` at its last use).
        defer { withExtendedLifetime(lab) {} }
        let fd = lab.outerPacketSocket()
        try #require(fd >= 0)
        defer { close(fd) }
        let endpoint = try FDBasedEndpoint(
            options: .init(
                fds: [fd], mtu: 1500, address: Self.endpointMAC, gsoMaxSize: modeCase.gso ? 65535 : 0,
                dispatchMode: modeCase.mode, ringVersion: modeCase.ring))
        defer { endpoint.close() }
        let recorder = RecordingDispatcher()
        endpoint.attach(recorder)

        // ARP: resolving an address nobody has makes the kernel broadcast a request.
        let absent = IPv4Address(endpointAddressParts(lab.endpointAddress, last: 3))
        try lab.inInner(["ping", "-c", "1", "-W", "1", "\(absent)"], allowFailure: true)
        // ICMP echo and UDP to the endpoint's address, with its MAC resolved statically.
        try lab.inInner([
            "ip", "neigh", "replace", "\(lab.endpointAddress)", "lladdr", "\(Self.endpointMAC)",
            "dev", lab.innerLink, "nud", "permanent"
        ])
        try lab.inInner(["ping", "-c", "2", "-i", "0.2", "-W", "1", "\(lab.endpointAddress)"], allowFailure: true)
        try lab.inInner(["bash", "-c", "echo -n hello-fdbased > /dev/udp/\(lab.endpointAddress)/5555"])

        #expect(
            recorder.wait { _ in
                let p = recorder.packets
                return p.contains { $0.protocolNumber == .arp } && p.filter { Self.ipProtocol($0) == 1 }.count >= 2
                    && p.contains { Self.ipProtocol($0) == 17 }
            })
        let packets = recorder.packets
        for packet in packets {
            #expect(packet.linkHeader.count == 14)
            #expect(Array(packet.linkHeader[6..<12]) == Frames.mac(lab.innerMAC))
        }
        let arp = try #require(packets.first { $0.protocolNumber == .arp })
        #expect(arp.network.count >= 28)
        #expect(Array(arp.network[0..<8]) == [0, 1, 8, 0, 6, 4, 0, 1]) // Ethernet/IPv4 request
        #expect(Array(arp.network[24..<28]) == Self.bytes(absent)) // target protocol address
        #expect(Array(arp.linkHeader[0..<6]) == Frames.mac(.broadcast))

        let echo = try #require(packets.first { Self.ipProtocol($0) == 1 })
        #expect(Frames.checksum(echo.network[0..<20]) == 0) // IPv4 header checksum
        #expect(Array(echo.network[16..<20]) == Self.bytes(lab.endpointAddress))
        #expect(echo.network[20] == 8) // echo request
        #expect(Frames.checksum(echo.network[20...]) == 0) // ICMP checksum over the whole message
        #expect(Array(echo.linkHeader[0..<6]) == Frames.mac(Self.endpointMAC))

        let udp = try #require(packets.first { Self.ipProtocol($0) == 17 })
        #expect(Array(udp.network[22..<24]) == [0x15, 0xB3]) // port 5555
        #expect(Array(udp.network[28...]) == Array("hello-fdbased".utf8))
        // The veth leaves the UDP checksum to "hardware" (CHECKSUM_PARTIAL): the kernel says so
        // through the ring status, PACKET_AUXDATA or virtio_net_hdr, in every mode.
        #expect(udp.checksumVerified)
        #expect(endpoint.statistics.received == UInt64(packets.count))
    }

    @Test(arguments: [PacketDispatchMode.readv, .recvmmsg, .packetMMap])
    func endpointFramesReachAKernelSocket(mode: PacketDispatchMode) throws {
        let lab = try VethLab()
        // Keep the namespaces until the end of the test (ARC could end `lab` at its last use).
        defer { withExtendedLifetime(lab) {} }
        let fd = lab.outerPacketSocket()
        try #require(fd >= 0)
        defer { close(fd) }
        let receiver = lab.innerUDPSocket(port: 6000)
        try #require(receiver >= 0)
        defer { close(receiver) }
        let endpoint = try FDBasedEndpoint(
            options: .init(
                fds: [fd], mtu: 1500, address: Self.endpointMAC,
                dispatchMode: mode, driver: .external))
        defer { endpoint.close() }
        for i in 0..<5 {
            let packet = Frames.udpIPv4(
                source: lab.endpointAddress, destination: lab.innerAddress, sourcePort: 7000,
                destinationPort: 6000, payload: Array("from-endpoint-\(i)".utf8))
            try endpoint.write(packet, to: lab.innerMAC)
        }
        try endpoint.flush()
        for i in 0..<5 {
            var p = pollfd(fd: receiver, events: Int16(POLLIN), revents: 0)
            #expect(poll(&p, 1, 10_000) == 1)
            var buffer = [UInt8](repeating: 0, count: 2048)
            let n = buffer.withUnsafeMutableBytes { recv(receiver, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            #expect(n > 0 && Array(buffer[0..<max(n, 0)]) == Array("from-endpoint-\(i)".utf8))
        }
        #expect(endpoint.statistics.sent == 5)
    }

    @Test func severalPacketSocketsShareTheTrafficThroughFanout() throws {
        let lab = try VethLab()
        // Keep the namespaces until the end of the test (ARC could end `lab` at its last use).
        defer { withExtendedLifetime(lab) {} }
        let fds = [lab.outerPacketSocket(), lab.outerPacketSocket()]
        try #require(fds.allSatisfy { $0 >= 0 })
        defer { fds.forEach { close($0) } }
        let endpoint = try FDBasedEndpoint(
            options: .init(
                fds: fds, mtu: 1500, address: Self.endpointMAC,
                dispatchMode: .packetMMap))
        defer { endpoint.close() }
        #expect(endpoint.effectiveDispatchModes == [.packetMMap, .packetMMap])
        let recorder = RecordingDispatcher()
        endpoint.attach(recorder)
        try lab.inInner([
            "ip", "neigh", "replace", "\(lab.endpointAddress)", "lladdr", "\(Self.endpointMAC)",
            "dev", lab.innerLink, "nud", "permanent"
        ])
        // 16 flows (destination ports), 4 datagrams each.
        let script = (0..<64).map { "echo -n x > /dev/udp/\(lab.endpointAddress)/\(9000 + $0 % 16)" }.joined(
            separator: "; ")
        try lab.inInner(["bash", "-c", script])
        #expect(recorder.wait { $0 >= 64 })
        usleep(100_000)
        // In one fanout group each frame is read once, whichever fd it hashed to.
        #expect(recorder.count == 64)
        #expect(endpoint.statistics.received == 64)
    }

    static func ipProtocol(_ packet: Delivered) -> UInt8? {
        packet.protocolNumber == .ipv4 && packet.network.count >= 20 ? packet.network[9] : nil
    }

    static func bytes(_ address: IPv4Address) -> [UInt8] {
        [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: address.rawValue >> $0) }
    }

    func endpointAddressParts(_ address: IPv4Address, last: UInt8) -> UInt32 {
        address.rawValue & 0xFFFF_FF00 | UInt32(last)
    }
}

extension IPv4Address {
    init(_ raw: UInt32) { self.init(rawValue: raw) }
}

extension VethLab {
    /// Like inInner, for commands whose exit status says nothing about the frames they sent
    /// (ping to an address that never answers).
    func inInner(_ arguments: [String], allowFailure: Bool) throws {
        do { try inInner(arguments) } catch  where allowFailure {}
    }
}

@Suite(.tags(.root), .needsRoot) struct VethGSOTests {
    /// A TCP super-frame written with a virtio_net_hdr (GSO TCPv4, NEEDS_CSUM) is taken by the
    /// kernel and every payload byte reaches the other end of the veth, whether it travels as one
    /// GSO packet or is segmented on the way.
    @Test func gsoSuperFrameIsAcceptedAndArrivesWhole() throws {
        let lab = try VethLab(mtu: 1500)
        // Keep the namespaces until the end of the test (ARC could end `lab` at its last use).
        defer { withExtendedLifetime(lab) {} }
        let fd = lab.outerPacketSocket()
        let tap = lab.innerPacketSocket()
        try #require(fd >= 0 && tap >= 0)
        defer {
            close(fd)
            close(tap)
        }
        let endpoint = try FDBasedEndpoint(
            options: .init(
                fds: [fd], mtu: 1500, address: VethTests.endpointMAC,
                gsoMaxSize: 65535, driver: .external, txChecksumOffload: true))
        defer { endpoint.close() }
        let payload = (0..<4000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let packet = Self.tcpIPv4(source: lab.endpointAddress, destination: lab.innerAddress, payload: payload)
        let gso = GSOInfo(
            kind: .tcpv4, headerLength: 14 + 40, segmentSize: 1000, checksumStart: 20, checksumOffset: 16,
            needsChecksum: true)
        try endpoint.write(packet, to: lab.innerMAC, gso: gso)
        try endpoint.flush()
        #expect(endpoint.statistics.sent == 1)
        #expect(endpoint.statistics.sendFailed == 0)

        // Collect the TCP payload the inner end received from the endpoint's address.
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 70_000)
        var p = pollfd(fd: tap, events: Int16(POLLIN), revents: 0)
        while received.count < payload.count, poll(&p, 1, 10_000) == 1 {
            let n = buffer.withUnsafeMutableBytes { recv(tap, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            guard n > 54, buffer[12] == 0x08, buffer[13] == 0x00, buffer[23] == 6,
                Array(buffer[26..<30]) == VethTests.bytes(lab.endpointAddress)
            else { continue }
            let ipHeader = Int(buffer[14] & 0x0F) * 4
            let total = Int(buffer[16]) << 8 | Int(buffer[17])
            let tcpHeader = Int(buffer[14 + ipHeader + 12] >> 4) * 4
            let start = 14 + ipHeader + tcpHeader
            // A GSO packet's total length may be 0 on the wire view; use the bytes we have then.
            let end = total > 0 ? min(n, 14 + total) : n
            if start < end { received += buffer[start..<end] }
        }
        #expect(received == payload)
    }

    static func tcpIPv4(source: IPv4Address, destination: IPv4Address, payload: [UInt8]) -> [UInt8] {
        let total = 40 + payload.count
        var ip: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 1, 0x40, 0, 64, 6, 0, 0]
        ip += VethTests.bytes(source) + VethTests.bytes(destination)
        let sum = Frames.checksum(ip[...])
        ip[10] = UInt8(sum >> 8)
        ip[11] = UInt8(sum & 0xFF)
        // Ports 7000 -> 6001, seq 1, ack 1, data offset 5, ACK|PSH, window 512.
        var tcp: [UInt8] = [0x1B, 0x58, 0x17, 0x71, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0x02, 0x00, 0, 0, 0, 0]
        // NEEDS_CSUM: the field holds the folded pseudo-header sum, not complemented.
        let tcpLength = 20 + payload.count
        let pseudo =
            VethTests.bytes(source) + VethTests.bytes(destination) + [
                0, 6, UInt8(tcpLength >> 8), UInt8(tcpLength & 0xFF)
            ]
        let partial = ~Frames.checksum(pseudo[...])
        tcp[16] = UInt8(partial >> 8)
        tcp[17] = UInt8(partial & 0xFF)
        return ip + tcp + payload
    }
}
