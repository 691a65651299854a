// Test kit for the TCP tests: a capturing output sink, a fake clock and a scripted peer, in
// smoltcp's style (feed a segment, assert exactly what comes back).

import Netstack
import Testing
import Wire

/// One captured outgoing segment.
struct Sent {
    var repr: TCPRepr
    var payload: [UInt8]
    var flow: TCPFlowID
    /// Set when the segment went down for the link to cut (segmentation offload).
    var segmentSize: Int? = nil

    var seq: UInt32 { repr.sequenceNumber.rawValue }
    var ack: UInt32 { repr.acknowledgmentNumber.rawValue }
    var flags: TCPFlags { repr.flags }
    var window: UInt16 { repr.window }
    var summary: Seg { Seg(seq: seq, ack: flags.contains(.ack) ? ack : 0, flags: flags, length: payload.count) }
}

/// The fields most assertions compare: exact sequence, acknowledgment, flags and length.
struct Seg: Equatable, CustomStringConvertible {
    var seq: UInt32
    var ack: UInt32
    var flags: TCPFlags
    var length: Int

    init(seq: UInt32, ack: UInt32 = 0, flags: TCPFlags, length: Int = 0) {
        self.seq = seq
        self.ack = ack
        self.flags = flags
        self.length = length
    }

    var description: String {
        var names: [String] = []
        if flags.contains(.syn) { names.append("SYN") }
        if flags.contains(.fin) { names.append("FIN") }
        if flags.contains(.rst) { names.append("RST") }
        if flags.contains(.psh) { names.append("PSH") }
        if flags.contains(.ack) { names.append("ACK") }
        return "<\(names.joined(separator: ",")) seq=\(seq) ack=\(ack) len=\(length)>"
    }
}

struct Capture: TCPSegmentOutput {
    var sent: [Sent] = []
    mutating func send(_ segment: TCPRepr, payload: UnsafeRawBufferPointer, flow: TCPFlowID) {
        #expect(segment.payloadLength == payload.count)
        sent.append(Sent(repr: segment, payload: Array(payload), flow: flow))
    }
    mutating func send(_ segment: TCPRepr, payload: UnsafeRawBufferPointer, flow: TCPFlowID, segmentSize: Int) {
        #expect(segment.payloadLength == payload.count)
        sent.append(Sent(repr: segment, payload: Array(payload), flow: flow, segmentSize: segmentSize))
    }
    mutating func take() -> [Sent] {
        defer { sent.removeAll() }
        return sent
    }
}

let ourAddress = TCPSocketAddress(.v4(IPv4Address(10, 0, 2, 2)), 80)
let peerAddress = TCPSocketAddress(.v4(IPv4Address(10, 0, 2, 100)), 49152)
let testFlow = TCPFlowID(local: ourAddress, remote: peerAddress)
let ourISS: UInt32 = 1000
let peerISS: UInt32 = 5000

func seq(_ value: UInt32) -> SeqNumber { SeqNumber(rawValue: value) }

/// A plain config: no options, 1460-byte MSS, 64 KiB buffers, so sequence arithmetic in the
/// tests stays readable. Tests switch options on where they test them.
func plainConfig() -> TCPConfig {
    var config = TCPConfig()
    config.windowScaling = false
    config.timestamps = false
    config.selectiveAcknowledgments = false
    config.sendBufferSize = 64 * 1024
    config.receiveBufferSize = 64 * 1024
    config.initialReceiveWindow = 64 * 1024
    config.maximumQuickAcks = 0
    return config
}

func options(
    mss: UInt16? = nil, windowScale: UInt8? = nil, sackPermitted: Bool = false,
    timestamp: (UInt32, UInt32)? = nil, sack: [(UInt32, UInt32)] = []
) -> TCPOptions {
    var o = TCPOptions()
    o.mss = mss
    o.windowScale = windowScale
    o.sackPermitted = sackPermitted
    if let timestamp { o.timestamp = (value: timestamp.0, echo: timestamp.1) }
    var blocks = SACKBlocks()
    for (l, r) in sack { blocks.append(SACKBlock(left: seq(l), right: seq(r))) }
    o.sackBlocks = blocks
    return o
}

/// A connection under test plus the scripted peer's view.
final class TCPHarness {
    var now = NetstackInstant.zero
    var out = Capture()
    let connection: TCPConnection

    init(connection: TCPConnection) { self.connection = connection }

    /// Active open: returns the harness with the SYN already captured (call `take()`).
    static func active(
        _ config: TCPConfig = plainConfig(), budget: TCPMemoryBudget? = nil, flow: TCPFlowID = testFlow
    ) throws -> TCPHarness {
        var out = Capture()
        let c = try TCPConnection.connect(
            flow: flow, config: config, iss: seq(ourISS), now: .zero,
            budget: budget, output: &out)
        let h = TCPHarness(connection: c)
        h.out = out
        return h
    }

    /// ESTABLISHED via an active open against a peer announcing `peerOptions`.
    static func established(
        _ config: TCPConfig = plainConfig(), peerOptions: TCPOptions = options(mss: 1460),
        peerWindow: UInt16 = 65535, budget: TCPMemoryBudget? = nil, flow: TCPFlowID = testFlow
    ) throws -> TCPHarness {
        let h = try active(config, budget: budget, flow: flow)
        _ = h.take()
        let reply = h.segment(
            seq: peerISS, ack: ourISS + 1, flags: [.syn, .ack], window: peerWindow, options: peerOptions)
        #expect(reply.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack)])
        #expect(h.connection.state == .established)
        return h
    }

    func take() -> [Sent] { out.take() }

    /// Feeds one segment from the peer; returns exactly what the connection sent in response.
    @discardableResult
    func segment(
        seq s: UInt32, ack a: UInt32 = 0, flags: TCPFlags = .ack, window: UInt16 = 65535,
        options o: TCPOptions = TCPOptions(), payload: [UInt8] = []
    ) -> [Sent] {
        let repr = TCPRepr(
            sourcePort: peerAddress.port, destinationPort: ourAddress.port,
            sequenceNumber: seq(s), acknowledgmentNumber: seq(a), flags: flags, window: window,
            urgentPointer: 0, options: o, payloadLength: payload.count)
        payload.withUnsafeBytes { bytes in
            connection.handle(repr, payload: bytes, now: now, output: &out)
        }
        return take()
    }

    /// Moves the fake clock forward and runs the timers.
    @discardableResult
    func advance(ms: Int64) -> [Sent] {
        now = now + .milliseconds(ms)
        connection.poll(now: now, output: &out)
        return take()
    }

    /// Writes bytes and lets the connection send.
    @discardableResult
    func write(_ bytes: [UInt8]) throws -> [Sent] {
        let n = try tryWrite(connection, bytes).get()
        #expect(n == bytes.count)
        connection.poll(now: now, output: &out)
        return take()
    }

    func read(max: Int = 1 << 20) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: max)
        let n = buffer.withUnsafeMutableBytes { connection.read(into: $0) }
        return Array(buffer.prefix(n))
    }
}

func tcpBytes(_ count: Int, start: UInt8 = 0) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: Int(start) + $0) }
}

/// `write` as a Result (typed-throw closures inside #expect crash this compiler).
func tryWrite(_ connection: TCPConnection, _ data: [UInt8]) -> Result<Int, TCPError> {
    data.withUnsafeBytes { b in
        do throws(TCPError) {
            return .success(try connection.write(b))
        } catch {
            return .failure(error)
        }
    }
}
