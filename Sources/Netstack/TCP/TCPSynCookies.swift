// SYN cookies (RFC 4987 section 3.6): a listener whose half-open table is full answers without
// keeping state, encoding what it must remember in the SYN-ACK itself. The ISN carries a keyed
// hash of the flow, a time slot and the MSS; when the SYN had timestamps, the low bits of our
// TSval carry its window scale and SACK-permitted, as Linux's cookie_init_timestamp does, so
// the connection made from the cookie keeps them (the peer echoes TSval back in the ACK).

import Wire

struct TCPSynCookies {
    private let key0: UInt64
    private let key1: UInt64

    init(key0: UInt64, key1: UInt64) {
        self.key0 = key0
        self.key1 = key1
    }

    /// The MSS values a cookie can carry (3 bits); the SYN's MSS is rounded down to one.
    static let mssTable: [Int] = [536, 1220, 1360, 1440, 1460, 4312, 8960, 65483]

    static func mssIndex(for mss: Int) -> Int {
        var index = 0
        for (i, value) in mssTable.enumerated() where value <= mss { index = i }
        return index
    }

    /// The MSS a cookie remembers for a SYN that announced `mss` (RFC 9293's 536 without one).
    static func mss(for mss: UInt16?) -> Int { mssTable[mssIndex(for: Int(mss ?? 536))] }

    /// The ISN answering the SYN `irs` on `flow`. Layout: 26 bits of keyed hash, 3 bits of time
    /// slot, 3 bits of MSS index.
    func sequenceNumber(flow: TCPFlowID, irs: SeqNumber, mss: UInt16?, now: Int64) -> SeqNumber {
        cookie(flow: flow, irs: irs, slot: Self.slot(now), mssIndex: Self.mssIndex(for: Int(mss ?? 536)))
    }

    // MARK: Options in TSval

    /// Low TSval bits holding the options: 4 bits of window scale (`noWindowScale` when the SYN
    /// had none) and one for SACK-permitted, Linux's TSBITS layout.
    private static let optionBits: UInt32 = 0x3F
    private static let noWindowScale: UInt32 = 0xF
    private static let sackPermittedBit: UInt32 = 0x10

    /// Our SYN-ACK's TSval with the SYN's options in its low bits. Rounded down, never up, so
    /// the peer never sees our clock jump ahead of the TSvals that follow.
    static func timestamp(_ value: UInt32, encoding options: TCPOptions) -> UInt32 {
        var bits = options.windowScale.map { UInt32(min($0, 14)) } ?? noWindowScale
        if options.sackPermitted { bits |= sackPermittedBit }
        let encoded = (value & ~optionBits) | bits
        return Int32(bitPattern: encoded &- value) > 0 ? encoded &- (optionBits + 1) : encoded
    }

    /// The SYN's options as a valid cookie ACK gives them back: the MSS from the ISN and, when
    /// the ACK echoes a timestamp, window scale and SACK-permitted from its TSecr. Without one
    /// the connection goes on without options; an echo we cannot have sent (timestamps off)
    /// is refused, as Linux's cookie_timestamp_decode does.
    static func options(mssIndex: Int, ack: TCPRepr, timestampsOn: Bool) -> TCPOptions? {
        var options = TCPOptions()
        options.mss = UInt16(mssTable[mssIndex])
        guard let ts = ack.options.timestamp else { return options }
        guard timestampsOn else { return nil }
        let bits = ts.echo & optionBits
        let scale = bits & noWindowScale
        if scale != noWindowScale { options.windowScale = UInt8(scale) }
        options.sackPermitted = bits & sackPermittedBit != 0
        options.timestamp = (value: ts.value, echo: 0)
        return options
    }

    // MARK: Validation

    /// The ISN and the SYN's options a handshake ACK proves, or nil when its acknowledgment is
    /// no cookie of ours for this flow made in the current or the previous slot.
    func validate(
        _ ack: TCPRepr, flow: TCPFlowID, now: Int64, timestampsOn: Bool
    ) -> (iss: SeqNumber, options: TCPOptions)? {
        let value = (ack.acknowledgmentNumber &+ (-1)).rawValue
        let irs = ack.sequenceNumber &+ (-1)
        let current = Self.slot(now)
        for age in 0...UInt64(1) where current >= age {
            let slot = current - age
            guard UInt64(value >> 3) & 7 == slot & 7 else { continue }
            let mssIndex = Int(value & 7)
            if cookie(flow: flow, irs: irs, slot: slot, mssIndex: mssIndex).rawValue == value {
                guard let options = Self.options(mssIndex: mssIndex, ack: ack, timestampsOn: timestampsOn) else {
                    return nil
                }
                return (SeqNumber(rawValue: value), options)
            }
        }
        return nil
    }

    /// Cookies age in 64-second slots; one is valid for the current and the previous slot.
    private static func slot(_ now: Int64) -> UInt64 { UInt64(max(now, 0) / 64_000_000_000) }

    private func cookie(flow: TCPFlowID, irs: SeqNumber, slot: UInt64, mssIndex: Int) -> SeqNumber {
        var hash = TCPSipHash(key0: key0, key1: key1)
        hash.combine(flow)
        hash.combine(UInt64(irs.rawValue) << 32 | slot)
        let h = UInt32(truncatingIfNeeded: hash.finalize())
        return SeqNumber(rawValue: (h & ~0x3F) | UInt32(slot & 7) << 3 | UInt32(mssIndex & 7))
    }
}
