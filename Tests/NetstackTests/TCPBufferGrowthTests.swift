// Rings that grow with use: a connection opens with a receive ring the size of its initial
// window and a send ring of twice its initial congestion window, and grows each (by doubling,
// within the memory budget) only when auto-tuning asks: the application drains the receive
// window fast enough, or keeps the send ring full while the congestion window outgrows it.

import Netstack
import Testing

@Suite struct TCPBufferGrowthTests {
    static func config() -> TCPConfig {
        var config = plainConfig()
        config.receiveBufferSize = 256 * 1024
        config.initialReceiveWindow = 16 * 1024
        config.sendBufferSize = 256 * 1024
        return config
    }

    @Test func ringsOpenAtTheirInitialSizes() throws {
        let budget = TCPMemoryBudget(limit: 1 << 30)
        let h = try TCPHarness.established(Self.config(), budget: budget)
        // Send: max(64 KiB, 2 * 14600); receive: the 16 KiB initial window.
        #expect(budget.used == 64 * 1024 + 16 * 1024)
        #expect(h.connection.writableSpace == 64 * 1024)
    }

    /// The application drained half the window: the limit doubles and the ring with it, and
    /// out-of-order data held past a hole keeps its place across the move.
    @Test func receiveRingGrowsWithTheDrainKeepingHeldData() throws {
        let budget = TCPMemoryBudget(limit: 1 << 30)
        let h = try TCPHarness.established(Self.config(), budget: budget)
        let data = tcpBytes(13_000)
        for offset in stride(from: 0, to: 9000, by: 1000) {
            h.segment(seq: peerISS + 1 + UInt32(offset), ack: ourISS + 1, payload: Array(data[offset..<offset + 1000]))
        }
        #expect(h.read() == Array(data[0..<9000]))
        // Held past a hole at 9000..<10000.
        h.segment(seq: peerISS + 10_001, ack: ourISS + 1, payload: Array(data[10_000..<13_000]))
        // Auto-tuning looks once per RTT (100 ms before there is an estimate).
        h.advance(ms: 100)
        #expect(h.connection.counters.bufferGrowths == 1)
        #expect(budget.used == 64 * 1024 + 32 * 1024)
        let ack = h.segment(seq: peerISS + 9001, ack: ourISS + 1, payload: Array(data[9000..<10_000]))
        #expect(ack.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 13_001, flags: .ack)])
        #expect(ack.first?.window == UInt16(32 * 1024 - 4000))
        #expect(h.read() == Array(data[9000..<13_000]))
    }

    /// Writes what fits (at most `writeSize`), then acknowledges each segment sent, `rounds`
    /// times: slow start doubles the congestion window each round.
    static func fillAndAcknowledge(_ h: TCPHarness, rounds: Int, writeSize: Int? = nil) throws {
        for _ in 0..<rounds {
            let room = min(writeSize ?? .max, h.connection.writableSpace)
            var sent = room > 0 ? try h.write(tcpBytes(room)) : []
            while !sent.isEmpty {
                var more: [Sent] = []
                for segment in sent where !segment.payload.isEmpty {
                    more += h.segment(seq: peerISS + 1, ack: segment.seq + UInt32(segment.payload.count))
                }
                sent = more
            }
        }
    }

    /// A writer that keeps the ring full while slow start doubles the congestion window past
    /// half the ring: the ring doubles (Linux's tcp_sndbuf_expand), up to `sendBufferSize`.
    @Test func sendRingGrowsWhileTheApplicationKeepsItFull() throws {
        let budget = TCPMemoryBudget(limit: 1 << 30)
        let h = try TCPHarness.established(Self.config(), budget: budget)
        try Self.fillAndAcknowledge(h, rounds: 12)
        #expect(h.connection.counters.bufferGrowths >= 1)
        #expect(budget.used > 64 * 1024 + 16 * 1024)
        #expect(budget.used <= 256 * 1024 + 16 * 1024)
    }

    /// A writer that never fills the ring never grows it, however long it runs.
    @Test func sendRingStaysSmallForAnApplicationThatDoesNotFillIt() throws {
        let budget = TCPMemoryBudget(limit: 1 << 30)
        let h = try TCPHarness.established(Self.config(), budget: budget)
        try Self.fillAndAcknowledge(h, rounds: 50, writeSize: 1460)
        #expect(h.connection.counters.bufferGrowths == 0)
        #expect(budget.used == 64 * 1024 + 16 * 1024)
    }

    /// With the budget spent, auto-tuning stops at the ring it has: counted, nothing lost.
    @Test func growthTheBudgetRefusesLeavesTheRing() throws {
        let budget = TCPMemoryBudget(limit: 64 * 1024 + 16 * 1024)
        let h = try TCPHarness.established(Self.config(), budget: budget)
        for offset in stride(from: 0, to: 9000, by: 1000) {
            h.segment(seq: peerISS + 1 + UInt32(offset), ack: ourISS + 1, payload: tcpBytes(1000))
        }
        #expect(h.read().count == 9000)
        h.advance(ms: 100)
        #expect(h.connection.counters.bufferGrowths == 0)
        #expect(budget.refusals == 1)
        let acks = h.segment(seq: peerISS + 9001, ack: ourISS + 1, payload: tcpBytes(1000)) + h.advance(ms: 40)
        #expect(acks.last?.window == UInt16(16 * 1024 - 1000), "the window stays within the 16 KiB ring")
        #expect(h.read().count == 1000)
    }
}
