// The gateway's TCP output: the TCP core's segments through the stack (IP header, route,
// link), and super-segments for the link to cut (GSO) when TCPConfig.segmentationOffloadSize
// lets the core send them.

import Link
import Netstack
import Wire

/// Sends the TCP core's segments through the stack (IPv4 header, route, link).
struct StackTCPOutput: TCPSegmentOutput {
    unowned let stack: Stack
    var failures = 0

    mutating func send(_ segment: TCPRepr, payload: UnsafeRawBufferPointer, flow: TCPFlowID) {
        emit(segment, payload: payload, flow: flow, segmentSize: nil)
    }

    /// A super-segment (TCPConfig.segmentationOffloadSize) for the link to cut into segments of
    /// `segmentSize` payload bytes (GSO over virtio_net_hdr); the kernel completes each
    /// segment's checksum, so it is left partial here.
    mutating func send(_ segment: TCPRepr, payload: UnsafeRawBufferPointer, flow: TCPFlowID, segmentSize: Int) {
        emit(segment, payload: payload, flow: flow, segmentSize: payload.count > segmentSize ? segmentSize : nil)
    }

    /// One path for both: with `segmentSize` the link cuts the payload (GSO) and the checksum
    /// stays partial; DF on IPv4 either way, as TCPTransport's own output sets it (PMTUD).
    private mutating func emit(_ segment: TCPRepr, payload: UnsafeRawBufferPointer, flow: TCPFlowID, segmentSize: Int?) {
        func offload(_ kind: GSOInfo.Kind, ipHeaderLength: Int) -> GSOInfo? {
            // The TCP checksum field sits 16 bytes into the TCP header (RFC 9293 3.1).
            segmentSize.map { size in
                GSOInfo(kind: kind, headerLength: UInt16(ipHeaderLength + segment.headerLength),
                        segmentSize: UInt16(clamping: size), checksumStart: UInt16(ipHeaderLength),
                        checksumOffset: 16, needsChecksum: true)
            }
        }
        let checksum: ChecksumMode = segmentSize == nil ? .compute : .partial
        do {
            switch (flow.local.address, flow.remote.address) {
            case (.v4(let source), .v4(let destination)):
                let request = IPv4SendRequest(source: source, destination: destination, protocolNumber: .tcp, dontFragment: true)
                try stack.sendIPv4(request, transportHeaderLength: segment.headerLength, payload: payload,
                                   gso: offload(.tcpv4, ipHeaderLength: IPv4Repr.headerLength)) { header in
                    segment.emit(into: header, payload: payload, pseudoHeader: .v4(source: source, destination: destination),
                                 checksum: checksum)
                }
            case (.v6(let source), .v6(let destination)):
                let request = IPv6SendRequest(source: source, destination: destination, protocolNumber: .tcp)
                try stack.sendIPv6(request, transportHeaderLength: segment.headerLength, payload: payload,
                                   gso: offload(.tcpv6, ipHeaderLength: IPv6Repr.headerLength)) { header in
                    segment.emit(into: header, payload: payload, pseudoHeader: .v6(source: source, destination: destination),
                                 checksum: checksum)
                }
            default:
                failures += 1
            }
        } catch {
            failures += 1
        }
    }
}
