// Restart after idle, RFC 5681 section 4.1: a sender that has sent nothing for longer than the
// RTO starts again from the initial window, as Linux does with its default
// net.ipv4.tcp_slow_start_after_idle = 1 (tcp_cwnd_restart).

import Netstack
import Testing
import Wire

@Suite struct TCPIdleRestartTests {
    /// Ten segments sent and ACKed at once: slow start grows cwnd past the initial window
    /// (14600 -> 17520 bytes, RFC 3465 L = 2). The handshake set the RTO to 200 ms.
    static func grownWindow() throws -> TCPHarness {
        let h = try TCPHarness.established()
        #expect(try h.write(tcpBytes(10 * 1460)).count == 10)
        h.segment(seq: peerISS + 1, ack: ourISS + 1 + 10 * 1460)
        #expect(h.connection.congestionWindow == 12 * 1460)
        return h
    }

    /// "if the TCP has not sent data in an interval exceeding the retransmission timeout",
    /// "cwnd = min(RW, cwnd)": after 1 s of silence only the initial window's ten segments go.
    @Test func sendingAfterAnIdlePeriodLongerThanTheRTORestartsFromTheInitialWindow() throws {
        let h = try Self.grownWindow()
        h.advance(ms: 1000)
        let burst = try h.write(tcpBytes(14 * 1460))
        #expect(burst.count == 10)
        #expect(burst.first?.seq == ourISS + 1 + 10 * 1460)
        #expect(h.connection.congestionWindow == 10 * 1460)
    }

    /// A pause shorter than the RTO keeps the window: twelve segments go at once.
    @Test func aPauseShorterThanTheRTOKeepsTheWindow() throws {
        let h = try Self.grownWindow()
        h.advance(ms: 100)
        #expect(try h.write(tcpBytes(14 * 1460)).count == 12)
    }
}
