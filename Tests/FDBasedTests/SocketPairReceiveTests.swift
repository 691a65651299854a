// Receive paths over AF_UNIX socketpairs: every dispatch mode, both drivers, bad frames.

import FDBased
import Glibc
import Link
import Testing
import Wire

@Suite struct SocketPairReceiveTests {
    static let modes: [(PacketDispatchMode, Int32)] = [
        (.readv, Int32(SOCK_SEQPACKET.rawValue)), (.readv, Int32(SOCK_DGRAM.rawValue)),
        (.recvmmsg, Int32(SOCK_SEQPACKET.rawValue)), (.recvmmsg, Int32(SOCK_DGRAM.rawValue))
    ]

    @Test(arguments: [0, 1, 2, 3])
    func dispatcherThreadsDeliverFramesIntact(modeIndex: Int) throws {
        let (mode, type) = Self.modes[modeIndex]
        let pair = SocketPair(type: type)
        let endpoint = try FDBasedEndpoint(
            options: .init(
                fds: [pair.endpointSide], mtu: 1500,
                address: Frames.endpointMAC, dispatchMode: mode))
        defer { endpoint.close() }
        #expect(endpoint.effectiveDispatchModes == [mode])
        let recorder = RecordingDispatcher()
        endpoint.attach(recorder)
        #expect(endpoint.isAttached)
        var sent: [[UInt8]] = []
        for i in 0..<50 {
            let payload = (0..<(20 + i * 7)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) }
            let frame = Frames.ethernet(type: 0x0800, payload: payload)
            sent.append(frame)
            pair.send(frame)
        }
        #expect(recorder.wait { $0 >= 50 })
        let got = recorder.packets
        #expect(got.count == 50)
        for (frame, packet) in zip(sent, got) {
            #expect(packet.protocolNumber == .ipv4)
            #expect(packet.linkHeader == Array(frame[0..<14]))
            #expect(packet.network == Array(frame[14...]))
            #expect(packet.gso == nil)
            #expect(!packet.checksumVerified)
        }
        #expect(recorder.batchEnds >= 1)
        #expect(endpoint.statistics.received == 50)
    }

    @Test func recvmmsgOnNonSocketFallsBackToReadv() throws {
        // A pipe opened with O_DIRECT is a "packet mode" pipe: each write is one read.
        var fds: [Int32] = [-1, -1]
        #expect(LibC.pipe2(&fds, LibC.packetModePipe) == 0)
        defer {
            Glibc.close(fds[0])
            Glibc.close(fds[1])
        }
        let endpoint = try FDBasedEndpoint(
            options: .init(
                fds: [fds[0]], mtu: 1500, dispatchMode: .recvmmsg,
                driver: .external))
        defer { endpoint.close() }
        #expect(endpoint.effectiveDispatchModes == [.readv])
        let recorder = RecordingDispatcher()
        endpoint.attach(recorder)
        let frame = Frames.ethernet(type: 0x0806, payload: Array(repeating: 7, count: 28))
        #expect(frame.withUnsafeBytes { Glibc.write(fds[1], $0.baseAddress, $0.count) } == frame.count)
        let result = endpoint.dispatchAvailable()
        #expect(result.framesRead == 1)
        #expect(recorder.packets.map(\.protocolNumber) == [.arp])
        #expect(recorder.packets.first?.network == Array(frame[14...]))
    }

    @Test func packetMMapRefusesNonPacketSocket() {
        let pair = SocketPair.seqpacket
        #expect(throws: FDBasedError.packetMMapNeedsPacketSocket(fd: pair.endpointSide)) {
            _ = try FDBasedEndpoint(options: .init(fds: [pair.endpointSide], dispatchMode: .packetMMap))
        }
    }

    @Test func endpointMakesFDNonBlockingAndLeavesItOpen() throws {
        let pair = SocketPair.seqpacket
        #expect(fcntl(pair.endpointSide, F_GETFL) & O_NONBLOCK == 0)
        do {
            let endpoint = try FDBasedEndpoint(options: .init(fds: [pair.endpointSide], socketBufferSize: 100_000))
            #expect(fcntl(pair.endpointSide, F_GETFL) & O_NONBLOCK != 0)
            var size: Int32 = 0
            var length = socklen_t(4)
            getsockopt(pair.endpointSide, SOL_SOCKET, SO_RCVBUF, &size, &length)
            #expect(size == 200_000) // the kernel doubles what it is asked (socket(7))
            endpoint.close()
        }
        // Still open: the endpoint does not own it.
        #expect(fcntl(pair.endpointSide, F_GETFD) >= 0)
    }

    @Test(arguments: [PacketDispatchMode.readv, .recvmmsg])
    func badFramesAreCountedAndSkipped(mode: PacketDispatchMode) throws {
        let pair = SocketPair.datagram
        let endpoint = try FDBasedEndpoint(
            options: .init(
                fds: [pair.endpointSide], mtu: 1500, address: Frames.endpointMAC,
                dispatchMode: mode, driver: .external))
        defer { endpoint.close() }
        let recorder = RecordingDispatcher()
        endpoint.attach(recorder)
        pair.send([]) // empty datagram
        pair.send([1, 2, 3, 4, 5]) // shorter than Ethernet
        pair.send(Array(Frames.ethernet(type: 0x0800, payload: []))) // header only
        pair.send(Frames.ethernet(to: MACAddress(0x02, 9, 9, 9, 9, 9), type: 0x0800, payload: [0x45])) // other MAC
        pair.send(Frames.ethernet(type: 0x0800, payload: Array(repeating: 1, count: 3000))) // over the buffer
        pair.send(Frames.ethernet(to: .broadcast, type: 0x0806, payload: [1, 2, 3])) // good
        pair.send(Frames.ethernet(type: 0x0800, payload: [0x45, 0])) // good
        let result = endpoint.dispatchAvailable()
        #expect(result.framesRead == 7)
        #expect(!result.closed)
        #expect(recorder.packets.map(\.protocolNumber) == [.arp, .ipv4])
        let stats = endpoint.statistics
        #expect(stats.received == 2)
        #expect(stats.droppedShort == 3)
        #expect(stats.droppedOtherAddress == 1)
        #expect(stats.truncated == 1)
    }

    @Test func externalDriverDrainsWithinBudgetAndEndsEachBatch() throws {
        let pair = SocketPair.seqpacket
        let endpoint = try FDBasedEndpoint(
            options: .init(
                fds: [pair.endpointSide], mtu: 1500, dispatchMode: .recvmmsg,
                driver: .external, recvmmsgBatchSize: 4, dispatchBudget: 10))
        defer { endpoint.close() }
        #expect(endpoint.pollableFileDescriptors == [pair.endpointSide])
        let recorder = RecordingDispatcher()
        // Nothing attached: nothing is read.
        for i in 0..<25 { pair.send(Frames.ethernet(type: 0x0800, payload: [UInt8(i)])) }
        #expect(endpoint.dispatchAvailable().framesRead == 0)
        endpoint.attach(recorder)
        let first = endpoint.dispatchAvailable()
        #expect(first == .init(framesRead: 10, moreAvailable: true, closed: false))
        #expect(recorder.batchEnds == 1)
        #expect(endpoint.dispatchAvailable().framesRead == 10)
        let last = endpoint.dispatchAvailable()
        #expect(last.framesRead == 5)
        #expect(!last.moreAvailable)
        #expect(recorder.packets.map { $0.network[0] } == (0..<25).map(UInt8.init))
        #expect(endpoint.dispatchAvailable().framesRead == 0)
        #expect(recorder.batchEnds == 3)
    }

    @Test func vlanTaggedFrameDeliversTheInnerEtherType() throws {
        let pair = SocketPair.seqpacket
        let endpoint = try FDBasedEndpoint(
            options: .init(
                fds: [pair.endpointSide], mtu: 1500, address: Frames.endpointMAC,
                driver: .external))
        defer { endpoint.close() }
        let recorder = RecordingDispatcher()
        endpoint.attach(recorder)
        // 802.1Q tag VID 5, then IPv4.
        let frame =
            Frames.mac(Frames.endpointMAC) + Frames.mac(Frames.peerMAC) + [0x81, 0x00, 0x00, 0x05, 0x08, 0x00, 0x45, 1]
        pair.send(frame)
        pair.send(Array(frame[0..<17])) // tag cut short
        _ = endpoint.dispatchAvailable()
        #expect(
            recorder.packets == [
                Delivered(
                    protocolNumber: .ipv4, linkHeader: Array(frame[0..<18]), network: [0x45, 1],
                    gso: nil, checksumVerified: false)
            ])
        #expect(endpoint.statistics.droppedShort == 1)
    }

    @Test func withoutEthernetHeaderProtocolComesFromIPVersion() throws {
        let pair = SocketPair.seqpacket
        let endpoint = try FDBasedEndpoint(
            options: .init(
                fds: [pair.endpointSide], mtu: 1500, ethernetHeader: false,
                driver: .external))
        defer { endpoint.close() }
        #expect(endpoint.maxHeaderLength == 0)
        #expect(!endpoint.capabilities.contains(.resolutionRequired))
        let recorder = RecordingDispatcher()
        endpoint.attach(recorder)
        pair.send([0x45, 0, 0, 20])
        pair.send([0x60, 0, 0, 0])
        pair.send([0x10, 0, 0, 0])
        _ = endpoint.dispatchAvailable()
        #expect(recorder.packets.map(\.protocolNumber) == [.ipv4, .ipv6])
        #expect(recorder.packets.allSatisfy { $0.linkHeader.isEmpty })
        #expect(endpoint.statistics.droppedUnknownProtocol == 1)
    }
}
