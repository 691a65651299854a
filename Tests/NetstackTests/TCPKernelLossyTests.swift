// Transfers over a lossy path beside Linux on the same path: for each impairment, a Linux client
// and then our client each move 8 MB both ways (2 MB at 5% loss) with a Linux server, through a LossyRelayLab with
// the same seed. The Linux sockets run CUBIC, as ours do (this machine's default is BBR, which
// does not back off on random loss: that would compare algorithms, not stacks). Both must arrive SHA-256-exact; the retransmissions (both ends) and the
// completion time of each are printed side by side. The times are reported, never asserted:
// this machine is noisy.

import Foundation
import Netstack
import NetstackTesting
import Testing
import Wire

// Nested in TCPKernelTests, whose .serialized reaches it: these runs load both cores, and the
// other interop runs must not share them.
extension TCPKernelTests {
    @Suite(.tags(.root), .needsRoot) struct LossyPath {
        /// Bytes each way: fewer at 5% loss, where each stack needs seconds per megabyte.
        static func total(_ impairment: RelayImpairment) -> Int { impairment.loss >= 0.05 ? 2 << 20 : 8 << 20 }
        static let impairments = [
            RelayImpairment(loss: 0.01), RelayImpairment(loss: 0.05), RelayImpairment(reorder: 0.02),
            RelayImpairment(duplicate: 0.01), RelayImpairment(loss: 0.01, duplicate: 0.01, reorder: 0.02)
        ]

        /// A python peer (TCPKernelPeer) in `namespace`.
        static func peer(in namespace: String, _ arguments: [String]) throws -> (Process, Pipe) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments =
                [
                    "ip", "netns", "exec", namespace, "env", "\(TCPKernelPeer.congestionVariable)=cubic", "timeout",
                    "120",
                    "/usr/bin/python3", "-c", TCPKernelPeer.script
                ] + arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            // With signals unblocked, `timeout` can end a peer that hangs (and the test with it).
            try KernelLab.runWithSignalsUnblocked(process)
            return (process, pipe)
        }

        struct Outcome: CustomStringConvertible {
            var seconds: Double
            var retransmissions: Int
            /// Our sender's counters (nil for the Linux pair).
            var counters: TCPConnectionCounters? = nil
            var description: String {
                String(format: "%.3f s, %d retransmitted", seconds, retransmissions)
                    + (counters.map {
                        " (\($0.retransmittedSegments) by us), \($0.retransmissionTimeouts) RTOs, "
                            + "\($0.fastRetransmits) fast recoveries, "
                            + "\($0.tailLossProbes) tail loss probes, \($0.reorderTimeouts) reordering timeouts, "
                            + "\($0.lostRetransmissions) lost retransmissions resent"
                    } ?? "")
            }
        }

        /// The peer's "received_sha256=R sent_sha256=S" line.
        static func digests(_ report: String) -> (received: Substring, sent: Substring)? {
            guard let line = report.split(separator: "\n").last else { return nil }
            let fields = line.split(separator: " ")
            guard fields.count == 2, fields[0].hasPrefix("received_sha256="), fields[1].hasPrefix("sent_sha256=") else {
                return nil
            }
            return (fields[0].dropFirst(16), fields[1].dropFirst(12))
        }

        static func linuxToLinux(_ impairment: RelayImpairment, seed: UInt64) throws -> Outcome {
            let total = total(impairment)
            let lab = try LossyRelayLab(impairment: impairment, seed: seed, linuxClient: true)
            let server = try peer(in: lab.serverNamespace, ["serve", "5001", "\(total)"])
            let start = Date()
            let client = try peer(in: lab.clientNamespace, ["client", "\(lab.serverAddress)", "5001", "\(total)"])
            let clientReport = TCPKernelTests.finish(client)
            let seconds = Date().timeIntervalSince(start)
            let serverReport = TCPKernelTests.finish(server)
            let ok = "OK received=\(total) sent=\(total)"
            #expect(clientReport.hasPrefix(ok), "Linux client: \(clientReport)")
            #expect(serverReport.hasPrefix(ok), "Linux server: \(serverReport)")
            // Each side's digest of what it sent is the other's of what it received.
            let clientDigests = digests(clientReport)
            let serverDigests = digests(serverReport)
            #expect(
                clientDigests != nil && clientDigests?.received == serverDigests?.sent
                    && clientDigests?.sent == serverDigests?.received)
            let retransmissions =
                try lab.kernelRetransmissions(in: lab.clientNamespace)
                + lab.kernelRetransmissions(in: lab.serverNamespace)
            return Outcome(seconds: seconds, retransmissions: retransmissions)
        }

        static func swiftToLinux(_ impairment: RelayImpairment, seed: UInt64) throws -> Outcome {
            let total = total(impairment)
            let lab = try LossyRelayLab(impairment: impairment, seed: seed, linuxClient: false)
            let fd = lab.clientPacketSocket()
            try #require(fd >= 0)
            let server = try peer(in: lab.serverNamespace, ["serve", "5001", "\(total)"])
            let endpoint = try PatternEndpoint(pattern: TCPKernelTests.pattern, sendTotal: total, sendAfterEOF: false)
            let app = ClientApplication(
                config: TCPKernelTests.config(mtu: 1500), endpoint: endpoint, local: TCPKernelTests.stackAddress,
                remote: lab.serverAddress)
            let runner = try TCPStackRunner(fd: fd, address: TCPKernelTests.stackAddress, mtu: 1500, application: app)
            let start = Date()
            runner.start()
            defer { runner.stop() }
            let report = TCPKernelTests.finish(server)
            runner.waitUntilDone(limit: .seconds(30))
            let seconds = Date().timeIntervalSince(start)
            runner.stop()
            TCPKernelTests.expectMatchingTransfer(output: report, total: total, endpoint: endpoint)
            let ours = endpoint.connection?.counters.retransmittedSegments ?? -1
            return Outcome(
                seconds: seconds, retransmissions: ours + (try lab.kernelRetransmissions(in: lab.serverNamespace)),
                counters: endpoint.connection?.counters)
        }

        @Test(arguments: impairments)
        func transferOverALossyPathBesideLinux(_ impairment: RelayImpairment) throws {
            let seed = 0x10_55E5 &+ UInt64(impairment.description.utf8.count)
            let linux = try Self.linuxToLinux(impairment, seed: seed)
            let ours = try Self.swiftToLinux(impairment, seed: seed)
            print("lossy path | \(impairment) | Linux to Linux: \(linux) | Swift to Linux: \(ours)")
            #expect(linux.retransmissions >= 0 && ours.retransmissions >= 0)
        }
    }
}
