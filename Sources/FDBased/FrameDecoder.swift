// Turns one received frame (virtio_net_hdr, link header, network packet) into a delivery, or a
// counted drop. Shared by every dispatch mode; it never fails the loop.

import Link
import Wire

struct FrameDecoder {
    let virtioHeaderLength: Int
    let ethernetHeader: Bool
    let address: MACAddress
    let rxChecksumOffload: Bool

    /// Delivers `frame` (starting at the virtio_net_hdr when there is one) to `dispatcher`.
    /// `kernelChecksumTrusted` carries the ring's TP_STATUS_CSUM_VALID / CSUMNOTREADY.
    @inline(__always)
    func deliver(
        _ frame: UnsafeRawBufferPointer, kernelChecksumTrusted: Bool,
        to dispatcher: any NetworkDispatcher, tally: inout ReceiveTally
    ) {
        guard frame.count > virtioHeaderLength else {
            tally.droppedShort &+= 1
            return
        }
        let body = UnsafeRawBufferPointer(rebasing: frame[virtioHeaderLength...])
        let protocolNumber: EtherType
        let linkHeaderLength: Int
        if ethernetHeader {
            // Wire's view skips one 802.1Q tag; a frame with no byte past its header is short.
            guard let ethernet = try? EthernetFrame(body), body.count > ethernet.headerLength else {
                tally.droppedShort &+= 1
                return
            }
            let destination = ethernet.destination
            if address != .zero && destination != address && destination.isUnicast {
                tally.droppedOtherAddress &+= 1
                return
            }
            protocolNumber = ethernet.etherType
            linkHeaderLength = ethernet.headerLength
        } else {
            switch body.first.map({ $0 >> 4 }) {
            case 4: protocolNumber = .ipv4
            case 6: protocolNumber = .ipv6
            default:
                tally.droppedUnknownProtocol &+= 1
                return
            }
            linkHeaderLength = 0
        }
        var gso: GSOInfo? = nil
        var trusted = rxChecksumOffload || kernelChecksumTrusted
        if virtioHeaderLength > 0 {
            do {
                let decoded = try VirtioNetHeader.decode(
                    frame, linkHeaderLength: linkHeaderLength, frameLength: body.count)
                gso = decoded.gso
                trusted = trusted || decoded.checksumTrusted
            } catch {
                tally.droppedBadVirtioHeader &+= 1
                return
            }
        }
        tally.received &+= 1
        tally.receivedBytes &+= UInt64(body.count)
        dispatcher.deliverNetworkPacket(
            protocolNumber,
            InboundPacket(
                linkHeader: UnsafeRawBufferPointer(rebasing: body[..<linkHeaderLength]),
                network: UnsafeRawBufferPointer(rebasing: body[linkHeaderLength...]),
                gso: gso, checksumVerified: trusted))
    }
}
