// Receive path: delayed ACKs, out-of-order data and reassembly, the acceptability test
// (RFC 9293 3.10.7.4), zero windows, window updates.

import Netstack
import Testing
import Wire

@Suite struct TCPReceiveTests {
    static func smallWindowConfig() -> TCPConfig {
        var config = plainConfig()
        config.receiveBufferSize = 4096
        config.initialReceiveWindow = 4096
        return config
    }

    /// `read(inPlace:)` hands out the received bytes where they lie: two runs once the ring
    /// wraps, and only what the reader took is gone.
    @Test func readInPlaceHandsOutBothRunsOfAWrappedRingAndKeepsTheRest() throws {
        let h = try TCPHarness.established(Self.smallWindowConfig())
        _ = h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: tcpBytes(3000))
        #expect(h.read(max: 2500) == tcpBytes(2500))
        // The delayed ACK offers the window the read opened.
        _ = h.advance(ms: 100)
        _ = h.segment(seq: peerISS + 3001, ack: ourISS + 1, payload: tcpBytes(3000, start: 184))
        let expected = Array(tcpBytes(3000).suffix(500)) + tcpBytes(3000, start: 184)
        var runs: [[UInt8]] = []
        let taken = h.connection.read(inPlace: { first, second in
            runs = [Array(first), Array(second)]
            return 1000
        })
        #expect(taken == 1000)
        #expect(runs.count == 2 && !runs[0].isEmpty && !runs[1].isEmpty, "the ring wrapped")
        #expect(runs.joined().elementsEqual(expected))
        #expect(h.connection.availableToRead == 2500)
        #expect(h.read() == Array(expected.dropFirst(1000)))
        #expect(h.connection.read(inPlace: { _, _ in 1 }) == 0, "nothing left to hand out")
    }

    @Test func inOrderDataDelaysAckAtMost40ms() throws {
        let h = try TCPHarness.established()
        #expect(h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: tcpBytes(100)).isEmpty)
        #expect(h.advance(ms: 39).isEmpty)
        #expect(h.advance(ms: 1).map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 101, flags: .ack)])
        #expect(h.read() == tcpBytes(100))
    }

    @Test func secondFullSegmentAcksImmediately() throws {
        let h = try TCPHarness.established()
        #expect(h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: tcpBytes(1460)).isEmpty)
        let sent = h.segment(seq: peerISS + 1461, ack: ourISS + 1, payload: tcpBytes(1460))
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 2921, flags: .ack)])
        #expect(h.advance(ms: 100).isEmpty)
    }

    @Test func outOfOrderSegmentAcksImmediately() throws {
        let h = try TCPHarness.established()
        let sent = h.segment(seq: peerISS + 101, ack: ourISS + 1, payload: tcpBytes(100))
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack)])
        #expect(h.read().isEmpty)
    }

    @Test func fillingHoleAcksImmediatelyAndDeliversInOrder() throws {
        let h = try TCPHarness.established()
        let data = tcpBytes(300)
        h.segment(seq: peerISS + 201, ack: ourISS + 1, payload: Array(data[200...]))
        h.segment(seq: peerISS + 101, ack: ourISS + 1, payload: Array(data[100..<200]))
        let sent = h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: Array(data[..<100]))
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 301, flags: .ack)])
        #expect(h.read() == data)
    }

    @Test func duplicateSegmentIsAcked() throws {
        let h = try TCPHarness.established()
        h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: tcpBytes(100))
        let sent = h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: tcpBytes(100))
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 101, flags: .ack)])
        #expect(h.read() == tcpBytes(100))
    }

    @Test func overlappingSegmentDeliversOnlyNewBytes() throws {
        let h = try TCPHarness.established()
        let data = tcpBytes(150)
        h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: Array(data[..<100]))
        #expect(h.segment(seq: peerISS + 51, ack: ourISS + 1, payload: Array(data[50...])).isEmpty)
        #expect(h.read() == data)
    }

    @Test func segmentBeyondWindowIsTrimmed() throws {
        let h = try TCPHarness.established(Self.smallWindowConfig())
        let sent = h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: tcpBytes(5000))
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 4097, flags: .ack)])
        #expect(sent.first?.window == 0)
        #expect(h.read() == tcpBytes(4096))
    }

    @Test func zeroWindowRejectsDataButProcessesAck() throws {
        let h = try TCPHarness.established(Self.smallWindowConfig())
        h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: tcpBytes(4096))
        let out = try h.write(tcpBytes(10))
        #expect(out.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 4097, flags: [.ack, .psh], length: 10)])
        // "special allowance should be made to accept valid ACKs": data refused, ACK used.
        let sent = h.segment(seq: peerISS + 4097, ack: ourISS + 11, payload: tcpBytes(10))
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 11, ack: peerISS + 4097, flags: .ack)])
        #expect(sent.first?.window == 0)
        #expect(h.connection.unacknowledgedBytes == 0)
    }

    @Test func zeroLengthSegmentInZeroWindowNeedsExactSequence() throws {
        let h = try TCPHarness.established(Self.smallWindowConfig())
        h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: tcpBytes(4096))
        #expect(h.segment(seq: peerISS + 4097, ack: ourISS + 1).isEmpty)
        let sent = h.segment(seq: peerISS + 4098, ack: ourISS + 1)
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 4097, flags: .ack)])
    }

    @Test func zeroLengthSegmentInsideWindowAccepted() throws {
        let h = try TCPHarness.established()
        #expect(h.segment(seq: peerISS + 1001, ack: ourISS + 1).isEmpty)
        #expect(h.connection.counters.unacceptableSegments == 0)
    }

    @Test func segmentBeforeWindowIsUnacceptable() throws {
        let h = try TCPHarness.established()
        let sent = h.segment(seq: peerISS - 10, ack: ourISS + 1, payload: tcpBytes(5))
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack)])
        #expect(h.connection.counters.unacceptableSegments == 1)
    }

    @Test func segmentFarBeyondWindowIsUnacceptable() throws {
        let h = try TCPHarness.established()
        let sent = h.segment(seq: peerISS + 100_000, ack: ourISS + 1, payload: tcpBytes(5))
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack)])
        #expect(h.read().isEmpty)
    }

    @Test func segmentWithoutAckBitDropped() throws {
        let h = try TCPHarness.established()
        #expect(h.segment(seq: peerISS + 1, flags: [], payload: tcpBytes(10)).isEmpty)
        #expect(h.read().isEmpty)
    }

    @Test func readOpensWindowAndSendsUpdate() throws {
        let h = try TCPHarness.established(Self.smallWindowConfig())
        h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: tcpBytes(4096))
        #expect(h.read().count == 4096)
        let sent = h.advance(ms: 0)
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 4097, flags: .ack)])
        #expect(sent.first?.window == 4096)
    }

    @Test func smallReadDoesNotSendWindowUpdate() throws {
        let h = try TCPHarness.established(Self.smallWindowConfig())
        h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: tcpBytes(4096))
        var buffer = [UInt8](repeating: 0, count: 100)
        _ = buffer.withUnsafeMutableBytes { h.connection.read(into: $0) }
        // Receiver SWS avoidance: 100 bytes of room is less than min(RCV.BUFF/2, MSS).
        #expect(h.advance(ms: 0).isEmpty)
    }

    @Test func outOfOrderTableFullDropsAndCounts() throws {
        var config = plainConfig()
        config.maximumOutOfOrderRanges = 2
        let h = try TCPHarness.established(config)
        h.segment(seq: peerISS + 101, ack: ourISS + 1, payload: tcpBytes(10))
        h.segment(seq: peerISS + 201, ack: ourISS + 1, payload: tcpBytes(10))
        let sent = h.segment(seq: peerISS + 301, ack: ourISS + 1, payload: tcpBytes(10))
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack)])
        #expect(h.connection.counters.outOfOrderDropped == 1)
    }

    @Test func urgentDataDeliveredInline() throws {
        let h = try TCPHarness.established()
        h.segment(seq: peerISS + 1, ack: ourISS + 1, flags: [.ack, .urg], payload: tcpBytes(20))
        #expect(h.read() == tcpBytes(20))
    }

    @Test func receiveWindowAutotuningGrows() throws {
        var config = plainConfig()
        config.receiveBufferSize = 1 << 20
        config.initialReceiveWindow = 16 * 1024
        config.windowScaling = true
        let h = try TCPHarness.established(config, peerOptions: options(mss: 1460, windowScale: 7))
        var sequence = peerISS + 1
        var lastWindow = 16 * 1024
        for _ in 0..<20 {
            // A sender that fills whatever window we advertise, once per (100 ms) round trip.
            let rightEdge = sequence + UInt32(lastWindow)
            while sequence + 1460 <= rightEdge {
                let sent = h.segment(seq: sequence, ack: ourISS + 1, payload: tcpBytes(1460))
                sequence += 1460
                if let w = sent.last?.window { lastWindow = Int(w) << 5 }
            }
            _ = h.read()
            if let w = h.advance(ms: 100).last?.window { lastWindow = Int(w) << 5 }
        }
        // The window started at 16 KiB and grew with the drain rate.
        #expect(lastWindow > 64 * 1024)
    }
}
