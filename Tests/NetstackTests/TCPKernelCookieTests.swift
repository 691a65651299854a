// A Linux client completes a handshake with a SYN cookie from our listener and the connection
// keeps the options the cookie carried in TSval: window scale, SACK-permitted, timestamps.

import Foundation
import Netstack
import Testing
import Wire

@Suite(.serialized, .tags(.root), .needsRoot) struct TCPKernelCookieTests {
    @Test func kernelClientCompletesACookieHandshakeWithItsOptions() throws {
        let lab = try TCPKernelTests.lab(mtu: 1500)
        let total = 16 << 20
        let endpoint = try PatternEndpoint(pattern: TCPKernelTests.pattern, sendTotal: total, sendAfterEOF: true)
        let app = ListenerApplication(config: TCPKernelTests.config(mtu: 1500), endpoint: endpoint, synBacklog: 1)
        // A half-open handshake that never completes takes the only slot: the kernel's SYN
        // gets a cookie.
        let stranger = TCPFlowID(
            local: TCPSocketAddress(.v4(TCPKernelTests.stackAddress), 5001),
            remote: TCPSocketAddress(.v4(IPv4Address(10, 0, 2, 99)), 1234))
        let syn = TCPRepr(
            sourcePort: 1234, destinationPort: 5001, sequenceNumber: SeqNumber(rawValue: 1),
            acknowledgmentNumber: SeqNumber(rawValue: 0),
            flags: .syn, window: 65535, urgentPointer: 0, options: options(mss: 1460), payloadLength: 0)
        var discarded = Capture()
        app.listener.handle(
            syn, payload: UnsafeRawBufferPointer(start: nil, count: 0), flow: stranger, now: .zero, output: &discarded)
        #expect(app.listener.halfOpenCount == 1)

        let (output, _) = try TCPKernelTests.serveKernelClient(app, lab: lab, mtu: 1500, total: total)
        TCPKernelTests.expectMatchingTransfer(output: output, total: total, endpoint: endpoint)
        #expect(app.listener.counters.cookiesAccepted == 1)
        let connection = try #require(endpoint.connection)
        #expect(connection.error == nil)
        #expect(connection.maximumSegmentSize == 1460)
        // The shift itself, not the window at the end of the transfer (which may be below 64 KiB
        // while the kernel's receive queue is full).
        #expect(connection.peerWindowScale > 0, "Linux's window scale came back from the cookie")
    }
}
