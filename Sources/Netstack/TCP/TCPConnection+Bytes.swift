// The connection's byte API: what the user reads from the receive ring and writes into the
// send ring, copied (`read(into:)`, `write(_:)`) or in place (`read(inPlace:)`,
// `write(inPlace:)`: the caller moves the bytes between the ring and a socket itself). After
// either, `poll(now:output:)` sends what it allows: window updates, new data.

extension TCPConnection {
    var canWrite: Bool {
        !finQueued && (state == .established || state == .closeWait || state == .synSent || state == .synReceived)
    }

    /// Copies received bytes into `buffer`; returns how many (0: nothing yet, or end of stream
    /// when `isReadClosed`). Call `poll` afterwards so an opened window is advertised.
    public func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let n = receiveBuffer.read(into: buffer)
        autotuneBytes += n
        releaseBuffersInTimeWait()
        notifyReadiness()
        return n
    }

    /// The received bytes where they lie, as at most two runs (the ring may wrap; the second
    /// is empty when it does not): `consume` passes them on and returns how many it took, and
    /// those are gone, as if `read(into:)` had copied them out. A reader that hands the bytes to
    /// a socket (the gateway) saves that copy. `consume` must not call back into the connection.
    public func read(inPlace consume: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Int) -> Int {
        let available = receiveBuffer.count
        guard available > 0 else { return 0 }
        let first = receiveBuffer.contiguous(at: 0, maxLength: available)
        let second = receiveBuffer.contiguous(at: first.count, maxLength: available - first.count)
        let n = min(max(consume(first, second), 0), available)
        receiveBuffer.drop(n)
        autotuneBytes += n
        releaseBuffersInTimeWait()
        notifyReadiness()
        return n
    }

    /// Queues bytes for sending; returns how many were taken (0: buffer full, wait for
    /// `.writable`). Throws when the write side is shut or the connection failed.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(TCPError) -> Int {
        if let error { throw error }
        guard canWrite else { throw .notWritable }
        let n = sendBuffer.append(bytes)
        notifyReadiness()
        return n
    }

    /// Queues bytes written in place: `fill` gets the send buffer's free space as at most two
    /// runs (the second empty unless it wraps), fills them in order and returns how many bytes
    /// it wrote, which are then queued as `write(_:)` would have copied them in. A writer that
    /// reads them from a socket (the gateway) saves that copy. `fill` must not call back into
    /// the connection. Throws as `write(_:)` does.
    public func write(inPlace fill: (UnsafeMutableRawBufferPointer, UnsafeMutableRawBufferPointer) -> Int)
        throws(TCPError) -> Int
    {
        if let error { throw error }
        guard canWrite else { throw .notWritable }
        let (first, second) = sendBuffer.freeRuns()
        let n = min(max(fill(first, second), 0), first.count + second.count)
        sendBuffer.commit(n)
        notifyReadiness()
        return n
    }
}
