// Ten million frames through PACKET_RX_RING, with every frame accounted for.

import FDBased
import Foundation
import Glibc
import TestPrivileges
import Testing
import Wire

@Suite(.tags(.root), .needsRoot) struct StressTests {
    static let frames = 10_000_000

    @Test func tenMillionFramesThroughPacketMMapAreAllAccountedFor() throws {
        let program = try ReferenceProgram.build()
        defer { unlink(program) }
        let lab = try VethLab()
        // Keep the namespaces until the end of the test (ARC could end `lab` at its last use).
        defer { withExtendedLifetime(lab) {} }
        let fd = lab.outerPacketSocket()
        try #require(fd >= 0)
        defer { close(fd) }
        let mac = MACAddress(0x02, 0, 0, 0, 0, 0x01)
        let endpoint = try FDBasedEndpoint(
            options: .init(fds: [fd], mtu: 1500, address: mac, dispatchMode: .packetMMap))
        defer { endpoint.close() }
        let recorder = RecordingDispatcher(countOnly: true)
        endpoint.attach(recorder)

        // A C sendmmsg loop on the inner end of the veth (the kernel side).
        let output = try lab.inInner([program, "send", lab.innerLink, "\(Self.frames)", "64", "\(mac)"])
        let sent =
            UInt64(output.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? "")
            ?? 0
        #expect(sent == UInt64(Self.frames))
        // What the veth itself refused before our socket could see it (counted by the kernel).
        let linkDropped = try lab.linkCounter(inner: true, "tx_dropped") + lab.linkCounter(inner: false, "rx_dropped")

        // Wait until every frame is either delivered or counted (bounded: a lost frame fails).
        var accounted: UInt64 = 0
        var statistics = endpoint.statistics
        for _ in 0..<3000 {
            statistics = endpoint.statistics
            accounted =
                UInt64(recorder.count) + statistics.dropped + statistics.truncated + statistics.kernelDropped
                + linkDropped
            if accounted >= sent { break }
            usleep(10_000)
        }
        endpoint.attach(nil)
        statistics = endpoint.statistics
        accounted =
            UInt64(recorder.count) + statistics.dropped + statistics.truncated + statistics.kernelDropped + linkDropped
        print(
            "stress: sent \(sent) received \(recorder.count) dropped \(statistics.dropped) truncated \(statistics.truncated) kernelDropped \(statistics.kernelDropped) linkDropped \(linkDropped)"
        )
        #expect(statistics.received == UInt64(recorder.count))
        #expect(accounted == sent)
        #expect(recorder.count > 0)
    }
}
