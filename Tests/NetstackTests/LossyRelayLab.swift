// A lossy path between two namespaces, in user space (this kernel has no netem): the "client"
// namespace and the "server" namespace each hold one end of a veth whose other end is in a relay
// namespace, where a thread bridges frames between the two relay ends through AF_PACKET
// sockets, dropping, duplicating and reordering them (IPv4 only: ARP always passes) from a fixed
// seed, in each direction. The same path carries a Linux-to-Linux transfer and one from the
// Swift stack, so their figures compare. Everything goes with the lab.

import Foundation
import Glibc
import Netstack
import NetstackTesting
import Synchronization
import Wire

struct RelayImpairment: Sendable, CustomStringConvertible {
    var loss = 0.0
    var duplicate = 0.0
    var reorder = 0.0

    var description: String {
        var parts: [String] = []
        if loss > 0 { parts.append("\(loss * 100)% loss") }
        if duplicate > 0 { parts.append("\(duplicate * 100)% duplicate") }
        if reorder > 0 { parts.append("\(reorder * 100)% reorder") }
        return parts.joined(separator: ", ")
    }
}

final class LossyRelayLab: @unchecked Sendable {
    let clientNamespace: String
    let serverNamespace: String
    let clientLink: String
    let serverAddress = IPv4Address(10, 0, 2, 100)
    let clientAddress = IPv4Address(10, 0, 2, 3)
    private let relayNamespace: String
    private let lab: NamespaceLab
    private let relay: FrameRelay

    /// `linuxClient`: the client namespace's link gets `clientAddress` (a Linux client); else it
    /// stays bare for the Swift stack's packet socket.
    init(impairment: RelayImpairment, seed: UInt64, linuxClient: Bool) throws {
        let lab = NamespaceLab()
        self.lab = lab
        clientNamespace = "nlc-\(lab.tag)"
        serverNamespace = "nls-\(lab.tag)"
        relayNamespace = "nlr-\(lab.tag)"
        clientLink = "nlc\(lab.shortTag)"
        let serverLink = "nls\(lab.shortTag)"
        let relayClientSide = "nrc\(lab.shortTag)"
        let relayServerSide = "nrs\(lab.shortTag)"
        for name in [clientNamespace, serverNamespace, relayNamespace] {
            try lab.addNamespace(name, sysctls: NamespaceLab.ipv6Off)
        }
        try lab.addVeth(clientLink, in: clientNamespace, peer: relayClientSide, in: relayNamespace, mtu: 1500)
        try lab.addVeth(serverLink, in: serverNamespace, peer: relayServerSide, in: relayNamespace, mtu: 1500)
        // No GSO super-frames: the relay forwards frames of at most the MTU.
        try lab.exec(in: serverNamespace, ["ip", "link", "set", serverLink, "gso_max_segs", "1"])
        try lab.exec(in: clientNamespace, ["ip", "link", "set", clientLink, "gso_max_segs", "1"])
        try lab.bringUp(serverLink, in: serverNamespace, addresses: ["\(serverAddress)/24"])
        try lab.bringUp(clientLink, in: clientNamespace, addresses: linuxClient ? ["\(clientAddress)/24"] : [])
        try lab.bringUp(relayClientSide, in: relayNamespace)
        try lab.bringUp(relayServerSide, in: relayNamespace)
        let left = KernelLab.packetSocket(namespace: relayNamespace, link: relayClientSide)
        let right = KernelLab.packetSocket(namespace: relayNamespace, link: relayServerSide)
        guard left >= 0, right >= 0 else { throw RelayError.socket }
        relay = FrameRelay(left: left, right: right, impairment: impairment, seed: seed)
        relay.start()
    }

    enum RelayError: Error { case socket }

    /// An AF_PACKET socket on the client's link, for the Swift stack.
    func clientPacketSocket() -> Int32 { KernelLab.packetSocket(namespace: clientNamespace, link: clientLink) }

    /// TCP segments the namespace's kernel retransmitted (its own /proc/net/snmp).
    func kernelRetransmissions(in namespace: String) throws -> Int {
        let snmp = try lab.exec(in: namespace, ["cat", "/proc/net/snmp"])
        let lines = snmp.split(separator: "\n").filter { $0.hasPrefix("Tcp:") }
        guard lines.count == 2 else { return -1 }
        let names = lines[0].split(separator: " ")
        let values = lines[1].split(separator: " ")
        guard let index = names.firstIndex(of: "RetransSegs"), index < values.count else { return -1 }
        return Int(values[index]) ?? -1
    }

    var framesDropped: Int { relay.dropped.load(ordering: .relaxed) }

    deinit { relay.stop() }
}

/// The relay's thread: poll both sockets, pass each frame to the other side, impaired.
private final class FrameRelay: @unchecked Sendable {
    let left: Int32
    let right: Int32
    let impairment: RelayImpairment
    private var generator: SeededGenerator
    private let stopping = Atomic<Bool>(false)
    let dropped = Atomic<Int>(0)
    private var thread = pthread_t()
    private var running = false
    /// A frame held back per direction (index 0: toward the right), sent after the next one.
    private var held: [[UInt8]?] = [nil, nil]

    init(left: Int32, right: Int32, impairment: RelayImpairment, seed: UInt64) {
        self.left = left
        self.right = right
        self.impairment = impairment
        generator = SeededGenerator(seed: seed)
        for fd in [left, right] {
            var one: Int32 = 1
            // Our own sends on a socket's link would come back to it.
            setsockopt(
                fd, Int32(SOL_PACKET), 23 /* PACKET_IGNORE_OUTGOING */, &one, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    func start() {
        running =
            pthread_create(
                &thread, nil,
                { argument in
                    guard let argument else { return nil }
                    Unmanaged<FrameRelay>.fromOpaque(argument).takeUnretainedValue().loop()
                    return nil
                }, Unmanaged.passUnretained(self).toOpaque()) == 0
    }

    func stop() {
        guard running else { return }
        stopping.store(true, ordering: .releasing)
        pthread_join(thread, nil)
        running = false
        close(left)
        close(right)
    }

    private func loop() {
        var fds = [
            pollfd(fd: left, events: Int16(POLLIN), revents: 0), pollfd(fd: right, events: Int16(POLLIN), revents: 0)
        ]
        var buffer = [UInt8](repeating: 0, count: 2048)
        while !stopping.load(ordering: .acquiring) {
            let ready = poll(&fds, 2, 1)
            if ready == 0 {
                // Idle: what was held back goes now (a reorder, not a loss).
                for direction in 0..<2 { release(direction) }
                continue
            }
            for direction in 0..<2 where fds[direction].revents & Int16(POLLIN) != 0 {
                let n = buffer.withUnsafeMutableBytes {
                    recv(fds[direction].fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT))
                }
                if n > 0 { forward(Array(buffer[0..<n]), direction: direction) }
            }
        }
    }

    private func output(_ direction: Int) -> Int32 { direction == 0 ? right : left }

    private func send(_ frame: [UInt8], direction: Int) {
        _ = frame.withUnsafeBytes { Glibc.send(output(direction), $0.baseAddress, $0.count, 0) }
    }

    private func release(_ direction: Int) {
        if let frame = held[direction] {
            held[direction] = nil
            send(frame, direction: direction)
        }
    }

    private func chance(_ p: Double) -> Bool { p > 0 && Double(generator.next() >> 11) / Double(1 << 53) < p }

    /// Completes the TCP checksum of an IPv4 frame. A Linux sender on a veth leaves it partial
    /// (checksum offload: the "device" finishes it); a packet socket reads it so, and the
    /// receiver of our copy would drop it.
    static func completeTCPChecksum(_ frame: inout [UInt8]) {
        guard frame.count >= 34, frame[12] == 0x08, frame[13] == 0x00, frame[23] == 6 else { return }
        let headerLength = Int(frame[14] & 0x0F) * 4
        let totalLength = Int(frame[16]) << 8 | Int(frame[17])
        let start = 14 + headerLength
        guard headerLength >= 20, totalLength > headerLength, 14 + totalLength <= frame.count,
            start + 20 <= frame.count
        else { return }
        let source = IPv4Address(frame[26], frame[27], frame[28], frame[29])
        let destination = IPv4Address(frame[30], frame[31], frame[32], frame[33])
        frame[start + 16] = 0
        frame[start + 17] = 0
        var sum = PseudoHeader.v4(source: source, destination: destination)
            .checksum(protocolNumber: .tcp, length: totalLength - headerLength)
        frame.withUnsafeBytes { sum.add(UnsafeRawBufferPointer(rebasing: $0[start..<14 + totalLength])) }
        frame[start + 16] = UInt8(sum.finalized >> 8)
        frame[start + 17] = UInt8(sum.finalized & 0xFF)
    }

    private func forward(_ received: [UInt8], direction: Int) {
        // ARP (EtherType 0x0806 at bytes 12-13) always passes: the path is lossy, not broken.
        guard received.count >= 14, !(received[12] == 0x08 && received[13] == 0x06) else {
            send(received, direction: direction)
            return
        }
        var frame = received
        Self.completeTCPChecksum(&frame)
        if chance(impairment.loss) {
            dropped.add(1, ordering: .relaxed)
            return
        }
        if held[direction] == nil, chance(impairment.reorder) {
            held[direction] = frame
            return
        }
        send(frame, direction: direction)
        if chance(impairment.duplicate) { send(frame, direction: direction) }
        release(direction)
    }
}
