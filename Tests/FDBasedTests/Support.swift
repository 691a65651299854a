// Test kit: a dispatcher that records deliveries, socketpairs, and frame builders.

import FDBased
import Glibc
import Link
import Synchronization
import Wire

/// One delivered packet, copied out of the borrowed buffers.
struct Delivered: Equatable {
    var protocolNumber: EtherType
    var linkHeader: [UInt8]
    var network: [UInt8]
    var gso: GSOInfo?
    var checksumVerified: Bool
}

/// Records every delivery and batch end; safe to read from the test thread while a dispatcher
/// thread delivers.
final class RecordingDispatcher: NetworkDispatcher, Sendable {
    private struct State {
        var packets: [Delivered] = []
        var batchEnds = 0
        var count = 0
    }
    private let state = Mutex(State())
    /// Keep only the count (the stress test would otherwise store millions of frames).
    let countOnly: Bool

    init(countOnly: Bool = false) { self.countOnly = countOnly }

    func deliverNetworkPacket(_ protocolNumber: EtherType, _ packet: InboundPacket) {
        if countOnly {
            state.withLock { $0.count += 1 }
            return
        }
        let copy = Delivered(
            protocolNumber: protocolNumber, linkHeader: Array(packet.linkHeader),
            network: Array(packet.network), gso: packet.gso, checksumVerified: packet.checksumVerified)
        state.withLock {
            $0.packets.append(copy)
            $0.count += 1
        }
    }

    func deliveryBatchEnded() { state.withLock { $0.batchEnds += 1 } }

    var packets: [Delivered] { state.withLock { $0.packets } }
    var count: Int { state.withLock { $0.count } }
    var batchEnds: Int { state.withLock { $0.batchEnds } }

    /// Waits (sleeping, bounded by `seconds` so a broken endpoint fails instead of hanging)
    /// until `predicate` holds for the recorded count.
    @discardableResult
    func wait(seconds: Double = 20, until predicate: (Int) -> Bool) -> Bool {
        var waited = 0.0
        while !predicate(count) {
            if waited > seconds { return false }
            usleep(2_000)
            waited += 0.002
        }
        return true
    }
}

/// A pair of connected AF_UNIX sockets, closed on deinit.
final class SocketPair {
    let endpointSide: Int32
    let peer: Int32

    init(type: Int32) {
        var fds: [Int32] = [-1, -1]
        let result = socketpair(AF_UNIX, type, 0, &fds)
        precondition(result == 0, "socketpair failed: \(errno)")
        endpointSide = fds[0]
        peer = fds[1]
        // Room for the batch tests' bursts.
        var size: Int32 = 4 << 20
        setsockopt(peer, SOL_SOCKET, SO_SNDBUF, &size, 4)
        setsockopt(endpointSide, SOL_SOCKET, SO_RCVBUF, &size, 4)
    }

    static var seqpacket: SocketPair { SocketPair(type: Int32(SOCK_SEQPACKET.rawValue)) }
    static var datagram: SocketPair { SocketPair(type: Int32(SOCK_DGRAM.rawValue)) }

    private let peerOpen = Mutex(true)

    /// Closes the peer now (once; deinit then leaves it alone, so no fd number is closed twice).
    func closePeer() {
        if peerOpen.withLock({ open in
            defer { open = false }
            return open
        }) {
            Glibc.close(peer)
        }
    }

    deinit {
        Glibc.close(endpointSide)
        closePeer()
    }

    /// Sends one message from the peer side.
    func send(_ bytes: [UInt8]) {
        let n = bytes.withUnsafeBytes { Glibc.send(peer, $0.baseAddress, $0.count, 0) }
        precondition(n == bytes.count, "send failed: \(errno)")
    }

    /// Reads one message on the peer side without blocking; nil when none is waiting.
    func receive() -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 70_000)
        let n = buffer.withUnsafeMutableBytes { recv(peer, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        return n < 0 ? nil : Array(buffer[0..<n])
    }
}

enum Frames {
    static let endpointMAC = MACAddress(0x02, 0, 0, 0, 0, 0x01)
    static let peerMAC = MACAddress(0x02, 0, 0, 0, 0, 0x02)

    static func mac(_ address: MACAddress) -> [UInt8] { (0..<6).map(address.octet) }

    static func ethernet(
        to destination: MACAddress = endpointMAC, from source: MACAddress = peerMAC,
        type: UInt16, payload: [UInt8]
    ) -> [UInt8] {
        mac(destination) + mac(source) + [UInt8(type >> 8), UInt8(type & 0xFF)] + payload
    }

    /// RFC 1071 sum over `bytes` (even length).
    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var sum: UInt32 = 0
        var i = bytes.startIndex
        while i + 1 < bytes.endIndex {
            sum += UInt32(bytes[i]) << 8 | UInt32(bytes[i + 1])
            i += 2
        }
        if i < bytes.endIndex { sum += UInt32(bytes[i]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }

    /// An IPv4/UDP packet (UDP checksum 0: "not computed", RFC 768).
    static func udpIPv4(
        source: IPv4Address, destination: IPv4Address, sourcePort: UInt16, destinationPort: UInt16,
        payload: [UInt8]
    ) -> [UInt8] {
        let udpLength = 8 + payload.count
        let total = 20 + udpLength
        var ip: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 1, 0x40, 0, 64, 17, 0, 0]
        for a in [source, destination] {
            ip += [
                UInt8(a.rawValue >> 24), UInt8(a.rawValue >> 16 & 0xFF), UInt8(a.rawValue >> 8 & 0xFF),
                UInt8(a.rawValue & 0xFF)
            ]
        }
        let sum = checksum(ip[...])
        ip[10] = UInt8(sum >> 8)
        ip[11] = UInt8(sum & 0xFF)
        let udp: [UInt8] = [
            UInt8(sourcePort >> 8), UInt8(sourcePort & 0xFF), UInt8(destinationPort >> 8),
            UInt8(destinationPort & 0xFF), UInt8(udpLength >> 8), UInt8(udpLength & 0xFF), 0, 0
        ]
        return ip + udp + payload
    }
}

extension FDBasedEndpoint {
    /// Writes one packet built from byte arrays.
    func write(
        _ network: [UInt8], to destination: MACAddress = Frames.peerMAC, type: EtherType = .ipv4,
        gso: GSOInfo? = nil
    ) throws(LinkError) {
        var failure: LinkError?
        network.withUnsafeBytes { bytes in
            do throws(LinkError) {
                try writePacket(
                    OutboundPacket(protocolNumber: type, remoteLinkAddress: destination, header: bytes, gso: gso))
            } catch { failure = error }
        }
        if let failure { throw failure }
    }
}

/// GNU calls the Glibc module does not export, looked up at run time.
enum LibC {
    nonisolated(unsafe) private static let handle = dlopen(nil, RTLD_NOW)

    /// pipe2's O_DIRECT (x86-64 and arm64 value): a "packet mode" pipe, one write per read.
    static let packetModePipe: Int32 = 0o40000
    /// <sched.h> CLONE_NEWNET and <linux/if_ether.h> ETH_P_ALL (GNU/Linux headers Swift does not import).
    static let cloneNewNet: Int32 = 0x4000_0000
    static let ethernetAllProtocols: UInt16 = 0x0003

    static func pipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32 {
        typealias Function = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
        guard let symbol = dlsym(handle, "pipe2") else { return -1 }
        return unsafeBitCast(symbol, to: Function.self)(fds, flags)
    }

    static func setns(_ fd: Int32, _ type: Int32) -> Int32 {
        typealias Function = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(handle, "setns") else { return -1 }
        return unsafeBitCast(symbol, to: Function.self)(fd, type)
    }
}
