// Network-byte-order reads and writes at a byte offset. Every caller has already checked the
// buffer length once (in a view's throwing init or by a precondition in an emitter), so these
// do no checking of their own; that single check is what keeps the accessors trap-free.

extension UnsafeRawBufferPointer {
    @inlinable @inline(__always)
    func u8(_ offset: Int) -> UInt8 {
        load(fromByteOffset: offset, as: UInt8.self)
    }

    @inlinable @inline(__always)
    func u16(_ offset: Int) -> UInt16 {
        UInt16(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inlinable @inline(__always)
    func u32(_ offset: Int) -> UInt32 {
        UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    @inlinable @inline(__always)
    func mac(_ offset: Int) -> MACAddress {
        MACAddress(rawValue: UInt64(u16(offset)) << 32 | UInt64(u32(offset + 2)))
    }

    @inlinable @inline(__always)
    func ipv4(_ offset: Int) -> IPv4Address {
        IPv4Address(rawValue: u32(offset))
    }

    @inlinable @inline(__always)
    func ipv6(_ offset: Int) -> IPv6Address {
        IPv6Address(high: UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self)),
                    low: UInt64(bigEndian: loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)))
    }

    /// `count` bytes from `offset`, as a sub-buffer sharing this one's memory.
    @inlinable @inline(__always)
    func slice(_ offset: Int, _ count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self[offset..<(offset + count)])
    }

    /// The bytes from `offset` to the end.
    @inlinable @inline(__always)
    func suffix(from offset: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: self[offset...])
    }
}

extension UnsafeMutableRawBufferPointer {
    @inlinable @inline(__always)
    func put8(_ value: UInt8, at offset: Int) {
        storeBytes(of: value, toByteOffset: offset, as: UInt8.self)
    }

    @inlinable @inline(__always)
    func put16(_ value: UInt16, at offset: Int) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt16.self)
    }

    @inlinable @inline(__always)
    func put32(_ value: UInt32, at offset: Int) {
        storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
    }

    @inlinable @inline(__always)
    func putMAC(_ value: MACAddress, at offset: Int) {
        put16(UInt16(truncatingIfNeeded: value.rawValue >> 32), at: offset)
        put32(UInt32(truncatingIfNeeded: value.rawValue), at: offset + 2)
    }

    @inlinable @inline(__always)
    func putIPv4(_ value: IPv4Address, at offset: Int) {
        put32(value.rawValue, at: offset)
    }

    @inlinable @inline(__always)
    func putIPv6(_ value: IPv6Address, at offset: Int) {
        storeBytes(of: value.high.bigEndian, toByteOffset: offset, as: UInt64.self)
        storeBytes(of: value.low.bigEndian, toByteOffset: offset + 8, as: UInt64.self)
    }
}
