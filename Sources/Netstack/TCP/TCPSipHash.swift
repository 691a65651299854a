// SipHash-2-4 over a few 64-bit words, keyed: the pseudo-random function behind initial
// sequence numbers (RFC 6528) and SYN cookies. Hand-written because the standard library's
// Hasher is seeded per process (so not reproducible in tests) and no package here offers a
// keyed SipHash over integers without allocation.

import Wire

struct TCPSipHash {
    private var v0: UInt64, v1: UInt64, v2: UInt64, v3: UInt64
    private var length: UInt64 = 0

    init(key0: UInt64, key1: UInt64) {
        v0 = 0x736f_6d65_7073_6575 ^ key0
        v1 = 0x646f_7261_6e64_6f6d ^ key1
        v2 = 0x6c79_6765_6e65_7261 ^ key0
        v3 = 0x7465_6462_7974_6573 ^ key1
    }

    private mutating func round() {
        v0 = v0 &+ v1
        v1 = (v1 << 13) | (v1 >> 51)
        v1 ^= v0
        v0 = (v0 << 32) | (v0 >> 32)
        v2 = v2 &+ v3
        v3 = (v3 << 16) | (v3 >> 48)
        v3 ^= v2
        v0 = v0 &+ v3
        v3 = (v3 << 21) | (v3 >> 43)
        v3 ^= v0
        v2 = v2 &+ v1
        v1 = (v1 << 17) | (v1 >> 47)
        v1 ^= v2
        v2 = (v2 << 32) | (v2 >> 32)
    }

    mutating func combine(_ word: UInt64) {
        v3 ^= word
        round()
        round()
        v0 ^= word
        length &+= 8
    }

    mutating func finalize() -> UInt64 {
        let last = length << 56
        v3 ^= last
        round()
        round()
        v0 ^= last
        v2 ^= 0xff
        round()
        round()
        round()
        round()
        return v0 ^ v1 ^ v2 ^ v3
    }

    mutating func combine(_ address: IPAddress) {
        switch address {
        case .v4(let a): combine(UInt64(a.rawValue))
        case .v6(let a):
            combine(a.high)
            combine(a.low)
        }
    }

    mutating func combine(_ flow: TCPFlowID) {
        combine(flow.local.address)
        combine(flow.remote.address)
        combine(UInt64(flow.local.port) << 16 | UInt64(flow.remote.port))
    }
}
