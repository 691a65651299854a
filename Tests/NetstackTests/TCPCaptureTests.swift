// One interop run (Swift client <-> kernel listener, 16 MiB each way at MTU 1500) captured by
// tcpdump and read back with tshark's TCP analysis: nothing our side sends is retransmitted (but
// as a tail loss probe, when an ACK came late), out of order or skips sequence space, our window
// never closes, and every duplicate ACK we send answers out-of-order or duplicated data. The
// capture lives in a temporary directory removed afterwards.
//
// The capture is taken on the stack's end of the veth, where frames appear in the order our
// stack reads them. Linux's veth hands each frame to the backlog of the CPU that sent it
// (netif_rx), so frames the kernel sends from two CPUs can overtake each other on the way: the
// run captured on the kernel's end shows its data in order, and on ours, out of order now
// and then. The kernel then (rightly) retransmits what our SACKs report missing. Those
// retransmissions and our duplicate ACKs answering them are the veth's doing, not ours, so
// the kernel's segments are only counted here, to account for our duplicate ACKs.

import Foundation
import Glibc
import NetstackTesting
import TestPrivileges
import Testing
import Wire

// Nested in TCPKernelTests, whose .serialized reaches it: the capture must not share the CPUs with
// the lossy-path runs, or a starved reader closes its window.
extension TCPKernelTests {
    @Suite(.tags(.root), .needsRoot) struct Capture {
        @Test func capturedTransferHasNoRetransmissionsOrWindowErrors() throws {
            let lab = try TCPKernelTests.lab(mtu: 1500)
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "tcp-capture-\(getpid())-\(UInt32.random(in: 0 ... .max))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
            defer { try? FileManager.default.removeItem(at: directory) }
            let capture = try PacketCapture(namespace: lab.stackNamespace, link: lab.stackLink, directory: directory)
            defer { capture.stop() }
            let fd = lab.stackPacketSocket()
            try #require(fd >= 0)
            let total = 16 << 20
            let peer = try TCPKernelTests.startPeer(lab, ["serve", "5001", "\(total)"])
            let endpoint = try PatternEndpoint(pattern: TCPKernelTests.pattern, sendTotal: total, sendAfterEOF: false)
            let app = ClientApplication(
                config: TCPKernelTests.config(mtu: 1500), endpoint: endpoint,
                local: TCPKernelTests.stackAddress, remote: lab.kernelAddress)
            let runner = try TCPStackRunner(fd: fd, address: TCPKernelTests.stackAddress, mtu: 1500, application: app)
            runner.start()
            defer { runner.stop() }
            let output = TCPKernelTests.finish(peer)
            runner.waitUntilDone(limit: .seconds(30))
            runner.stop()
            let tcpdumpLog = capture.stop()
            TCPKernelTests.expectMatchingTransfer(output: output, total: total, endpoint: endpoint)
            #expect(tcpdumpLog.split(separator: "\n").contains("0 packets dropped by kernel"), "tcpdump: \(tcpdumpLog)")

            let stack = "\(TCPKernelTests.stackAddress)"
            let frames = try CapturedFrame.read(capture.path)
            #expect(frames.count > 2 * total / 1448)
            // Our own segments: never out of order or skipping sequence space, never retransmitted
            // but as a tail loss probe (RFC 8985 7.3: when an ACK is later than the PTO, as on a
            // loaded machine, the last segment goes again; Linux does the same), with no loss
            // recovery at all; and our receive window never stays closed. (It may close while
            // the test's reading thread lags on a loaded machine: that is flow control, RFC 9293
            // 3.8.6; a later segment must reopen it.)
            let ours = frames.filter { $0.source == stack }
            let counters = try #require(endpoint.connection?.counters)
            let badData = ours.filter { $0.length > 0 && ($0.outOfOrder || $0.lostSegment) }
            #expect(badData.isEmpty, "our data flagged: \(badData.prefix(20))")
            let retransmitted = ours.filter { $0.length > 0 && $0.retransmission }
            #expect(
                retransmitted.count <= counters.tailLossProbes
                    && counters.retransmittedSegments <= counters.tailLossProbes,
                "our retransmissions: \(retransmitted.prefix(20)); counters: \(counters)")
            #expect(counters.fastRetransmits == 0 && counters.retransmissionTimeouts == 0, "\(counters)")
            #expect(ours.last.map { !$0.zeroWindow } ?? true, "our window stayed closed")
            // Our duplicate ACKs. RFC 5681 4.2: "A TCP receiver SHOULD send an immediate duplicate
            // ACK when an out-of-order segment arrives"; those carry SACK blocks (RFC 2018) naming
            // the data above the hole. RFC 9293 3.10.7.4: an unacceptable (old, duplicate) segment
            // is answered with an ACK. So each SACK-less duplicate ACK of ours must answer a
            // kernel segment that arrived duplicated or out of order; more would be ours alone.
            let kernelData = frames.filter { $0.source != stack && $0.length > 0 }
            let disordered = kernelData.filter { $0.retransmission || $0.outOfOrder }.count
            let plainDuplicateAcks = ours.filter { $0.duplicateAck && !$0.carriesSACK }
            #expect(
                plainDuplicateAcks.count <= disordered,
                "duplicate ACKs without SACK: \(plainDuplicateAcks.prefix(20)); disordered arrivals: \(disordered)")
            #expect(!ours.contains { $0.duplicateAck && $0.length > 0 })
        }
    }
}

/// One frame of a capture as tshark's TCP analysis sees it.
struct CapturedFrame: CustomStringConvertible {
    var number: Int
    var source: String
    var length: Int
    var carriesSACK: Bool
    var duplicateAck: Bool
    /// Any retransmission flag (plain, fast or spurious).
    var retransmission: Bool
    var outOfOrder: Bool
    /// "Previous segment(s) not captured": this one starts above what came before it.
    var lostSegment: Bool
    var zeroWindow: Bool

    var description: String { "#\(number) from \(source) len \(length)" }

    static func read(_ path: String) throws -> [CapturedFrame] {
        let fields = [
            "frame.number", "ip.src", "tcp.len", "tcp.options.sack_le", "tcp.analysis.duplicate_ack",
            "tcp.analysis.retransmission", "tcp.analysis.fast_retransmission",
            "tcp.analysis.spurious_retransmission", "tcp.analysis.out_of_order",
            "tcp.analysis.lost_segment", "tcp.analysis.zero_window"
        ]
        let text = try NamespaceLab.run(
            ["tshark", "-r", path, "-Y", "tcp", "-T", "fields", "-E", "occurrence=f"]
                + fields.flatMap { ["-e", $0] })
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            // tshark's stderr shares the pipe ("Running as user root ..."): skip what is not a row.
            guard f.count == fields.count, let number = Int(f[0]), let length = Int(f[2]) else { return nil }
            return CapturedFrame(
                number: number, source: f[1], length: length, carriesSACK: !f[3].isEmpty,
                duplicateAck: !f[4].isEmpty, retransmission: !f[5].isEmpty || !f[6].isEmpty || !f[7].isEmpty,
                outOfOrder: !f[8].isEmpty, lostSegment: !f[9].isEmpty, zeroWindow: !f[10].isEmpty)
        }
    }
}

/// tcpdump on one link of a namespace, writing a pcap into `directory`. Started with no signal
/// blocked (see `KernelLab.runWithSignalsUnblocked`) so SIGINT ends it cleanly; `stop()` (also
/// run from deinit) interrupts it, kills it if it has not exited after 5 s, and reaps it.
final class PacketCapture {
    let path: String
    private let logPath: String
    private let process = Process()
    private var stopped = false

    init(namespace: String, link: String, directory: URL) throws {
        path = directory.appendingPathComponent("capture.pcap").path
        logPath = directory.appendingPathComponent("tcpdump.log").path
        guard FileManager.default.createFile(atPath: logPath, contents: nil),
            let log = FileHandle(forWritingAtPath: logPath)
        else {
            throw NamespaceLab.Failure(description: "cannot create \(logPath)")
        }
        defer { try? log.close() }
        // Headers only (-s 128), a 64 MiB capture buffer so tcpdump itself drops nothing,
        // packet-buffered (-U) so SIGINT loses nothing.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "ip", "netns", "exec", namespace, "tcpdump", "-i", link, "-s", "128", "-B", "65536",
            "-U", "-n", "-w", path, "tcp"
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = log
        try KernelLab.runWithSignalsUnblocked(process)
        // tcpdump says "listening on" once the capture runs.
        for _ in 0..<1000 where process.isRunning && !printed().contains("listening on") { usleep(10_000) }
        guard printed().contains("listening on") else {
            let text = stop()
            throw NamespaceLab.Failure(description: "tcpdump did not start: \(text)")
        }
    }

    private func printed() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    /// Ends the capture (idempotent); returns what tcpdump printed.
    @discardableResult
    func stop() -> String {
        if !stopped {
            stopped = true
            if process.isRunning {
                kill(process.processIdentifier, SIGINT)
                for _ in 0..<500 where process.isRunning { usleep(10_000) }
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
            process.waitUntilExit()
        }
        return printed()
    }

    deinit { stop() }
}
