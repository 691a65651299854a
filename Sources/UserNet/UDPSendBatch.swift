// App datagrams on their way to the host, gathered for one flow while a round drains the ring
// and sent at its end (or when the next datagram cannot join) in one sendmsg with UDP_SEGMENT
// (UDP GSO): one syscall and one trip through the host's stack for up to 64 datagrams of one
// size (the last may be shorter), where a send per datagram cost a syscall each. A flow whose
// path cannot take its datagrams unfragmented (EINVAL) sends them one by one from then on.
// The datagrams are copied out of the ring into the batch's one buffer (ring frames are the
// kernel's again once delivered); the copy is what the syscalls saved pay for.

import Posix

final class UDPSendBatch {
    /// The most a GSO send carries: UDP_MAX_SEGMENTS is 64 on older kernels, and the whole
    /// must fit one IP packet of the host's stack (65,535 less headers).
    static let maximumSegments = 64
    static let maximumBytes = 65_000

    private let buffer: UnsafeMutableRawBufferPointer
    private var flow: UDPFlow?
    private var segmentSize = 0
    private var length = 0
    private var count = 0
    /// Sends that carried more than one datagram (GatewayCounters.udpBatchedSends).
    private(set) var batchedSends: UInt64 = 0

    init() { buffer = .allocate(byteCount: Self.maximumBytes, alignment: 16) }
    deinit { buffer.deallocate() }

    /// Takes `payload` for `flow`'s host socket, or sends it at once when it cannot be batched.
    func add(_ payload: UnsafeRawBufferPointer, for flow: UDPFlow) {
        if self.flow !== flow || payload.count > segmentSize || length + payload.count > Self.maximumBytes
            || count == Self.maximumSegments
        {
            flush()
        }
        guard !flow.sendsOneByOne, payload.count > 0, payload.count <= Self.maximumBytes else {
            return flow.sendToHost(payload, datagrams: 1)
        }
        if count == 0 {
            self.flow = flow
            segmentSize = payload.count
        }
        UnsafeMutableRawBufferPointer(rebasing: buffer[length...]).copyMemory(from: payload)
        length += payload.count
        count += 1
        // A shorter datagram can only be the last of a GSO send.
        if payload.count < segmentSize { flush() }
    }

    /// Sends what is gathered.
    func flush() {
        guard let flow, count > 0 else { return }
        let datagrams = UnsafeRawBufferPointer(rebasing: buffer[0..<length])
        let (sent, size) = (count, segmentSize)
        self.flow = nil
        length = 0
        count = 0
        guard sent > 1 else { return flow.sendToHost(datagrams, datagrams: 1) }
        batchedSends &+= 1
        flow.sendToHost(datagrams, datagrams: sent, segmentSize: size)
    }

    /// Forgets what `flow` had gathered (it is closing).
    func discard(_ flow: UDPFlow) {
        guard self.flow === flow else { return }
        self.flow = nil
        length = 0
        count = 0
    }
}
