// A bounded, sorted set of disjoint sequence ranges. The receiver uses it for out-of-order data
// held in the receive ring (and to build SACK blocks); the sender uses it as the SACK scoreboard.
// Storage is reserved once; `insert` refuses (and the caller counts) rather than grow past it.

import Wire

struct TCPSequenceRanges {
    struct Range: Equatable {
        var left: SeqNumber
        var right: SeqNumber
        var length: Int { Int(right - left) }
    }

    private(set) var ranges: ContiguousArray<Range>
    let limit: Int

    init(limit: Int) {
        self.limit = max(limit, 1)
        ranges = []
        ranges.reserveCapacity(self.limit + 1)
    }

    var isEmpty: Bool { ranges.isEmpty }
    var count: Int { ranges.count }

    mutating func removeAll() { ranges.removeAll(keepingCapacity: true) }

    /// Adds [left, right), merging with neighbours. Returns false (and changes nothing) when the
    /// result would need more than `limit` ranges.
    @discardableResult
    mutating func insert(_ left: SeqNumber, _ right: SeqNumber) -> Bool {
        guard left < right else { return true }
        var merged = Range(left: left, right: right)
        var first = ranges.count
        var last = -1
        for (i, r) in ranges.enumerated() where r.right >= merged.left && r.left <= merged.right {
            first = min(first, i)
            last = max(last, i)
        }
        if last >= first {
            merged.left = Swift.min(merged.left, ranges[first].left)
            merged.right = Swift.max(merged.right, ranges[last].right)
            ranges.replaceSubrange(first...last, with: CollectionOfOne(merged))
            return true
        }
        guard ranges.count < limit else { return false }
        let index = ranges.firstIndex { $0.left > merged.left } ?? ranges.count
        ranges.insert(merged, at: index)
        return true
    }

    /// Drops everything below `sequence` (acknowledged or delivered).
    mutating func removeBelow(_ sequence: SeqNumber) {
        while let first = ranges.first, first.left < sequence {
            if first.right <= sequence {
                ranges.removeFirst()
            } else {
                ranges[0].left = sequence
                break
            }
        }
    }

    /// If a range starts at or below `sequence`, removes it and returns its right edge.
    mutating func popContiguous(from sequence: SeqNumber) -> SeqNumber? {
        guard let first = ranges.first, first.left <= sequence else { return nil }
        ranges.removeFirst()
        return first.right > sequence ? first.right : sequence
    }

    /// The range holding `sequence`, if any.
    func range(containing sequence: SeqNumber) -> Range? {
        ranges.first { $0.left <= sequence && sequence < $0.right }
    }

    /// Total bytes covered.
    var totalBytes: Int { ranges.reduce(0) { $0 + $1.length } }

    /// Bytes covered at or above `sequence`.
    func bytes(above sequence: SeqNumber) -> Int {
        var total = 0
        for r in ranges where r.right > sequence {
            total += Int(r.right - Swift.max(r.left, sequence))
        }
        return total
    }

    var highestRight: SeqNumber? { ranges.last?.right }
}
