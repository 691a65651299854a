// TCP options (RFC 9293 3.1/3.2 MSS, RFC 7323 window scale and timestamps, RFC 2018 SACK).

/// One SACK block: the received range [left, right).
public struct SACKBlock: Hashable, Sendable {
    public var left: SeqNumber
    public var right: SeqNumber

    @inlinable public init(left: SeqNumber, right: SeqNumber) {
        self.left = left
        self.right = right
    }
}

/// Up to four SACK blocks stored inline (no heap), the most a SACK option can carry in 40
/// bytes of option space (RFC 2018 section 3).
public struct SACKBlocks: RandomAccessCollection, Hashable, Sendable {
    @inlinable public static var capacity: Int { 4 }

    @usableFromInline var storage: (SACKBlock, SACKBlock, SACKBlock, SACKBlock)
    @usableFromInline var storedCount: Int

    @inlinable public init() {
        let empty = SACKBlock(left: SeqNumber(0), right: SeqNumber(0))
        storage = (empty, empty, empty, empty)
        storedCount = 0
    }

    @inlinable public var count: Int { storedCount }
    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { count }
    @inlinable public var isFull: Bool { count == SACKBlocks.capacity }

    @inlinable public subscript(index: Int) -> SACKBlock {
        get {
            precondition(index >= 0 && index < count, "SACK block index out of range")
            switch index {
            case 0: return storage.0
            case 1: return storage.1
            case 2: return storage.2
            default: return storage.3
            }
        }
        set {
            precondition(index >= 0 && index < count, "SACK block index out of range")
            switch index {
            case 0: storage.0 = newValue
            case 1: storage.1 = newValue
            case 2: storage.2 = newValue
            default: storage.3 = newValue
            }
        }
    }

    /// Appends a block; returns false (and changes nothing) when all four slots are taken.
    @inlinable @discardableResult public mutating func append(_ block: SACKBlock) -> Bool {
        guard count < SACKBlocks.capacity else { return false }
        storedCount += 1
        self[storedCount - 1] = block
        return true
    }

    @inlinable public mutating func removeAll() { storedCount = 0 }

    @inlinable public static func == (a: SACKBlocks, b: SACKBlocks) -> Bool {
        a.elementsEqual(b)
    }

    @inlinable public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        for block in self { hasher.combine(block) }
    }
}

/// TCP option kinds (IANA "TCP Option Kind Numbers").
public enum TCPOptionKind {
    @inlinable public static var endOfList: UInt8 { 0 }
    @inlinable public static var noOperation: UInt8 { 1 }
    @inlinable public static var maximumSegmentSize: UInt8 { 2 }
    @inlinable public static var windowScale: UInt8 { 3 }
    @inlinable public static var sackPermitted: UInt8 { 4 }
    @inlinable public static var sack: UInt8 { 5 }
    @inlinable public static var timestamp: UInt8 { 8 }
}

/// The TCP options the stack uses, as values. Unknown options are skipped on parse and not
/// emitted.
public struct TCPOptions: Sendable, Hashable {
    public var mss: UInt16?
    /// The shift count as received (RFC 7323 2.3 says values above 14 are used as 14; that is
    /// the TCP layer's call).
    public var windowScale: UInt8?
    public var sackPermitted: Bool
    public var sackBlocks: SACKBlocks
    /// TSval and TSecr (RFC 7323 3.2).
    public var timestamp: (value: UInt32, echo: UInt32)?

    @inlinable public init(
        mss: UInt16? = nil, windowScale: UInt8? = nil, sackPermitted: Bool = false,
        sackBlocks: SACKBlocks = SACKBlocks(), timestamp: (value: UInt32, echo: UInt32)? = nil
    ) {
        self.mss = mss
        self.windowScale = windowScale
        self.sackPermitted = sackPermitted
        self.sackBlocks = sackBlocks
        self.timestamp = timestamp
    }

    @inlinable public static func == (a: TCPOptions, b: TCPOptions) -> Bool {
        a.mss == b.mss && a.windowScale == b.windowScale && a.sackPermitted == b.sackPermitted
            && a.sackBlocks == b.sackBlocks && a.timestamp?.value == b.timestamp?.value
            && a.timestamp?.echo == b.timestamp?.echo
    }

    @inlinable public func hash(into hasher: inout Hasher) {
        hasher.combine(mss)
        hasher.combine(windowScale)
        hasher.combine(sackPermitted)
        hasher.combine(sackBlocks)
        hasher.combine(timestamp?.value)
        hasher.combine(timestamp?.echo)
    }

    /// Room for options in a TCP header (data offset 15 words minus the fixed 5).
    @inlinable public static var maximumLength: Int { 40 }

    /// Parses an option list. RFC 9293 3.1: EOL ends the list, NOP is one byte, every other
    /// option carries a length byte covering kind and length; unknown kinds are skipped by that
    /// length. A length below 2 or past the end, or a known option with the wrong length, is
    /// `.malformed` (RFC 9293 3.2: "must be prepared to handle an illegal option length").
    @inlinable @inline(__always)
    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> TCPOptions {
        var options = TCPOptions()
        var offset = 0
        // Each round consumes at least one byte, so the loop is bounded by the buffer length.
        while offset < bytes.count {
            let kind = bytes.u8(offset)
            if kind == TCPOptionKind.endOfList { break }
            if kind == TCPOptionKind.noOperation {
                offset += 1
                continue
            }
            guard offset + 1 < bytes.count else { throw .malformed }
            let length = Int(bytes.u8(offset + 1))
            guard length >= 2, offset + length <= bytes.count else { throw .malformed }
            switch kind {
            case TCPOptionKind.maximumSegmentSize:
                guard length == 4 else { throw .malformed }
                options.mss = bytes.u16(offset + 2)
            case TCPOptionKind.windowScale:
                guard length == 3 else { throw .malformed }
                options.windowScale = bytes.u8(offset + 2)
            case TCPOptionKind.sackPermitted:
                guard length == 2 else { throw .malformed }
                options.sackPermitted = true
            case TCPOptionKind.sack:
                // RFC 2018 3: length 2 + 8n for n blocks, n >= 1.
                guard length >= 10, (length - 2) % 8 == 0 else { throw .malformed }
                options.sackBlocks.removeAll()
                var blockOffset = offset + 2
                while blockOffset + 8 <= offset + length {
                    options.sackBlocks.append(
                        SACKBlock(
                            left: SeqNumber(bytes.u32(blockOffset)),
                            right: SeqNumber(bytes.u32(blockOffset + 4))))
                    blockOffset += 8
                }
            case TCPOptionKind.timestamp:
                guard length == 10 else { throw .malformed }
                options.timestamp = (bytes.u32(offset + 2), bytes.u32(offset + 6))
            default:
                break
            }
            offset += length
        }
        return options
    }

    /// How many SACK blocks `emit` writes: all that fit after the other options in 40 bytes.
    @inlinable public var emittedSACKBlockCount: Int {
        guard !sackBlocks.isEmpty else { return 0 }
        let room = TCPOptions.maximumLength - fixedEncodedLength - 4
        return Swift.max(0, Swift.min(sackBlocks.count, room / 8))
    }

    /// Bytes of everything but the SACK blocks, laid out as Linux's tcp_options_write does.
    @inlinable var fixedEncodedLength: Int {
        var length = 0
        if mss != nil { length += 4 }
        if timestamp != nil {
            length += 12
        } // SACK-permitted rides in its NOPs
        else if sackPermitted {
            length += 4
        }
        if windowScale != nil { length += 4 }
        return length
    }

    /// Bytes `emit` writes; always a multiple of 4 and at most 40.
    @inlinable public var encodedLength: Int {
        let blocks = emittedSACKBlockCount
        return fixedEncodedLength + (blocks > 0 ? 4 + 8 * blocks : 0)
    }

    /// Writes the options in Linux's order and packing (net/ipv4/tcp_output.c,
    /// tcp_options_write), so a Linux segment re-emits byte for byte:
    /// MSS; then SACK-permitted + timestamps in one 12-byte run (NOP NOP instead of
    /// SACK-permitted when it is off); or NOP NOP SACK-permitted without timestamps; NOP +
    /// window scale; NOP NOP + SACK blocks.
    @inlinable public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= encodedLength, "TCP options do not fit")
        var offset = 0
        if let mss {
            buffer.put32(UInt32(TCPOptionKind.maximumSegmentSize) << 24 | 4 << 16 | UInt32(mss), at: offset)
            offset += 4
        }
        if let timestamp {
            let lead: UInt32 =
                sackPermitted
                ? UInt32(TCPOptionKind.sackPermitted) << 24 | 2 << 16
                : UInt32(TCPOptionKind.noOperation) << 24 | UInt32(TCPOptionKind.noOperation) << 16
            buffer.put32(lead | UInt32(TCPOptionKind.timestamp) << 8 | 10, at: offset)
            buffer.put32(timestamp.value, at: offset + 4)
            buffer.put32(timestamp.echo, at: offset + 8)
            offset += 12
        } else if sackPermitted {
            buffer.put32(
                UInt32(TCPOptionKind.noOperation) << 24 | UInt32(TCPOptionKind.noOperation) << 16
                    | UInt32(TCPOptionKind.sackPermitted) << 8 | 2, at: offset)
            offset += 4
        }
        if let windowScale {
            buffer.put32(
                UInt32(TCPOptionKind.noOperation) << 24 | UInt32(TCPOptionKind.windowScale) << 16
                    | 3 << 8 | UInt32(windowScale), at: offset)
            offset += 4
        }
        let blocks = emittedSACKBlockCount
        if blocks > 0 {
            buffer.put32(
                UInt32(TCPOptionKind.noOperation) << 24 | UInt32(TCPOptionKind.noOperation) << 16
                    | UInt32(TCPOptionKind.sack) << 8 | UInt32(2 + 8 * blocks), at: offset)
            offset += 4
            for i in 0..<blocks {
                buffer.put32(sackBlocks[i].left.rawValue, at: offset)
                buffer.put32(sackBlocks[i].right.rawValue, at: offset + 4)
                offset += 8
            }
        }
    }
}
