// A byte ring per direction of a connection. It grows (rarely: by doubling, as auto-tuning asks)
// but never allocates on the data path.
// Hand-written because the sequence-space views TCP needs (write at an offset past the end for
// out-of-order data, contiguous reads at an offset for retransmission) are not what
// swift-collections' Deque offers.

struct TCPByteRing: ~Copyable {
    private var storage: UnsafeMutableRawBufferPointer
    private var head = 0
    /// Bytes committed (readable) from `head`.
    private(set) var count = 0

    init(capacity: Int) {
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(capacity, 1), alignment: 16)
    }

    deinit { storage.deallocate() }

    /// Moves the bytes to a larger ring, each at its logical offset, committed or not (so
    /// out-of-order data held past `count` keeps its place).
    mutating func grow(to newCapacity: Int) {
        guard newCapacity > storage.count, let old = storage.baseAddress else { return }
        let larger = UnsafeMutableRawBufferPointer.allocate(byteCount: newCapacity, alignment: 16)
        let tail = storage.count - head
        larger.baseAddress!.copyMemory(from: old + head, byteCount: tail)
        (larger.baseAddress! + tail).copyMemory(from: old, byteCount: head)
        storage.deallocate()
        storage = larger
        head = 0
    }

    var capacity: Int { storage.count }
    var free: Int { storage.count - count }
    var isEmpty: Bool { count == 0 }

    /// Appends as much of `bytes` as fits; returns how many were taken.
    mutating func append(_ bytes: UnsafeRawBufferPointer) -> Int {
        let n = write(bytes, at: count)
        count += n
        return n
    }

    /// Copies `bytes` to logical offset `offset` (which may lie past `count`, for out-of-order
    /// data) without committing them; returns how many fit below capacity.
    mutating func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int {
        guard offset >= 0, offset < storage.count, let base = bytes.baseAddress else { return 0 }
        let n = min(bytes.count, storage.count - offset)
        var done = 0
        while done < n {
            let physical = (head + offset + done) % storage.count
            let chunk = min(n - done, storage.count - physical)
            (storage.baseAddress! + physical).copyMemory(from: base + done, byteCount: chunk)
            done += chunk
        }
        return n
    }

    /// The free space after the committed bytes, as at most two runs (the second is empty when
    /// it does not wrap): fill them in order, then `commit` what was filled.
    func freeRuns() -> (UnsafeMutableRawBufferPointer, UnsafeMutableRawBufferPointer) {
        let free = storage.count - count
        guard free > 0 else {
            return (UnsafeMutableRawBufferPointer(start: nil, count: 0), .init(start: nil, count: 0))
        }
        let tail = (head + count) % storage.count
        let first = min(free, storage.count - tail)
        return (
            UnsafeMutableRawBufferPointer(rebasing: storage[tail..<tail + first]),
            UnsafeMutableRawBufferPointer(rebasing: storage[0..<free - first])
        )
    }

    /// Marks `n` bytes past the end as readable (after `write(_:at:)` filled them).
    mutating func commit(_ n: Int) {
        count = min(count + n, storage.count)
    }

    /// Copies up to `buffer.count` bytes from the front into `buffer` and drops them.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let n = peek(into: buffer, at: 0)
        drop(n)
        return n
    }

    /// Copies committed bytes from logical `offset` without dropping them.
    func peek(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        guard offset >= 0, offset < count, let destination = buffer.baseAddress else { return 0 }
        let n = min(buffer.count, count - offset)
        var done = 0
        while done < n {
            let view = contiguous(at: offset + done, maxLength: n - done)
            (destination + done).copyMemory(from: view.baseAddress!, byteCount: view.count)
            done += view.count
        }
        return n
    }

    /// The longest contiguous committed run starting at logical `offset`, at most `maxLength`.
    func contiguous(at offset: Int, maxLength: Int) -> UnsafeRawBufferPointer {
        guard offset >= 0, offset < count, maxLength > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        let physical = (head + offset) % storage.count
        let n = min(maxLength, count - offset, storage.count - physical)
        return UnsafeRawBufferPointer(rebasing: storage[physical..<physical + n])
    }

    /// `length` committed bytes from `offset` as one buffer: a view into the ring when they do
    /// not wrap, else copied into `scratch` (which must hold `length` bytes).
    func view(at offset: Int, length: Int, scratch: UnsafeMutableRawBufferPointer) -> UnsafeRawBufferPointer {
        let direct = contiguous(at: offset, maxLength: length)
        if direct.count == length || length > scratch.count { return direct }
        let n = peek(into: UnsafeMutableRawBufferPointer(rebasing: scratch[..<length]), at: offset)
        return UnsafeRawBufferPointer(rebasing: scratch[..<n])
    }

    mutating func drop(_ n: Int) {
        let n = min(n, count)
        head = (head + n) % storage.count
        count -= n
    }
}
