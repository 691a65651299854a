// bench-wire: Internet checksum throughput beside a plain 16-bit loop measured in the same
// run, and full Ethernet/IPv4/TCP frame parse cost. Prints figures; asserts nothing.
// Goals (issue 2): checksum >= 10 GB/s on one core, frame parse <= 30 ns.
import Wire

@inline(never)
func plainChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
    // RFC 1071 as written: one big-endian 16-bit word at a time.
    var sum: UInt64 = 0
    var i = 0
    while i + 1 < bytes.count {
        sum &+= UInt64(bytes[i]) << 8 | UInt64(bytes[i + 1])
        i += 2
    }
    if i < bytes.count { sum &+= UInt64(bytes[i]) << 8 }
    while sum > 0xFFFF { sum = (sum & 0xFFFF) &+ (sum >> 16) }
    return ~UInt16(sum)
}

@inline(never)
func wireChecksum(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
    InternetChecksum.checksum(bytes)
}

func seconds(_ duration: Duration) -> Double {
    let (s, attoseconds) = duration.components
    return Double(s) + Double(attoseconds) * 1e-18
}

/// Best of `rounds` timings of `body`, in seconds.
func best(rounds: Int = 5, _ body: () -> Void) -> Double {
    let clock = ContinuousClock()
    var fastest = Double.infinity
    for _ in 0..<rounds {
        let start = clock.now
        body()
        fastest = min(fastest, seconds(clock.now - start))
    }
    return fastest
}

func hexBytes(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var chars = Array(hex.utf8).makeIterator()
    func nibble(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : c - 87 }
    while let high = chars.next(), let low = chars.next() { out.append(nibble(high) << 4 | nibble(low)) }
    return out
}

/// `value` with `decimals` digits after the point (integer arithmetic: no libm needed).
func formatted(_ value: Double, _ decimals: Int) -> String {
    var scale = 1
    for _ in 0..<decimals { scale *= 10 }
    let scaled = Int(value * Double(scale) + 0.5)
    let fraction = String(scaled % scale)
    return decimals == 0
        ? String(scaled)
        : "\(scaled / scale)." + String(repeating: "0", count: decimals - fraction.count) + fraction
}

// MARK: checksum over 64 KiB

let size = 64 * 1024
let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size + 8, alignment: 64)
var seed: UInt64 = 0x1234_5678
for i in 0..<buffer.count {
    seed = seed &* 6364136223846793005 &+ 1442695040888963407
    buffer[i] = UInt8(truncatingIfNeeded: seed >> 33)
}
var sink: UInt64 = 0
let aligned = UnsafeRawBufferPointer(rebasing: buffer[0..<size])
let unaligned = UnsafeRawBufferPointer(rebasing: buffer[1..<(size + 1)])
precondition(wireChecksum(aligned) == plainChecksum(aligned), "checksums disagree")
precondition(wireChecksum(unaligned) == plainChecksum(unaligned), "checksums disagree")

let fastIterations = 20_000, plainIterations = 2_000
let fast = best { for _ in 0..<fastIterations { sink &+= UInt64(wireChecksum(aligned)) } }
let fastUnaligned = best { for _ in 0..<fastIterations { sink &+= UInt64(wireChecksum(unaligned)) } }
let plain = best { for _ in 0..<plainIterations { sink &+= UInt64(plainChecksum(aligned)) } }
let fastRate = Double(size * fastIterations) / fast / 1e9
let fastUnalignedRate = Double(size * fastIterations) / fastUnaligned / 1e9
let plainRate = Double(size * plainIterations) / plain / 1e9
print(
    "checksum 64 KiB   InternetChecksum      \(formatted(fastRate, 2)) GB/s (unaligned start: \(formatted(fastUnalignedRate, 2)) GB/s)"
)
print("checksum 64 KiB   plain 16-bit loop     \(formatted(plainRate, 2)) GB/s")
print("checksum 64 KiB   ratio                 \(formatted(fastRate / plainRate, 1))x   (goal: >= 10 GB/s)")

// MARK: frame parse

// Real Linux frames (Tests/WireTests/Fixtures): a SYN with MSS, SACK-permitted, timestamps and
// window scale; a 100-byte data segment with timestamps; a pure ACK with timestamps and three
// SACK blocks.
let frames = [
    (
        "SYN, 4 options",
        "020000000a01020000000a0208004500003c90f74000400693c20a0001020a000101d8661f90ab3a222500000000a002faf00ce90000020405b40402080a7803ecc6000000000103030a"
    ),
    (
        "data 100 B, TS",
        "020000000a01020000000a0208004500009890f94000400693640a0001020a000101d8661f90ab3a22266208b5c88018003fb6ca00000101080a7803ecc609cb1299474554202f776972652d6669787475726520485454502f312e300d0a787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878"
    ),
    (
        "ACK, TS + 3 SACK",
        "020000000a02020000000a010800450000501e744000400606320a0001010a0001021f91d8409d809cee3951c09bf010004ee25100000101080ad67440605ebfb6900101051a39526ff33952759b395231bb3952485b3951eddb39520a23"
    )
]

@inline(__always)
func parseFrame(_ frame: UnsafeRawBufferPointer, verify: Bool) -> UInt64 {
    do {
        let ethernet = try EthernetFrame(frame)
        guard ethernet.etherType == .ipv4 else { return 0 }
        let packet = try IPv4Packet(ethernet.payload)
        let ip = try IPv4Repr.parse(packet, verifyChecksum: verify)
        guard ip.protocolNumber == .tcp else { return 0 }
        let segment = try TCPSegment(packet.payload)
        let tcp = try TCPRepr.parse(
            segment, checksum: verify ? .v4(source: ip.source, destination: ip.destination) : nil)
        return UInt64(tcp.sequenceNumber.rawValue) &+ UInt64(tcp.options.timestamp?.value ?? 0)
            &+ UInt64(tcp.options.sackBlocks.count) &+ UInt64(tcp.payloadLength)
    } catch {
        return 1
    }
}

let slots = 64, stride = 2048
let ring = UnsafeMutableRawBufferPointer.allocate(byteCount: slots * stride, alignment: 64)
let parseIterations = 2_000_000
for (name, hex) in frames {
    let bytes = hexBytes(hex)
    // Copies at different addresses, as frames sit in a receive ring (offset 2 so the IP
    // header is 4-byte aligned, as NET_IP_ALIGN arranges).
    for slot in 0..<slots {
        UnsafeMutableRawBufferPointer(rebasing: ring[(slot * stride + 2)...]).copyBytes(from: bytes)
    }
    func slot(_ i: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: ring[(i % slots * stride + 2)..<(i % slots * stride + 2 + bytes.count)])
    }
    precondition(parseFrame(slot(0), verify: true) > 1, "fixture frame does not parse")
    let verified = best { for i in 0..<parseIterations { sink &+= parseFrame(slot(i), verify: true) } }
    let unverified = best { for i in 0..<parseIterations { sink &+= parseFrame(slot(i), verify: false) } }
    let pad = String(repeating: " ", count: max(0, 17 - name.count))
    print(
        "parse Eth/IPv4/TCP \(name)\(pad) \(formatted(unverified / Double(parseIterations) * 1e9, 1)) ns/frame, "
            + "with IPv4+TCP checksums verified \(formatted(verified / Double(parseIterations) * 1e9, 1)) ns/frame   (goal: <= 30 ns)"
    )
}
print("(sink \(sink & 0xFF))")
