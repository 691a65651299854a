// A set of ports written `80`, `8000-8100` or `80,443,8000-8100`, for policy rules.

public struct PortSet: Hashable, Sendable, CustomStringConvertible {
    /// Sorted, non-overlapping ranges.
    public let ranges: [ClosedRange<UInt16>]

    public static let all = PortSet(uncheckedRanges: [0...UInt16.max])

    private init(uncheckedRanges: [ClosedRange<UInt16>]) { ranges = uncheckedRanges }

    /// At most this many comma-separated items: a policy is written by a person.
    public static let maxItems = 64

    public init(parsing text: some StringProtocol) throws(PortSetError) {
        guard !text.isEmpty else { throw .empty }
        let items = String(text).split(separator: ",", omittingEmptySubsequences: false)
        guard items.count <= Self.maxItems else { throw .tooManyItems(items.count) }
        var parsed: [ClosedRange<UInt16>] = []
        for item in items {
            let bounds = item.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            guard let low = Self.port(bounds[0]) else { throw .badPort(String(item)) }
            var high = low
            if bounds.count == 2 {
                guard let h = Self.port(bounds[1]) else { throw .badPort(String(item)) }
                guard h >= low else { throw .reversedRange(String(item)) }
                high = h
            }
            parsed.append(low...high)
        }
        parsed.sort { $0.lowerBound < $1.lowerBound }
        var merged: [ClosedRange<UInt16>] = []
        for range in parsed {
            if let last = merged.last, Int(range.lowerBound) <= Int(last.upperBound) + 1 {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        ranges = merged
    }

    /// A decimal port 1...65535 with no sign, space or leading junk.
    private static func port(_ text: Substring) -> UInt16? {
        guard (1...5).contains(text.count), text.allSatisfy({ $0.isASCII && $0.isNumber }),
            let value = UInt16(text), value != 0
        else { return nil }
        return value
    }

    public func contains(_ port: UInt16) -> Bool {
        ranges.contains { $0.contains(port) }
    }

    public var description: String {
        ranges.map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
            .joined(separator: ",")
    }
}

public enum PortSetError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case badPort(String)
    case reversedRange(String)
    case tooManyItems(Int)

    public var description: String {
        switch self {
        case .empty: "the port list is empty"
        case .badPort(let item): "'\(item)' is not a port (1-65535) or a range LOW-HIGH"
        case .reversedRange(let item): "range '\(item)' ends before it starts"
        case .tooManyItems(let n): "\(n) port items; at most \(PortSet.maxItems)"
        }
    }
}
