// LOCAL, UNCOMMITTED stand-in for the Wire contract (WIRE_API.md) until branch `wire` lands.
public struct SeqNumber: Hashable, Sendable, Comparable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static func &+ (a: SeqNumber, b: Int) -> SeqNumber { SeqNumber(rawValue: a.rawValue &+ UInt32(truncatingIfNeeded: b)) }
    public static func &+ (a: SeqNumber, b: UInt32) -> SeqNumber { SeqNumber(rawValue: a.rawValue &+ b) }
    public static func - (a: SeqNumber, b: SeqNumber) -> Int32 { Int32(bitPattern: a.rawValue &- b.rawValue) }
    public static func < (a: SeqNumber, b: SeqNumber) -> Bool { (a - b) < 0 }
}
public struct TCPFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let fin = TCPFlags(rawValue: 1)
    public static let syn = TCPFlags(rawValue: 2)
    public static let rst = TCPFlags(rawValue: 4)
    public static let psh = TCPFlags(rawValue: 8)
    public static let ack = TCPFlags(rawValue: 16)
    public static let urg = TCPFlags(rawValue: 32)
    public static let ece = TCPFlags(rawValue: 64)
    public static let cwr = TCPFlags(rawValue: 128)
}
public struct SACKBlock: Hashable, Sendable {
    public var left: SeqNumber
    public var right: SeqNumber
    public init(left: SeqNumber, right: SeqNumber) { self.left = left; self.right = right }
}
public struct SACKBlocks: RandomAccessCollection, Hashable, Sendable {
    var storage: (SACKBlock, SACKBlock, SACKBlock, SACKBlock)
    public private(set) var count: Int = 0
    public init() { let z = SACKBlock(left: SeqNumber(rawValue: 0), right: SeqNumber(rawValue: 0)); storage = (z, z, z, z) }
    public var startIndex: Int { 0 }
    public var endIndex: Int { count }
    public subscript(i: Int) -> SACKBlock {
        switch i { case 0: storage.0; case 1: storage.1; case 2: storage.2; default: storage.3 }
    }
    public mutating func append(_ b: SACKBlock) {
        switch count { case 0: storage.0 = b; case 1: storage.1 = b; case 2: storage.2 = b; case 3: storage.3 = b; default: return }
        count += 1
    }
    public static func == (a: SACKBlocks, b: SACKBlocks) -> Bool { Array(a) == Array(b) }
    public func hash(into h: inout Hasher) { for b in self { h.combine(b) } }
}
public struct TCPOptions: Sendable {
    public var mss: UInt16?
    public var windowScale: UInt8?
    public var sackPermitted: Bool = false
    public var sackBlocks: SACKBlocks = SACKBlocks()
    public var timestamp: (value: UInt32, echo: UInt32)?
    public init() {}
}
public struct TCPRepr: Sendable {
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var sequenceNumber: SeqNumber
    public var acknowledgmentNumber: SeqNumber
    public var flags: TCPFlags
    public var window: UInt16
    public var urgentPointer: UInt16
    public var options: TCPOptions
    public var payloadLength: Int
    public init(sourcePort: UInt16, destinationPort: UInt16, sequenceNumber: SeqNumber, acknowledgmentNumber: SeqNumber, flags: TCPFlags, window: UInt16, urgentPointer: UInt16 = 0, options: TCPOptions = TCPOptions(), payloadLength: Int = 0) {
        self.sourcePort = sourcePort; self.destinationPort = destinationPort; self.sequenceNumber = sequenceNumber
        self.acknowledgmentNumber = acknowledgmentNumber; self.flags = flags; self.window = window
        self.urgentPointer = urgentPointer; self.options = options; self.payloadLength = payloadLength
    }
}
