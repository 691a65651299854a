// Fragment reassembly for both families (IPv4: RFC 791 section 3.2; IPv6: RFC 8200 section
// 4.5; RFC 815 for the hole bookkeeping), hardened against hostile senders. One reassembler
// serves both, so the caps below bound the two families together:
//   - Overlapping fragments discard the whole datagram, and fragments of it that arrive later
//     are dropped until its timer runs out (RFC 5722 section 4 for IPv6: "the entire datagram
//     (and any constituent fragments, including those not yet received) MUST be silently
//     discarded"; applied to IPv4 too because overlaps are how reassembly attacks evade
//     inspection). An exact duplicate (same
//     offset and length) is dropped alone: retransmitting networks produce them honestly.
//   - A datagram is dropped after `timeout` (IPv4: RFC 1122 3.3.2 recommends 60 s at most;
//     Linux and the issue use 30 s) or `timeoutIPv6` (RFC 8200 4.5: 60 seconds). The caller
//     sends ICMP Time Exceeded when fragment zero came in.
//   - Hard caps: `maxDatagrams` in reassembly at once, `maxFragmentsPerDatagram`,
//     `maxHeldBytes` of fragment data in total, and 65,535 bytes per datagram (larger is the
//     "ping of death"; for IPv6 the reassembled payload length). When a new datagram finds every slot taken, the one that started
//     first is evicted, so a flood can delay legitimate reassembly but never grow memory.
// Memory: one 64 KiB buffer per slot, allocated the first time the slot is used and kept for
// reuse, so reassembly in steady state allocates nothing.

import Wire

/// Tunables and caps of fragment reassembly.
public struct ReassemblyConfiguration: Sendable {
    /// IPv4 reassembly timeout.
    public var timeout: Duration = .seconds(30)
    /// IPv6 reassembly timeout (RFC 8200 4.5: "within 60 seconds of the reception of the
    /// first-arriving fragment").
    public var timeoutIPv6: Duration = .seconds(60)
    /// Datagrams in reassembly at once; each holds one 64 KiB buffer.
    public var maxDatagrams: Int = 64
    /// Fragments accepted per datagram (65,507 bytes of UDP at MTU 576 take 120).
    public var maxFragmentsPerDatagram: Int = 128
    /// Fragment bytes held over all datagrams.
    public var maxHeldBytes: Int = 4 << 20

    public init() {}

    /// Upper bound of the memory reassembly may reserve: buffers plus bookkeeping.
    public var memoryBound: Int {
        maxDatagrams
            * (FragmentReassembler.bufferSize + maxFragmentsPerDatagram
                * MemoryLayout<FragmentReassembler.Extent>.stride
                + FragmentReassembler.maxHeaderLength)
    }
}

/// What reassembly has done, for tests and operators.
public struct ReassemblyStatistics: Sendable, Equatable {
    public var datagramsInProgress = 0
    public var peakDatagramsInProgress = 0
    public var heldBytes = 0
    public var peakHeldBytes = 0
    /// Bytes of buffers allocated (kept for reuse): `slots used so far * 64 KiB` and bookkeeping.
    public var reservedBytes = 0
    public var completed: UInt64 = 0
    public var timedOut: UInt64 = 0
    public var overlaps: UInt64 = 0
    public var duplicates: UInt64 = 0
    public var evicted: UInt64 = 0
    public var rejectedTooLarge: UInt64 = 0
    public var rejectedTooManyFragments: UInt64 = 0
    public var rejectedMalformed: UInt64 = 0
}

/// Identifies the datagram a fragment belongs to (RFC 791: source, destination, protocol, id;
/// RFC 8200 4.5: source, destination, id, with `protocolNumber` 0).
struct FragmentKey: Hashable {
    var source: IPAddress
    var destination: IPAddress
    var protocolNumber: UInt8
    var identification: UInt32

    /// The largest reassembled payload of the family: an IPv4 total length of 65,535 less a
    /// minimal header; an IPv6 payload length of 65,535 (RFC 8200 4.5).
    var maxPayload: Int {
        if case .v6 = source { return 65_535 }
        return 65_535 - IPv4Repr.headerLength
    }
}

final class FragmentReassembler {
    static let bufferSize = 65_536
    /// IPv4 header with options; for IPv6 the 40-byte fixed header is kept.
    static let maxHeaderLength = 60

    struct Extent {
        var start: Int
        var end: Int
    }

    private final class Slot {
        var key = FragmentKey(source: .v4(.any), destination: .v4(.any), protocolNumber: 0, identification: 0)
        var inUse = false
        /// Overlap seen: fragments are swallowed until `deadline`.
        var discarded = false
        var deadline = NetstackInstant.zero
        var started = NetstackInstant.zero
        /// Set by the last fragment (MF clear): the payload length of the datagram.
        var totalLength: Int? = nil
        var heldBytes = 0
        var extentCount = 0
        /// Header of fragment zero (for the reassembled datagram and for ICMP quotes).
        var headerLength = 0
        let data: UnsafeMutableRawBufferPointer
        let header: UnsafeMutableRawBufferPointer
        let extents: UnsafeMutableBufferPointer<Extent>

        init(maxFragments: Int) {
            data = .allocate(byteCount: FragmentReassembler.bufferSize, alignment: 8)
            header = .allocate(byteCount: FragmentReassembler.maxHeaderLength, alignment: 8)
            extents = .allocate(capacity: maxFragments)
        }

        deinit {
            data.deallocate()
            header.deallocate()
            extents.deallocate()
        }

        func reset() {
            inUse = false
            discarded = false
            totalLength = nil
            heldBytes = 0
            extentCount = 0
            headerLength = 0
        }

        var isComplete: Bool {
            guard let totalLength, extentCount > 0, extents[0].start == 0 else { return false }
            var covered = 0
            for i in 0..<extentCount {
                guard extents[i].start == covered else { return false }
                covered = extents[i].end
            }
            return covered == totalLength
        }
    }

    let configuration: ReassemblyConfiguration
    private var slots: [Slot] = []
    private(set) var statistics = ReassemblyStatistics()

    init(configuration: ReassemblyConfiguration) {
        self.configuration = configuration
        slots.reserveCapacity(configuration.maxDatagrams)
    }

    enum Outcome {
        /// Stored; the datagram is not complete yet.
        case stored
        /// Complete: `header` (fragment zero's, flags still as received) and `payload` are
        /// valid until `release(slot)`.
        case complete(slot: Int, header: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer)
        /// Dropped, with the reason to count.
        case dropped(DropReason)
    }

    /// Adds one fragment. `header` is its IPv4 header as received (options included), or the
    /// IPv6 fixed header; `data` its fragment data at byte `offset` of the datagram.
    func insert(
        key: FragmentKey, header: UnsafeRawBufferPointer, offset: Int, moreFragments: Bool,
        data: UnsafeRawBufferPointer, now: NetstackInstant
    ) -> Outcome {
        let end = offset + data.count
        // RFC 791: every fragment but the last carries a multiple of 8 bytes.
        if moreFragments && (data.count == 0 || data.count % 8 != 0) {
            statistics.rejectedMalformed &+= 1
            return .dropped(.fragmentMalformed)
        }
        let index: Int
        switch slotIndex(for: key, end: end, now: now) {
        case .at(let found): index = found
        case .dropped(let reason): return .dropped(reason)
        }
        let slot = slots[index]
        if slot.discarded { return .dropped(.fragmentOfDiscardedDatagram) }
        if let reason = refusal(ofLength: end, in: slot, moreFragments: moreFragments) { return .dropped(reason) }
        let position: Int
        switch placement(in: slot, offset: offset, end: end) {
        case .at(let found): position = found
        case .dropped(let reason): return .dropped(reason)
        }
        // The byte cap: evict other datagrams, oldest first, until this fragment fits.
        while statistics.heldBytes + data.count > configuration.maxHeldBytes {
            guard let victim = oldestSlot(excluding: index) else {
                discard(slot)
                return .dropped(.fragmentTotalCap)
            }
            statistics.evicted &+= 1
            release(victim)
        }
        store(data, header: header, offset: offset, at: position, in: slot)
        if !moreFragments { slot.totalLength = end }
        guard slot.isComplete, let total = slot.totalLength else { return .stored }
        statistics.completed &+= 1
        return .complete(
            slot: index,
            header: UnsafeRawBufferPointer(rebasing: slot.header[0..<slot.headerLength]),
            payload: UnsafeRawBufferPointer(rebasing: slot.data[0..<total]))
    }

    /// Where a step of `insert` leads: an index to go on with, or a drop.
    private enum Step {
        case at(Int)
        case dropped(DropReason)
    }

    /// The slot of the fragment's datagram, started now when it is the first fragment seen.
    private func slotIndex(for key: FragmentKey, end: Int, now: NetstackInstant) -> Step {
        if let found = find(key) { return .at(found) }
        if end > key.maxPayload {
            statistics.rejectedTooLarge &+= 1
            return .dropped(.fragmentTooLarge)
        }
        guard let index = acquireSlot(now: now) else { return .dropped(.fragmentTotalCap) }
        let slot = slots[index]
        slot.key = key
        slot.inUse = true
        slot.started = now
        let isIPv6: Bool = if case .v6 = key.source { true } else { false }
        slot.deadline = now.advanced(by: isIPv6 ? configuration.timeoutIPv6 : configuration.timeout)
        noteStarted()
        return .at(index)
    }

    /// Why a fragment ending at `end` cannot belong to the datagram (which is then discarded),
    /// or nil. The last fragment fixes the length; anything past it, or a second different
    /// last fragment, is an inconsistent (hostile) datagram.
    private func refusal(ofLength end: Int, in slot: Slot, moreFragments: Bool) -> DropReason? {
        if end > slot.key.maxPayload {
            statistics.rejectedTooLarge &+= 1
            discard(slot)
            return .fragmentTooLarge
        }
        let inconsistent: Bool
        if !moreFragments {
            let pastEnd = slot.extentCount > 0 && slot.extents[slot.extentCount - 1].end > end
            inconsistent = (slot.totalLength.map { $0 != end } ?? false) || pastEnd
        } else {
            inconsistent = slot.totalLength.map { end > $0 } ?? false
        }
        guard inconsistent else { return nil }
        statistics.rejectedMalformed &+= 1
        discard(slot)
        return .fragmentMalformed
    }

    /// Where the fragment goes among the held extents: a duplicate is dropped, an overlap
    /// (RFC 5722 for IPv6; hostile either way) or one fragment too many discards the datagram.
    private func placement(in slot: Slot, offset: Int, end: Int) -> Step {
        var position = 0
        while position < slot.extentCount && slot.extents[position].start < offset { position += 1 }
        if position < slot.extentCount && slot.extents[position].start == offset && slot.extents[position].end == end {
            statistics.duplicates &+= 1
            return .dropped(.fragmentDuplicate)
        }
        let overlapsBefore = position > 0 && slot.extents[position - 1].end > offset
        let overlapsAfter = position < slot.extentCount && slot.extents[position].start < end
        if overlapsBefore || overlapsAfter {
            statistics.overlaps &+= 1
            discard(slot)
            return .dropped(.fragmentOverlap)
        }
        if slot.extentCount >= configuration.maxFragmentsPerDatagram {
            statistics.rejectedTooManyFragments &+= 1
            discard(slot)
            return .dropped(.fragmentPerDatagramCap)
        }
        return .at(position)
    }

    /// Copies the fragment in and records its extent (and, for the first fragment, the header).
    private func store(
        _ data: UnsafeRawBufferPointer, header: UnsafeRawBufferPointer, offset: Int, at position: Int, in slot: Slot
    ) {
        if data.count > 0 {
            slot.data.baseAddress.unsafelyUnwrapped.advanced(by: offset)
                .copyMemory(from: data.baseAddress.unsafelyUnwrapped, byteCount: data.count)
        }
        var i = slot.extentCount
        while i > position {
            slot.extents[i] = slot.extents[i - 1]
            i -= 1
        }
        slot.extents[position] = Extent(start: offset, end: offset + data.count)
        slot.extentCount += 1
        slot.heldBytes += data.count
        statistics.heldBytes += data.count
        statistics.peakHeldBytes = max(statistics.peakHeldBytes, statistics.heldBytes)
        if offset == 0 {
            let length = min(header.count, Self.maxHeaderLength)
            UnsafeMutableRawBufferPointer(rebasing: slot.header[0..<length]).copyMemory(
                from: UnsafeRawBufferPointer(rebasing: header[0..<length]))
            slot.headerLength = length
        }
    }

    /// Frees a slot after its complete datagram was delivered.
    func release(_ index: Int) {
        let slot = slots[index]
        guard slot.inUse else { return }
        statistics.heldBytes -= slot.heldBytes
        statistics.datagramsInProgress -= 1
        slot.reset()
    }

    /// A datagram that timed out with fragment zero present: what to quote in ICMP Time
    /// Exceeded (IPv4: header plus the first 8 bytes of data, RFC 792; IPv6: the fixed header
    /// and as much of fragment zero as was kept, up to `ipv6QuoteData` bytes).
    struct Expired {
        var quote: UnsafeRawBufferPointer
        var source: IPAddress
    }

    /// Bytes of fragment zero quoted for an expired IPv6 datagram (RFC 4443 3.3 wants "as much
    /// of invoking packet as possible"; the error sender trims to the minimum MTU).
    static let ipv6QuoteData = 1232 - 40

    /// Drops datagrams whose time is up; calls `onExpired` for each that had fragment zero
    /// (the quote is valid during the call only).
    func handleTimers(now: NetstackInstant, onExpired: (Expired) -> Void) -> Int {
        var expired = 0
        for (index, slot) in slots.enumerated() where slot.inUse && slot.deadline <= now {
            if !slot.discarded {
                expired += 1
                statistics.timedOut &+= 1
                if slot.headerLength > 0, slot.extentCount > 0, slot.extents[0].start == 0 {
                    let isIPv6: Bool = if case .v6 = slot.key.source { true } else { false }
                    let quoted = min(isIPv6 ? Self.ipv6QuoteData : 8, slot.extents[0].end)
                    let quote = UnsafeMutableRawBufferPointer.allocate(
                        byteCount: slot.headerLength + quoted, alignment: 8)
                    defer { quote.deallocate() }
                    quote.copyMemory(from: UnsafeRawBufferPointer(rebasing: slot.header[0..<slot.headerLength]))
                    UnsafeMutableRawBufferPointer(rebasing: quote[slot.headerLength...])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: slot.data[0..<quoted]))
                    onExpired(Expired(quote: UnsafeRawBufferPointer(quote), source: slot.key.source))
                }
            }
            release(index)
        }
        return expired
    }

    var nextDeadline: NetstackInstant? {
        var deadline = DeadlineAccumulator()
        for slot in slots where slot.inUse { deadline.consider(slot.deadline) }
        return deadline.earliest
    }

    private func find(_ key: FragmentKey) -> Int? {
        for (index, slot) in slots.enumerated() where slot.inUse && slot.key == key { return index }
        return nil
    }

    private func acquireSlot(now: NetstackInstant) -> Int? {
        for (index, slot) in slots.enumerated() where !slot.inUse { return index }
        if slots.count < configuration.maxDatagrams {
            slots.append(Slot(maxFragments: configuration.maxFragmentsPerDatagram))
            statistics.reservedBytes +=
                Self.bufferSize + Self.maxHeaderLength
                + configuration.maxFragmentsPerDatagram * MemoryLayout<Extent>.stride
            return slots.count - 1
        }
        guard let victim = oldestSlot(excluding: nil) else { return nil }
        statistics.evicted &+= 1
        release(victim)
        return victim
    }

    private func oldestSlot(excluding: Int?) -> Int? {
        var best: Int? = nil
        for (index, slot) in slots.enumerated() where slot.inUse && index != excluding {
            if let b = best, slots[b].started <= slot.started { continue }
            best = index
        }
        return best
    }

    /// Forgets a datagram's bytes but keeps its key until its deadline, so that its remaining
    /// fragments are dropped rather than starting a new reassembly.
    private func discard(_ slot: Slot) {
        statistics.heldBytes -= slot.heldBytes
        slot.heldBytes = 0
        slot.extentCount = 0
        slot.totalLength = nil
        slot.discarded = true
    }

    private func noteStarted() {
        statistics.datagramsInProgress += 1
        statistics.peakDatagramsInProgress = max(statistics.peakDatagramsInProgress, statistics.datagramsInProgress)
    }
}

extension Stack {
    /// Gives one fragment of either family to the reassembler, counting a drop on `nic`. When
    /// it completes its datagram, `whole` gets the reassembled header and payload, which stay
    /// valid only during the call (the slot is released after it).
    func reassemble(
        _ key: FragmentKey, header: UnsafeRawBufferPointer, offset: Int, moreFragments: Bool,
        data: UnsafeRawBufferPointer, on nic: NIC,
        whole: (_ header: UnsafeRawBufferPointer, _ payload: UnsafeRawBufferPointer) -> Void
    ) {
        switch reassembler.insert(
            key: key, header: header, offset: offset, moreFragments: moreFragments, data: data, now: now)
        {
        case .stored:
            break
        case .dropped(let reason):
            nic.counters.countDrop(reason)
        case .complete(let slot, let header, let payload):
            defer { reassembler.release(slot) }
            whole(header, payload)
        }
    }
}
