import Glibc
import TestPrivileges
import Testing
import UserNet
import Wire

/// A unique scratch path, removed by the caller's defer.
func scratchPath(_ name: String) -> String {
    "/tmp/usernet-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))-\(name)"
}

/// Runs a command and returns its standard output (test-only shell-out).
func runCommand(_ command: String) -> (status: Int32, output: String) {
    guard let pipe = popen(command + " 2>/dev/null", "r") else { return (-1, "") }
    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&chunk, 1, chunk.count, pipe)
        if n == 0 { break }
        output += chunk[0..<n]
    }
    let status = pclose(pipe)
    return (status, String(decoding: output, as: UTF8.self))
}

/// An Ethernet + IPv4 + UDP frame from 10.0.2.100:40000 to 10.0.2.3:53 with `payload`.
func udpFrame(payload: [UInt8], id: UInt16) -> [UInt8] {
    let ipLength = 20 + 8 + payload.count
    var frame: [UInt8] = [0x52, 0x55, 0x0A, 0x00, 0x02, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x64, 0x08, 0x00]
    var ip: [UInt8] = [
        0x45, 0, UInt8(ipLength >> 8), UInt8(ipLength & 0xFF), UInt8(id >> 8), UInt8(id & 0xFF), 0x40, 0,
        64, 17, 0, 0, 10, 0, 2, 100, 10, 0, 2, 3
    ]
    var sum: UInt32 = 0
    for i in stride(from: 0, to: 20, by: 2) { sum += UInt32(ip[i]) << 8 | UInt32(ip[i + 1]) }
    while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
    let checksum = ~UInt16(sum)
    ip[10] = UInt8(checksum >> 8)
    ip[11] = UInt8(checksum & 0xFF)
    let udpLength = 8 + payload.count
    frame += ip + [0x9C, 0x40, 0, 53, UInt8(udpLength >> 8), UInt8(udpLength & 0xFF), 0, 0] + payload
    return frame
}

@Suite(.tags(.root), .needsRoot) struct PcapTests {
    @Test func tsharkReadsWhatWeWrote() throws {
        let path = scratchPath("capture.pcap")
        defer { unlink(path) }
        // A small buffer so the test crosses several flushes and one write-through frame.
        let writer = try PcapWriter(path: path, bufferSize: 4096)
        var lengths: [Int] = []
        for i in 0..<50 {
            let frame = udpFrame(payload: [UInt8](repeating: UInt8(i), count: i * 40), id: UInt16(i))
            lengths.append(frame.count)
            frame.withUnsafeBytes {
                writer.write(frame: $0, timestampNanoseconds: 1_700_000_000_000_000_000 + UInt64(i) * 1_000_000)
            }
        }
        writer.close()
        #expect(writer.counters.frames == 50)
        #expect(writer.counters.dropped == 0)
        #expect(writer.counters.flushes > 1)
        let result = runCommand("tshark -r \(path) -T fields -e frame.len -e ip.src -e ip.dst -e udp.dstport -e ip.id")
        #expect(result.status == 0, "tshark must read the file")
        let rows = result.output.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        #expect(rows.count == Int(writer.counters.frames))
        #expect(rows.map { Int($0[0]) } == lengths.map { Optional($0) })
        #expect(rows.allSatisfy { $0[1] == "10.0.2.100" && $0[2] == "10.0.2.3" && $0[3] == "53" })
        #expect(rows.last?[4] == "0x0031", "IP identification of the 50th frame")
    }

    @Test func oversizedFramesAreCutToTheSnapLengthKeepingTheirLength() throws {
        let path = scratchPath("big.pcap")
        defer { unlink(path) }
        let writer = try PcapWriter(path: path, bufferSize: 1 << 16)
        let big = [UInt8](repeating: 0xAB, count: PcapWriter.snapLength + 100)
        big.withUnsafeBytes { writer.write(frame: $0) }
        writer.close()
        #expect(writer.counters.truncated == 1)
        let result = runCommand("tshark -r \(path) -T fields -e frame.len -e frame.cap_len")
        #expect(result.output.split(separator: "\n") == ["\(big.count)\t\(PcapWriter.snapLength)"])
    }
}

@Suite struct ConnectionLogTests {
    @Test func recordsAreOneJSONObjectPerLine() throws {
        let path = scratchPath("connections.jsonl")
        defer { unlink(path) }
        let log = try ConnectionLog(path: path)
        log.append(
            ConnectionRecord(
                startNanoseconds: 1_700_000_000_123_000_000, transport: .tcp,
                source: SocketAddress(.v4(IPv4Address(10, 0, 2, 100)), port: 40000),
                destination: SocketAddress(.v4(IPv4Address(93, 184, 216, 34)), port: 443),
                verdict: .allow, bytesFromApp: 517, bytesToApp: 4096, durationNanoseconds: 1_500_250_000))
        log.append(
            ConnectionRecord(
                startNanoseconds: 1_700_000_001_000_000_000, transport: .udp,
                source: SocketAddress(.v6(IPv6Address(high: 0xFD00_0000_0000_0000, low: 0x100)), port: 5353),
                destination: SocketAddress(.v6(.loopback), port: 53),
                verdict: .deny, reason: "rule 2: \"--deny ::1\"\n"))
        log.close()
        #expect(log.recordsWritten == 2 && log.recordsDropped == 0)
        let text = String(decoding: try readFileBytes(path), as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3 && lines[2].isEmpty, "two lines, each ending in a newline")
        #expect(
            lines[0]
                == #"{"time":"2023-11-14T22:13:20.123Z","protocol":"tcp","source":"10.0.2.100:40000","destination":"93.184.216.34:443","verdict":"allow","bytes_from_app":517,"bytes_to_app":4096,"duration_ms":1500.250}"#
        )
        #expect(lines[1].contains(#""source":"[fd00::100]:5353""#))
        #expect(lines[1].contains(#""reason":"rule 2: \"--deny ::1\"\n""#))
        // Python's json module must accept every line.
        let check = runCommand(
            "python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]; print(\"ok\")' \(path)")
        #expect(check.output == "ok\n")
    }
}

func readFileBytes(_ path: String) throws -> [UInt8] {
    guard let file = fopen(path, "r") else { throw TestFailure.setup("fopen", errno) }
    defer { fclose(file) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        if n == 0 { break }
        out += chunk[0..<n]
    }
    return out
}
