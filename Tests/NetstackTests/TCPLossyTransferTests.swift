// Two TCP connections talking through an in-memory channel that loses, reorders and duplicates
// segments (fixed seed), sending 100 MB both ways at once, at 1% and 5% loss with NewReno and
// CUBIC (and once at MTU 65520); every segment is serialized with Wire's emit and parsed back
// with checksum verification on the way. Each side's SHA-256 of what it read must match the
// other's of what it wrote. Time is simulated: a run takes seconds, not the minutes it models.

import HeapModule
import Netstack
import Testing
import Wire

/// SplitMix64: a tiny deterministic generator for the channel's decisions.
struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func chance(_ probability: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < probability }
    mutating func below(_ n: Int64) -> Int64 { Int64(next() % UInt64(n)) }
}

struct ChannelProfile: Sendable, CustomStringConvertible {
    var loss: Double
    var reorder: Double
    var duplicate: Double
    var congestionControl: TCPCongestionControlAlgorithm
    var mtu: Int
    var bytesEachWay: Int

    var description: String { "loss \(loss) reorder \(reorder) dup \(duplicate) \(congestionControl) mtu \(mtu)" }
}

/// The lossy wire between the two stacks. Latency 5 ms each way plus jitter for reordered ones.
final class LossyChannel {
    struct InFlight: Comparable {
        var deliverAt: Int64
        var order: Int
        var toServer: Bool
        var bytes: [UInt8]

        static func < (a: InFlight, b: InFlight) -> Bool { (a.deliverAt, a.order) < (b.deliverAt, b.order) }
        static func == (a: InFlight, b: InFlight) -> Bool { (a.deliverAt, a.order) == (b.deliverAt, b.order) }
    }

    var rng: SplitMix64
    let profile: ChannelProfile
    /// In flight, earliest delivery first (a heap: a 100 MB run moves a few hundred thousand).
    var queue = Heap<InFlight>()
    var order = 0
    var segments = 0
    var dropped = 0
    var now: Int64 = 0
    static let clientIP = IPv4Address(10, 0, 2, 100)
    static let serverIP = IPv4Address(10, 0, 2, 2)

    init(profile: ChannelProfile, seed: UInt64) {
        self.profile = profile
        rng = SplitMix64(state: seed)
    }

    func enqueue(_ segment: TCPRepr, payload: UnsafeRawBufferPointer, toServer: Bool) {
        segments += 1
        var bytes = [UInt8](repeating: 0, count: segment.headerLength + payload.count)
        let pseudo: PseudoHeader =
            toServer
            ? .v4(source: Self.clientIP, destination: Self.serverIP)
            : .v4(source: Self.serverIP, destination: Self.clientIP)
        bytes.withUnsafeMutableBytes { buffer in
            let header = UnsafeMutableRawBufferPointer(rebasing: buffer[..<segment.headerLength])
            segment.emit(into: header, payload: payload, pseudoHeader: pseudo, checksum: .compute)
            UnsafeMutableRawBufferPointer(rebasing: buffer[segment.headerLength...]).copyMemory(from: payload)
        }
        if rng.chance(profile.loss) {
            dropped += 1
            return
        }
        var delay: Int64 = 5_000_000
        if rng.chance(profile.reorder) { delay += 1_000_000 + rng.below(20_000_000) }
        order += 1
        queue.insert(InFlight(deliverAt: now + delay, order: order, toServer: toServer, bytes: bytes))
        if rng.chance(profile.duplicate) {
            order += 1
            queue.insert(
                InFlight(deliverAt: now + delay + rng.below(3_000_000), order: order, toServer: toServer, bytes: bytes))
        }
    }

    var nextDelivery: Int64? { queue.min?.deliverAt }

    /// Removes and returns the packets due by `now`, in delivery order.
    func due() -> [InFlight] {
        var ready: [InFlight] = []
        while let first = queue.min, first.deliverAt <= now { ready.append(queue.removeMin()) }
        return ready
    }
}

struct ChannelOutput: TCPSegmentOutput {
    let channel: LossyChannel
    let toServer: Bool
    mutating func send(_ segment: TCPRepr, payload: UnsafeRawBufferPointer, flow: TCPFlowID) {
        channel.enqueue(segment, payload: payload, toServer: toServer)
    }
}

/// A byte stream of `count` bytes that never repeats: each 8-byte word is SplitMix64's output
/// for (seed, word index), so any lost, duplicated or misplaced byte changes the digest.
struct GeneratedStream {
    let seed: UInt64
    let count: Int

    /// Fills `buffer` with the stream from `offset` (at most to the end); returns the length.
    func fill(_ buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        let length = min(buffer.count, count - offset)
        for i in 0..<length {
            let position = offset + i
            var word = SplitMix64(state: seed ^ (UInt64(position / 8) &* 0xD1B5_4A32_D192_ED03))
            buffer[i] = UInt8(truncatingIfNeeded: word.next() >> (8 * UInt64(position % 8)))
        }
        return length
    }
}

/// One side's application: writes its generated source, reads into a SHA-256, shuts down
/// when all is written. Nothing is kept but the digests.
final class TransferEndpoint {
    let source: GeneratedStream
    var written = 0
    var received = 0
    let sentDigest: SHA256Hasher
    let receivedDigest: SHA256Hasher
    var connection: TCPConnection?
    var shutDown = false
    private var buffer = [UInt8](repeating: 0, count: 65536)
    /// Source bytes generated at `pendingOffset` but not yet accepted by the connection.
    private var pending = [UInt8](repeating: 0, count: 65536)
    private var pendingOffset = 0
    private var pendingCount = 0

    init(source: GeneratedStream) throws {
        self.source = source
        sentDigest = try SHA256Hasher()
        receivedDigest = try SHA256Hasher()
    }

    func pump() {
        guard let c = connection else { return }
        while written < source.count {
            if written >= pendingOffset + pendingCount {
                pendingOffset = written
                pendingCount = pending.withUnsafeMutableBytes { source.fill($0, at: written) }
            }
            let n = pending.withUnsafeBytes { all -> Int in
                let rest = UnsafeRawBufferPointer(rebasing: all[(written - pendingOffset)..<pendingCount])
                let accepted: Int
                do throws(TCPError) { accepted = try c.write(rest) } catch { accepted = 0 }
                sentDigest.update(UnsafeRawBufferPointer(rebasing: rest[..<(rest.startIndex + accepted)]))
                return accepted
            }
            if n == 0 { break }
            written += n
        }
        if written == source.count, !shutDown, c.state == .established || c.state == .closeWait {
            c.shutdownWrite()
            shutDown = true
        }
        while true {
            let n = buffer.withUnsafeMutableBytes { c.read(into: $0) }
            if n == 0 { break }
            buffer.withUnsafeBytes { receivedDigest.update(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
            received += n
        }
    }
}

@Suite struct TCPLossyTransferTests {
    static let profiles: [ChannelProfile] = [
        ChannelProfile(
            loss: 0.01, reorder: 0.02, duplicate: 0.01, congestionControl: .cubic, mtu: 1500, bytesEachWay: 100_000_000),
        ChannelProfile(
            loss: 0.01, reorder: 0.02, duplicate: 0.01, congestionControl: .newReno, mtu: 1500,
            bytesEachWay: 100_000_000),
        ChannelProfile(
            loss: 0.05, reorder: 0.02, duplicate: 0.01, congestionControl: .cubic, mtu: 1500, bytesEachWay: 100_000_000),
        ChannelProfile(
            loss: 0.05, reorder: 0.02, duplicate: 0.01, congestionControl: .newReno, mtu: 1500,
            bytesEachWay: 100_000_000),
        ChannelProfile(
            loss: 0.01, reorder: 0.01, duplicate: 0.01, congestionControl: .cubic, mtu: 65520, bytesEachWay: 100_000_000
        )
    ]

    @Test(arguments: profiles)
    func bidirectionalTransferSurvivesLossyChannel(_ profile: ChannelProfile) throws {
        var config = TCPConfig()
        config.congestionControl = profile.congestionControl
        config.mtu = profile.mtu
        config.sendBufferSize = 512 * 1024
        config.receiveBufferSize = 512 * 1024
        let channel = LossyChannel(
            profile: profile, seed: 0x5EED_0001 &+ UInt64(profile.mtu) &+ UInt64(profile.loss * 1000))

        let client = try TransferEndpoint(source: GeneratedStream(seed: 42, count: profile.bytesEachWay))
        let server = try TransferEndpoint(source: GeneratedStream(seed: 43, count: profile.bytesEachWay))

        let clientFlow = TCPFlowID(
            local: TCPSocketAddress(.v4(LossyChannel.clientIP), 40000),
            remote: TCPSocketAddress(.v4(LossyChannel.serverIP), 80))
        let serverFlow = TCPFlowID(local: clientFlow.remote, remote: clientFlow.local)
        let serverDemux = TCPDemux()
        let listener = TCPListener(config: config, secret: (7, 9))
        serverDemux.listen(listener, port: 80)
        var toServer = ChannelOutput(channel: channel, toServer: true)
        var toClient = ChannelOutput(channel: channel, toServer: false)
        client.connection = try TCPConnection.connect(
            flow: clientFlow, config: config, iss: SeqNumber(rawValue: 0xFFFF_0000),
            now: .zero, output: &toServer)

        var steps = 0
        let limit: Int64 = 1_200_000_000_000
        while channel.now < limit, steps < 2_000_000 {
            steps += 1
            for packet in channel.due() {
                try packet.bytes.withUnsafeBytes { raw in
                    let segment = try TCPSegment(raw)
                    let pseudo: PseudoHeader =
                        packet.toServer
                        ? .v4(source: LossyChannel.clientIP, destination: LossyChannel.serverIP)
                        : .v4(source: LossyChannel.serverIP, destination: LossyChannel.clientIP)
                    let repr = try TCPRepr.parse(segment, checksum: pseudo)
                    let now = NetstackInstant(nanoseconds: UInt64(channel.now))
                    if packet.toServer {
                        serverDemux.deliver(
                            repr, payload: segment.payload, flow: serverFlow, now: now, output: &toClient)
                    } else {
                        client.connection?.handle(repr, payload: segment.payload, now: now, output: &toServer)
                    }
                }
            }
            if server.connection == nil { server.connection = listener.accept() }
            client.pump()
            server.pump()
            let now = NetstackInstant(nanoseconds: UInt64(channel.now))
            client.connection?.poll(now: now, output: &toServer)
            serverDemux.poll(now: now, output: &toClient)

            let done =
                client.received == profile.bytesEachWay && server.received == profile.bytesEachWay
                && client.connection?.isReadClosed == true && server.connection?.isReadClosed == true
            if done { break }
            var next = channel.nextDelivery
            for deadline in [client.connection?.nextDeadline, serverDemux.nextDeadline] {
                if let d = deadline.map({ Int64($0.nanoseconds) }) { next = min(next ?? d, d) }
            }
            guard let next else { break }
            channel.now = max(next, channel.now + 1)
        }
        let summary =
            "steps \(steps) sim \(channel.now / 1_000_000) ms segments \(channel.segments) dropped \(channel.dropped) "
            + "client \(client.connection?.state.description ?? "-") got \(client.received) sent \(client.written) "
            + "server \(server.connection?.state.description ?? "-") got \(server.received) sent \(server.written)"
        #expect(client.received == profile.bytesEachWay, "\(summary)")
        #expect(server.received == profile.bytesEachWay)
        #expect(client.written == profile.bytesEachWay && server.written == profile.bytesEachWay)
        #expect(client.receivedDigest.hexDigest() == server.sentDigest.hexDigest())
        #expect(server.receivedDigest.hexDigest() == client.sentDigest.hexDigest())
        #expect(client.connection?.error == nil)
        #expect(server.connection?.error == nil)
        if profile.loss > 0 { #expect(channel.dropped > 0) }
        if profile.mtu > 9000 {
            #expect(client.connection?.maximumSegmentSize == 65480)
        }
    }
}
