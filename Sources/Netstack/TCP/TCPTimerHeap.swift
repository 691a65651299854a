// The demux's timer schedule: a binary min-heap of (deadline, flow), so finding and running the
// connections whose timers are due costs O(log n) each instead of a scan of every connection
// (a gateway holds thousands in TIME-WAIT under connection churn).
//
// Entries are hints, checked when they surface: an entry is live only while its connection is
// still in the demux and still names that deadline as its `scheduledDeadline`; anything else is
// skipped. A connection pushes a new entry only when a timer moves earlier than the one it has
// scheduled, so re-arming a timer later (every ACK moves the retransmission deadline) costs
// nothing. Hand-written because Netstack depends on nothing but Wire and Link (no
// swift-collections Heap here).

struct TCPTimerHeap {
    struct Entry {
        var deadline: Int64
        var flow: TCPFlowID
    }

    private(set) var entries: [Entry] = []

    var count: Int { entries.count }
    var first: Entry? { entries.first }

    mutating func insert(_ entry: Entry) {
        entries.append(entry)
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].deadline < entries[parent].deadline else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    @discardableResult
    mutating func removeFirst() -> Entry? {
        guard let top = entries.first else { return nil }
        let last = entries.removeLast()
        guard !entries.isEmpty else { return top }
        entries[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            guard left < entries.count else { break }
            let right = left + 1
            let smaller = right < entries.count && entries[right].deadline < entries[left].deadline ? right : left
            guard entries[smaller].deadline < entries[parent].deadline else { break }
            entries.swapAt(parent, smaller)
            parent = smaller
        }
        return top
    }

    /// Replaces the whole schedule (used to drop accumulated stale entries).
    mutating func rebuild(_ live: [Entry]) {
        entries.removeAll(keepingCapacity: true)
        for entry in live { insert(entry) }
    }
}
