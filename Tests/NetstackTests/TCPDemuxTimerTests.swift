// The demux's timer schedule (TCPTimerHeap): `pollDue` runs only the connections whose timers
// are due, `nextDeadline` names the earliest live one, and a connection that closed outside
// the demux (a user abort) is dropped by the next `pollDue`.

import Netstack
import Testing
import Wire

@Suite struct TCPDemuxTimerTests {
    static func flow(_ port: UInt16) -> TCPFlowID {
        TCPFlowID(local: TCPSocketAddress(peerAddress.address, port), remote: ourAddress)
    }

    @Test func pollDueRunsOnlyDueConnectionsAndDropsClosedOnes() throws {
        let demux = TCPDemux()
        var out = Capture()
        var connections: [TCPConnection] = []
        for i in 0..<100 {
            // Staggered starts: connection i sends its SYN at i ms, so its SYN timer fires i ms
            // after the first one's.
            let connection = try TCPConnection.connect(
                flow: Self.flow(40_000 + UInt16(i)), iss: SeqNumber(rawValue: 1000),
                now: .milliseconds(UInt64(i)), output: &out)
            demux.register(connection)
            connections.append(connection)
        }
        #expect(out.take().count == 100)
        let first = try #require(connections[0].nextDeadline)
        #expect(demux.nextDeadline == first)

        // Just before the first SYN timer: nothing runs.
        demux.pollDue(now: NetstackInstant(nanoseconds: first.nanoseconds - 1), output: &out)
        #expect(out.take().isEmpty)

        // Aborted by its user (outside the demux): gone at the next pollDue, nothing else ran.
        connections[50].abort(now: .milliseconds(100), output: &out)
        _ = out.take()
        demux.pollDue(now: .milliseconds(100), output: &out)
        #expect(demux.connections[Self.flow(40_050)] == nil)
        #expect(demux.connections.count == 99)
        #expect(out.take().isEmpty)

        // Ten SYN timers are due: exactly those ten connections retransmit their SYN.
        let tenth = try #require(connections[9].nextDeadline)
        demux.pollDue(now: tenth, output: &out)
        let resent = out.take()
        #expect(resent.count == 10)
        #expect(Set(resent.map(\.flow)) == Set((0..<10).map { Self.flow(40_000 + UInt16($0)) }))
        #expect(resent.allSatisfy { $0.repr.flags.contains(.syn) })
        // The next deadline is the eleventh connection's (the first ten backed off).
        #expect(demux.nextDeadline == connections[10].nextDeadline)
    }

    /// The stack-wide retransmission counters sum every connection the demux held, those
    /// still held and those gone: what a guard reads to say "no RTO on a clean link".
    @Test func retransmissionTimeoutsAreSummedOverLiveAndDepartedConnections() throws {
        let demux = TCPDemux()
        var out = Capture()
        let a = try TCPConnection.connect(flow: Self.flow(41_000), iss: seq(1000), now: .zero, output: &out)
        let b = try TCPConnection.connect(flow: Self.flow(41_001), iss: seq(1000), now: .zero, output: &out)
        demux.register(a)
        demux.register(b)
        #expect(demux.counters.retransmissionTimeouts == 0)
        // RFC 6298 5.4-5.6 (and 9293 3.8.1's SYN retransmission): the initial RTO of 1 s passes,
        // each SYN goes again.
        let deadline = try #require(a.nextDeadline)
        demux.pollDue(now: deadline, output: &out)
        #expect(out.take().filter { $0.repr.flags.contains(.syn) }.count == 4)
        #expect(demux.counters.retransmissionTimeouts == 2)
        #expect(
            demux.counters.retransmittedSegments == a.counters.retransmittedSegments + b.counters.retransmittedSegments)
        // One connection leaves the demux: its timeouts stay counted.
        demux.remove(a.flow)
        #expect(demux.counters.retransmissionTimeouts == 2)
    }
}
