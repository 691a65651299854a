// The engine's published ports (`-p`): the sockets opened beforehand (or here) served on the
// loop, each connection or datagram carried to the app's port; ports published while the
// gateway runs (an OCI container's listeners, a named network's members), and withdrawn with
// the member they lead to.

import Netstack
import Posix

extension GatewayEngine {
    /// Listens on every published port (`-p`), from the sockets opened beforehand when given.
    func publish(_ ports: [PublishedPort], resources: GatewayResources?, tcp: GatewayTCP) throws(GatewayError) {
        for (index, configured) in ports.enumerated() {
            let socket: Int32
            var port = configured
            if let resources {
                // Bound by the launcher, which put the kernel's pick of a port in `ports`.
                socket = resources.publishedPortFDs[index]
            } else {
                do { socket = try PortPublisher.openSocket(for: configured) } catch {
                    throw .publish(configured, error)
                }
                port = configured.bound(to: socket)
            }
            do throws(EventLoopError) { try listen(on: port, socket: socket, tcp: tcp) } catch {
                throw .eventLoop(error)
            }
        }
    }

    /// Publishes one more port while the gateway runs (`socket` bound and listening, owned
    /// from here): the ports an OCI container's app listens on, found after it started.
    /// `member`: on a named network, the member the port leads to (withdrawn when it leaves).
    func publishLater(_ port: PublishedPort, socket: Int32, member: NetworkMemberSpec? = nil) -> Bool {
        guard let tcp, !isShutDown else {
            Posix.close(socket)
            return false
        }
        do { try listen(on: port, socket: socket, tcp: tcp, member: member) } catch {
            Posix.close(socket)
            return false
        }
        counters.portsPublishedLater &+= 1
        return true
    }

    /// Serves one published port's socket on the loop.
    func listen(on port: PublishedPort, socket: Int32, tcp: GatewayTCP, member: NetworkMemberSpec? = nil)
        throws(EventLoopError)
    {
        let app = member?.ipv4 ?? network.appV4
        switch port.transport {
        case .tcp:
            publishers.append(
                try PortPublisher(tcp: port, socket: socket, loop: loop) { [unowned tcp] socket, client, port in
                    tcp.inbound(socket, from: client, to: port, app: app)
                })
        case .udp:
            // The handler needs the publisher it belongs to (answers leave from its socket).
            let slot = PublisherSlot()
            let publisher = try PortPublisher(udp: port, socket: socket, loop: loop) {
                [unowned self] payload, client, _ in
                guard let publisher = slot.publisher else { return }
                self.inboundDatagram(payload, from: client, publisher: publisher)
            }
            slot.publisher = publisher
            publishers.append(publisher)
        }
        publishers.last?.member = member.map { ($0.id, $0.ipv4) }
    }

    /// The log record of an inward flow (`key`, from the app's side) starting now: from the host
    /// client, as itself (never IPv4-mapped), to the app's port, for published port `port`.
    func startInboundRecord(
        _ key: FlowKey, transport: FlowTransport, client: SocketAddress, port: PublishedPort
    ) -> ConnectionRecord {
        var record = startRecord(key, transport: transport, now: now.nanoseconds)
        record.source = client.unmappingIPv4
        record.destination = SocketAddress(key.source, port: key.sourcePort)
        record.reason = "published \(port)"
        return record
    }

    /// Closes the published ports that lead to member `id` (it left the network).
    func withdrawPorts(of id: UInt32) {
        for publisher in publishers where publisher.member?.id == id { publisher.close() }
        publishers.removeAll { $0.member?.id == id }
    }
}

/// Lets a published UDP port's handler reach its own publisher (set right after creation).
final class PublisherSlot {
    weak var publisher: PortPublisher?
}
