// Counters for everything the endpoint sees. Each receive loop tallies a drain in a local
// value and adds it to shared relaxed-atomic counters once per drain, so the per-frame cost is
// a register increment.

import CNetShims

/// A snapshot of the endpoint's counters (monotonic since init).
public struct FDBasedStatistics: Sendable, Equatable {
    /// Frames delivered to the dispatcher, and their bytes (link header included).
    public var received: UInt64 = 0
    public var receivedBytes: UInt64 = 0
    /// Frames skipped because they were shorter than their headers (or empty).
    public var droppedShort: UInt64 = 0
    /// Unicast frames for another MAC than `Options.address`.
    public var droppedOtherAddress: UInt64 = 0
    /// Frames whose virtio_net_hdr was unusable (unknown GSO type, offsets out of the frame).
    public var droppedBadVirtioHeader: UInt64 = 0
    /// Without an Ethernet header: packets whose first nibble is neither 4 nor 6.
    public var droppedUnknownProtocol: UInt64 = 0
    /// Frames cut short: ring frames with tp_snaplen < tp_len or TP_STATUS_COPY, and reads
    /// that filled the whole buffer or reported MSG_TRUNC.
    public var truncated: UInt64 = 0
    /// Frames the kernel dropped before we saw them (PACKET_STATISTICS tp_drops, summed over
    /// every AF_PACKET fd; refreshed when statistics are read).
    public var kernelDropped: UInt64 = 0
    /// Transient read errors (ENOBUFS, ENOMEM) that did not end the loop.
    public var readErrors: UInt64 = 0
    /// Outbound frames handed to the kernel, and their bytes.
    public var sent: UInt64 = 0
    public var sentBytes: UInt64 = 0
    /// Outbound frames the kernel refused (the error went back to the writer).
    public var sendFailed: UInt64 = 0
    /// Outbound frames dropped because the fd would block (its send buffer is full).
    public var sendDroppedWouldBlock: UInt64 = 0
    /// Outbound packets refused before queueing: over the MTU / gsoMaxSize, or GSO unsupported.
    public var sendRejected: UInt64 = 0

    public init() {}

    /// Every frame that reached the endpoint and was not delivered, counted by reason.
    public var dropped: UInt64 {
        droppedShort &+ droppedOtherAddress &+ droppedBadVirtioHeader &+ droppedUnknownProtocol
    }

    /// Adds another endpoint's counters (a network's switch sums its members' links).
    public mutating func add(_ other: FDBasedStatistics) {
        received &+= other.received
        receivedBytes &+= other.receivedBytes
        droppedShort &+= other.droppedShort
        droppedOtherAddress &+= other.droppedOtherAddress
        droppedBadVirtioHeader &+= other.droppedBadVirtioHeader
        droppedUnknownProtocol &+= other.droppedUnknownProtocol
        truncated &+= other.truncated
        kernelDropped &+= other.kernelDropped
        readErrors &+= other.readErrors
        sent &+= other.sent
        sentBytes &+= other.sentBytes
        sendFailed &+= other.sendFailed
        sendDroppedWouldBlock &+= other.sendDroppedWouldBlock
        sendRejected &+= other.sendRejected
    }
}

/// Local tally of one drain, added to the shared counters at its end.
struct ReceiveTally {
    var received: UInt64 = 0
    var receivedBytes: UInt64 = 0
    var droppedShort: UInt64 = 0
    var droppedOtherAddress: UInt64 = 0
    var droppedBadVirtioHeader: UInt64 = 0
    var droppedUnknownProtocol: UInt64 = 0
    var truncated: UInt64 = 0
    var readErrors: UInt64 = 0

    var isEmpty: Bool {
        received | droppedShort | droppedOtherAddress | droppedBadVirtioHeader | droppedUnknownProtocol | truncated
            | readErrors == 0
    }
}

/// Shared counters: written by the receive loops and the TX path, read by anyone.
final class CounterStorage: @unchecked Sendable {
    enum Index: Int, CaseIterable {
        case received, receivedBytes, droppedShort, droppedOtherAddress, droppedBadVirtioHeader,
            droppedUnknownProtocol, truncated, kernelDropped, readErrors,
            sent, sentBytes, sendFailed, sendDroppedWouldBlock, sendRejected
    }

    private let words: UnsafeMutablePointer<UInt64>

    init() {
        words = .allocate(capacity: Index.allCases.count)
        words.initialize(repeating: 0, count: Index.allCases.count)
    }

    deinit { words.deallocate() }

    @inline(__always)
    func add(_ index: Index, _ value: UInt64) {
        if value != 0 { cshim_counter_add(words + index.rawValue, value) }
    }

    func load(_ index: Index) -> UInt64 { cshim_counter_load(words + index.rawValue) }

    func add(_ tally: ReceiveTally) {
        add(.received, tally.received)
        add(.receivedBytes, tally.receivedBytes)
        add(.droppedShort, tally.droppedShort)
        add(.droppedOtherAddress, tally.droppedOtherAddress)
        add(.droppedBadVirtioHeader, tally.droppedBadVirtioHeader)
        add(.droppedUnknownProtocol, tally.droppedUnknownProtocol)
        add(.truncated, tally.truncated)
        add(.readErrors, tally.readErrors)
    }

    var snapshot: FDBasedStatistics {
        var s = FDBasedStatistics()
        s.received = load(.received)
        s.receivedBytes = load(.receivedBytes)
        s.droppedShort = load(.droppedShort)
        s.droppedOtherAddress = load(.droppedOtherAddress)
        s.droppedBadVirtioHeader = load(.droppedBadVirtioHeader)
        s.droppedUnknownProtocol = load(.droppedUnknownProtocol)
        s.truncated = load(.truncated)
        s.kernelDropped = load(.kernelDropped)
        s.readErrors = load(.readErrors)
        s.sent = load(.sent)
        s.sentBytes = load(.sentBytes)
        s.sendFailed = load(.sendFailed)
        s.sendDroppedWouldBlock = load(.sendDroppedWouldBlock)
        s.sendRejected = load(.sendRejected)
        return s
    }
}
