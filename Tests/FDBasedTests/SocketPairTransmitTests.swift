// Write paths over socketpairs: batching, flush, limits, virtio_net_hdr both ways, injection.

import FDBased
import Glibc
import Link
import Testing
import Wire

@Suite struct SocketPairTransmitTests {
    @Test(arguments: [Int32(SOCK_SEQPACKET.rawValue), Int32(SOCK_DGRAM.rawValue)])
    func writesWaitForFlushAndKeepOrder(type: Int32) throws {
        let pair = SocketPair(type: type)
        let endpoint = try FDBasedEndpoint(
            options: .init(
                fds: [pair.endpointSide], mtu: 1500, address: Frames.endpointMAC,
                driver: .external, txBatchSize: 64))
        defer { endpoint.close() }
        var packets: [[UInt8]] = []
        for i in 0..<20 {
            let packet = [0x45] + (0..<(i * 50)).map { UInt8(truncatingIfNeeded: $0 ^ i) }
            packets.append(packet)
            try endpoint.write(packet)
        }
        #expect(pair.receive() == nil)
        try endpoint.flush()
        for packet in packets {
            let frame = try #require(pair.receive())
            #expect(
                frame == Frames.ethernet(to: Frames.peerMAC, from: Frames.endpointMAC, type: 0x0800, payload: packet))
        }
        #expect(pair.receive() == nil)
        let stats = endpoint.statistics
        #expect(stats.sent == 20)
        #expect(stats.sentBytes == UInt64(packets.reduce(0) { $0 + $1.count + 14 }))
    }

    @Test(arguments: [false, true])
    func largeFrameIsSentAtOnceAfterWhatWasQueued(virtio: Bool) throws {
        let pair = SocketPair.seqpacket
        let endpoint = try FDBasedEndpoint(
            options: .init(
                fds: [pair.endpointSide], mtu: 65520, address: Frames.endpointMAC,
                gsoMaxSize: virtio ? 65535 : 0, driver: .external))
        defer { endpoint.close() }
        let prefix = virtio ? 10 : 0
        let large = [0x45] + (0..<30_000).map { UInt8(truncatingIfNeeded: $0 % 251) }
        try endpoint.write([0x45, 1])
        try endpoint.write(large)
        try endpoint.write([0x45, 2])
        // The large frame went out at once, behind the queued small one; the last waits for flush.
        #expect(pair.receive().map { Array($0[(prefix + 14)...]) } == [0x45, 1])
        let frame = try #require(pair.receive())
        #expect(Array(frame[0..<prefix]) == Array(repeating: 0, count: prefix))
        #expect(
            Array(frame[prefix..<(prefix + 14)]) == Frames.mac(Frames.peerMAC) + Frames.mac(Frames.endpointMAC) + [8, 0]
        )
        #expect(Array(frame[(prefix + 14)...]) == large)
        #expect(pair.receive() == nil)
        try endpoint.flush()
        #expect(pair.receive().map { Array($0[(prefix + 14)...]) } == [0x45, 2])
        #expect(endpoint.statistics.sent == 3)
    }

    @Test func fullBatchIsSentWithoutFlush() throws {
        let pair = SocketPair.seqpacket
        let endpoint = try FDBasedEndpoint(
            options: .init(
                fds: [pair.endpointSide], mtu: 1500, driver: .external,
                txBatchSize: 4))
        defer { endpoint.close() }
        for i in 0..<5 { try endpoint.write([0x45, UInt8(i)]) }
        // The fifth write found the batch full and sent the first four.
        for i in 0..<4 { #expect(pair.receive().map { Array($0[14...]) } == [0x45, UInt8(i)]) }
        #expect(pair.receive() == nil)
        try endpoint.flush()
        #expect(pair.receive().map { Array($0[14...]) } == [0x45, 4])
    }

    @Test func writePacketsSendsHeaderAndPayloadBatch() throws {
        let pair = SocketPair.datagram
        let endpoint = try FDBasedEndpoint(
            options: .init(
                fds: [pair.endpointSide], mtu: 1500, address: Frames.endpointMAC,
                driver: .external))
        defer { endpoint.close() }
        let header: [UInt8] = [0x45, 1, 2, 3]
        let payload: [UInt8] = Array(repeating: 0xAB, count: 100)
        let result = header.withUnsafeBytes { h in
            payload.withUnsafeBytes { p in
                let packets = (0..<3).map { i in
                    OutboundPacket(
                        protocolNumber: i == 1 ? .ipv6 : .ipv4, remoteLinkAddress: .broadcast, header: h, payload: p)
                }
                return packets.withUnsafeBufferPointer { endpoint.writePackets($0) }
            }
        }
        #expect(result.written == 3)
        #expect(result.error == nil)
        try endpoint.flush()
        for i in 0..<3 {
            let frame = try #require(pair.receive())
            #expect(
                frame
                    == Frames.ethernet(
                        to: .broadcast, from: Frames.endpointMAC, type: i == 1 ? 0x86DD : 0x0800,
                        payload: header + payload))
        }
    }

    @Test func oversizedAndUnsupportedWritesAreRefused() throws {
        let pair = SocketPair.seqpacket
        let endpoint = try FDBasedEndpoint(options: .init(fds: [pair.endpointSide], mtu: 1500, driver: .external))
        defer { endpoint.close() }
        #expect(throws: LinkError.messageTooLong) { try endpoint.write(Array(repeating: 0x45, count: 1501)) }
        let gso = GSOInfo(kind: .tcpv4, headerLength: 54, segmentSize: 1448)
        #expect(throws: LinkError.notSupported) { try endpoint.write(Array(repeating: 0x45, count: 3000), gso: gso) }
        try endpoint.write(Array(repeating: 0x45, count: 1500))
        try endpoint.flush()
        #expect(pair.receive()?.count == 1514)
        #expect(endpoint.statistics.sendRejected == 2)
    }

    @Test func sendFailureIsCountedAndThrownOnFlush() throws {
        // The peer is gone: every send fails (ECONNREFUSED / EPIPE), counted, first error thrown.
        let pair = SocketPair.seqpacket
        let endpoint = try FDBasedEndpoint(options: .init(fds: [pair.endpointSide], mtu: 1500, driver: .external))
        defer { endpoint.close() }
        pair.closePeer()
        try endpoint.write([0x45])
        try endpoint.write([0x45])
        #expect(throws: LinkError.self) { try endpoint.flush() }
        #expect(endpoint.statistics.sendFailed == 2)
        #expect(endpoint.statistics.sent == 0)
    }

    @Test func virtioHeaderIsWrittenForGSOAndZeroOtherwise() throws {
        let pair = SocketPair.seqpacket
        let endpoint = try FDBasedEndpoint(
            options: .init(
                fds: [pair.endpointSide], mtu: 1500, address: Frames.endpointMAC,
                gsoMaxSize: 65535, driver: .external, txChecksumOffload: true))
        defer { endpoint.close() }
        #expect(endpoint.capabilities.contains(.gso))
        #expect(endpoint.capabilities.contains(.txChecksumOffload))
        let big = [0x45] + Array(repeating: UInt8(7), count: 9999)
        // checksumStart 20 (TCP after a 20-byte IPv4 header), TCP checksum at +16.
        let gso = GSOInfo(
            kind: .tcpv4, headerLength: 14 + 20 + 32, segmentSize: 1448,
            checksumStart: 20, checksumOffset: 16, needsChecksum: true)
        try endpoint.write(big, gso: gso)
        try endpoint.write([0x45, 0, 0, 4])
        try endpoint.flush()
        let first = try #require(pair.receive())
        // flags NEEDS_CSUM, type TCPV4, hdr_len 66, gso_size 1448, csum_start 34, csum_offset 16
        #expect(Array(first[0..<10]) == [1, 1, 66, 0, 0xA8, 0x05, 34, 0, 16, 0])
        #expect(Array(first[10..<24]) == Frames.mac(Frames.peerMAC) + Frames.mac(Frames.endpointMAC) + [8, 0])
        #expect(Array(first[24...]) == big)
        let second = try #require(pair.receive())
        #expect(Array(second[0..<10]) == Array(repeating: 0, count: 10))
        #expect(second.count == 10 + 14 + 4)
        #expect(throws: LinkError.messageTooLong) { try endpoint.write(Array(repeating: 0x45, count: 65536), gso: gso) }
    }

    @Test func virtioHeaderIsReadIntoGSOInfo() throws {
        let pair = SocketPair.seqpacket
        let endpoint = try FDBasedEndpoint(
            options: .init(
                fds: [pair.endpointSide], mtu: 1500, gsoMaxSize: 65535,
                dispatchMode: .recvmmsg, driver: .external))
        defer { endpoint.close() }
        let recorder = RecordingDispatcher()
        endpoint.attach(recorder)
        let packet = [UInt8](repeating: 0x45, count: 5000)
        let frame = Frames.ethernet(type: 0x0800, payload: packet)
        // GSO TCPv6 with NEEDS_CSUM: csum_start 54 (14 + 40), offset 16.
        pair.send([1, 4, 74, 0, 0xA0, 0x05, 54, 0, 16, 0] + frame)
        // No GSO, DATA_VALID.
        pair.send([2, 0, 0, 0, 0, 0, 0, 0, 0, 0] + Frames.ethernet(type: 0x86DD, payload: [0x60]))
        // No flags at all.
        pair.send([0, 0, 0, 0, 0, 0, 0, 0, 0, 0] + Frames.ethernet(type: 0x0800, payload: [0x45]))
        // GSO UDP_L4 (an app's UDP_SEGMENT batch), 16-byte datagrams.
        pair.send([0, 5, 42, 0, 0x10, 0, 0, 0, 0, 0] + frame)
        // Unknown GSO type 6, and a checksum offset past the frame: both dropped.
        pair.send([0, 6, 0, 0, 0x10, 0, 0, 0, 0, 0] + frame)
        pair.send([1, 0, 0, 0, 0, 0, 54, 0, 0xFF, 0x7F] + frame)
        _ = endpoint.dispatchAvailable()
        let got = recorder.packets
        #expect(got.count == 4)
        #expect(got.dropFirst(3).first?.gso == GSOInfo(kind: .udpL4, headerLength: 42, segmentSize: 16))
        #expect(
            got.first?.gso
                == GSOInfo(
                    kind: .tcpv6, headerLength: 74, segmentSize: 1440, checksumStart: 40,
                    checksumOffset: 16, needsChecksum: true))
        #expect(got.first?.checksumVerified == true)
        #expect(got.first?.network == packet)
        #expect(got.dropFirst().first?.gso == nil)
        #expect(got.dropFirst().first?.checksumVerified == true)
        #expect(got.dropFirst(2).first?.checksumVerified == false)
        #expect(endpoint.statistics.droppedBadVirtioHeader == 2)
    }

    @Test func injectableEndpointInjectsInwardAndWritesOutward() throws {
        let pair = SocketPair.seqpacket
        let endpoint = try InjectableEndpoint(
            options: .init(fds: [pair.endpointSide], mtu: 1500, address: Frames.endpointMAC))
        defer { endpoint.close() }
        let recorder = RecordingDispatcher()
        #expect(
            !endpoint.inject(
                .ipv4, InboundPacket(linkHeader: .init(start: nil, count: 0), network: .init(start: nil, count: 0))))
        endpoint.attach(recorder)
        // A frame on the fd is never read.
        pair.send(Frames.ethernet(type: 0x0800, payload: [0x45]))
        let network: [UInt8] = [0x45, 9, 9]
        network.withUnsafeBytes { bytes in
            #expect(
                endpoint.inject(
                    .ipv4,
                    InboundPacket(
                        linkHeader: .init(start: nil, count: 0), network: bytes,
                        checksumVerified: true)))
        }
        usleep(10_000)
        #expect(
            recorder.packets == [
                Delivered(
                    protocolNumber: .ipv4, linkHeader: [], network: network, gso: nil,
                    checksumVerified: true)
            ])
        #expect(recorder.batchEnds == 1)
        let raw: [UInt8] = [1, 2, 3, 4, 5, 6, 7]
        try raw.withUnsafeBytes { bytes in try endpoint.injectOutbound(bytes) }
        #expect(pair.receive() == raw)
        // Ordinary writes still go out framed.
        try network.withUnsafeBytes { bytes in
            try endpoint.writePacket(
                OutboundPacket(protocolNumber: .ipv4, remoteLinkAddress: Frames.peerMAC, header: bytes))
        }
        try endpoint.flush()
        #expect(
            pair.receive()
                == Frames.ethernet(to: Frames.peerMAC, from: Frames.endpointMAC, type: 0x0800, payload: network))
    }
}
