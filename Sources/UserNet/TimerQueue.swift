// Timers for the event loop: a min-heap of deadlines (swift-collections' Heap) plus a table of
// live timers, so cancel and re-arm are O(1) and a cancelled entry is skipped when it surfaces.
// Bounded: at `capacity` live timers scheduling fails and is counted.

import HeapModule

/// Identifies one scheduled timer; never reused within a queue.
public struct TimerID: Hashable, Sendable {
    public let rawValue: UInt64
}

public struct TimerQueue<Payload> {
    struct Entry: Comparable {
        var deadline: UInt64
        var id: UInt64
        static func < (a: Entry, b: Entry) -> Bool {
            (a.deadline, a.id) < (b.deadline, b.id)
        }
    }

    private var heap = Heap<Entry>()
    private var live: [UInt64: (deadline: UInt64, payload: Payload)] = [:]
    private var nextID: UInt64 = 1
    public let capacity: Int
    /// Schedules refused because `capacity` timers were live.
    public private(set) var rejected: UInt64 = 0

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    public var count: Int { live.count }

    /// Schedules `payload` for the monotonic time `deadline` (ns); nil (counted) when full.
    public mutating func schedule(at deadline: UInt64, _ payload: Payload) -> TimerID? {
        guard live.count < capacity else {
            rejected &+= 1
            return nil
        }
        let id = nextID
        nextID &+= 1
        live[id] = (deadline, payload)
        heap.insert(Entry(deadline: deadline, id: id))
        compactIfMostlyCancelled()
        return TimerID(rawValue: id)
    }

    /// Removes a timer; false if it already fired or was cancelled.
    @discardableResult
    public mutating func cancel(_ id: TimerID) -> Bool {
        live.removeValue(forKey: id.rawValue) != nil
    }

    /// The earliest live deadline, dropping cancelled entries on the way.
    public mutating func nextDeadline() -> UInt64? {
        while let top = heap.min {
            if let entry = live[top.id], entry.deadline == top.deadline { return top.deadline }
            _ = heap.removeMin()
        }
        return nil
    }

    /// Removes and returns one timer due at or before `now`, earliest first; nil when none is due.
    public mutating func popExpired(now: UInt64) -> (TimerID, Payload)? {
        while let top = heap.min, top.deadline <= now {
            _ = heap.removeMin()
            if let entry = live[top.id], entry.deadline == top.deadline {
                live.removeValue(forKey: top.id)
                return (TimerID(rawValue: top.id), entry.payload)
            }
        }
        return nil
    }

    /// Cancelled entries stay in the heap until they surface; rebuild it when they outnumber
    /// the live ones, so churn (re-arming one timer per round) cannot grow the heap without end.
    private mutating func compactIfMostlyCancelled() {
        guard heap.count > 64, heap.count > 2 * live.count else { return }
        heap = Heap(live.map { Entry(deadline: $0.value.deadline, id: $0.key) })
    }
}
