// UDP flows: one connected host socket per app 5-tuple, and one stack endpoint bound to the
// address and port the app addressed (connected to the app's), so the app sees the real peer.
// App datagrams are gathered per flow and sent at the end of the round, several in one sendmsg
// (UDPSendBatch); host datagrams are read into the
// engine's one receive buffer and sent to the app from there. ICMP errors the host gets
// (IP_RECVERR) come back to the app as the same ICMP error from the address it addressed,
// quoting a header rebuilt from the flow (RFC 792: IP header + first 8 data bytes; the app's
// kernel matches on those addresses and ports). The TCP side uses the same quote builder.

import Glibc
import Netstack
import Posix
import Wire

final class UDPFlow: GatewayFlow, UDPEndpointDelegate {
    unowned let engine: GatewayEngine
    let key: FlowKey
    let host: HostUDPSocket
    var endpoint: UDPEndpoint?
    var registration: EventLoop.Registration?
    var record: ConnectionRecord
    /// The host's path refused a GSO send (its MTU is below the app's datagrams).
    var sendsOneByOne = false

    init(engine: GatewayEngine, key: FlowKey, host: HostUDPSocket, now: UInt64) {
        self.engine = engine
        self.key = key
        self.host = host
        record = engine.startRecord(key, transport: .udp, now: now)
    }

    func close() {
        engine.udpBatch.discard(self)
        if let registration { engine.loop.unregister(registration) }
        registration = nil
        endpoint?.close()
        endpoint = nil
        host.close()
    }

    // App -> host.
    func udpEndpoint(
        _ endpoint: UDPEndpoint, received payload: UnsafeRawBufferPointer, from source: IPAddress,
        port: UInt16, to destination: IPAddress, now: NetstackInstant
    ) {
        engine.flows.touch(key, now: now.nanoseconds)
        engine.udpBatch.add(payload, for: self)
    }

    /// Sends `count` datagrams to the host: one, or (`segmentSize`) several of that size in one
    /// GSO send, which the host's path may refuse; then they go one by one, now and later.
    func sendToHost(_ datagrams: UnsafeRawBufferPointer, datagrams count: Int, segmentSize: Int? = nil) {
        do throws(PosixError) {
            let result: IOResult
            if let segmentSize {
                result = try host.send(datagrams, segmentSize: segmentSize)
            } else {
                result = try host.send(datagrams)
            }
            switch result {
            case .done:
                record.bytesFromApp &+= UInt64(datagrams.count)
                engine.counters.udpDatagramsFromApp &+= UInt64(count)
            case .wouldBlock:
                // The host socket's buffer is full: UDP may drop, and we count it.
                engine.counters.udpHostSendDropped &+= UInt64(count)
            }
        } catch {
            if let size = segmentSize, error.errno == EINVAL || error.errno == EMSGSIZE {
                sendsOneByOne = true
                for start in stride(from: 0, to: datagrams.count, by: size) {
                    sendToHost(
                        UnsafeRawBufferPointer(rebasing: datagrams[start..<min(start + size, datagrams.count)]),
                        datagrams: 1)
                }
                return
            }
            // An ICMP error from an earlier datagram surfaces here (ECONNREFUSED...); the error
            // queue holds its details, reflected to the app.
            engine.counters.udpHostSendDropped &+= UInt64(count)
            reflectHostErrors()
        }
    }

    // Host -> app.
    func hostReady(_ readiness: EventLoop.Readiness) {
        if readiness.contains(.error) { reflectHostErrors() }
        guard readiness.contains(.readable), let endpoint else { return }
        let buffer = engine.receiveBuffer
        // A budget per wake-up, so one busy flow cannot starve the others (level-triggered
        // epoll reports the rest next round).
        for _ in 0..<64 {
            let result: IOResult
            do { result = try host.receive(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<65_535])) } catch {
                reflectHostErrors()
                return
            }
            guard case .done(let count) = result else { return }
            engine.flows.touch(key, now: engine.now.nanoseconds)
            do {
                try endpoint.send(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                record.bytesToApp &+= UInt64(count)
                engine.counters.udpDatagramsToApp &+= 1
            } catch {
                engine.counters.udpAppSendDropped &+= 1
            }
        }
    }

    /// Drains the host socket's error queue, answering the app with each ICMP error.
    private func reflectHostErrors() {
        while let error = host.readError() {
            if error.isV6, case .v6 = key.source {
                let repr: ICMPv6Repr
                switch error.type {
                case ICMPv6Type.destinationUnreachable:
                    repr = .destinationUnreachable(code: ICMPv6UnreachableCode(rawValue: error.code))
                case ICMPv6Type.timeExceeded: repr = .timeExceeded(code: error.code)
                default: continue
                }
                reflect(engine.stack.sendICMPv6Error(repr, about: key, word: Self.quotedUDPWord))
                continue
            }
            guard !error.isV6, case .v4 = key.source else { continue }
            let repr: ICMPv4Repr
            switch error.type {
            case ICMPv4Type.destinationUnreachable:
                repr = .destinationUnreachable(code: ICMPv4UnreachableCode(rawValue: error.code), nextHopMTU: 0)
            case ICMPv4Type.timeExceeded:
                repr = .timeExceeded(code: error.code)
            default:
                continue
            }
            reflect(engine.stack.sendICMPv4Error(repr, about: key, word: Self.quotedUDPWord))
        }
    }

    /// The quote's UDP length and checksum: a header-only datagram, checksum 0 (the app's
    /// stack matches errors on the ports).
    private static let quotedUDPWord = UInt32(UDPRepr.headerLength) << 16

    private func reflect(_ sent: Bool) {
        if sent { engine.counters.hostErrorsReflected &+= 1 } else { engine.counters.udpAppSendDropped &+= 1 }
    }
}

extension GatewayEngine {
    /// Opens the host socket and the stack endpoint for a new UDP flow.
    func openUDPFlow(_ key: FlowKey, host destination: SocketAddress, now: UInt64) -> FlowVerdict {
        let host: HostUDPSocket
        do {
            host = try HostUDPSocket(connectingTo: destination)
        } catch {
            // connect() on UDP fails only for local reasons (no route, no such address family).
            counters.flowsFailed &+= 1
            let failure = ConnectFailure(errno: error.errno)
            logRefusal(key, transport: .udp, verdict: .allow, reason: "host socket: \(error)")
            return verdict(for: failure.appReply)
        }
        let flow = UDPFlow(engine: self, key: key, host: host, now: now)
        guard insert(flow, key: key, now: now) else {
            host.close()
            logRefusal(key, transport: .udp, verdict: .deny, reason: "flow-limit")
            return .drop
        }
        do {
            flow.endpoint = try stack.udp.open(
                localAddress: key.destination, localPort: key.destinationPort,
                remoteAddress: key.source, remotePort: key.sourcePort, delegate: flow)
            flow.registration = try loop.register(fd: host.fd, interest: .read) { [unowned flow] readiness in
                flow.hostReady(readiness)
            }
        } catch {
            finish(key)
            counters.flowsFailed &+= 1
            return .drop
        }
        counters.flowsAllowed &+= 1
        return .accept
    }
}

/// A published UDP port's flow (`-p HOSTPORT:PORT/udp`): datagrams from one host client go to
/// the app's PORT from a stack endpoint that stands for the client (its real address, or the
/// gateway's for a loopback client; its port, or one the gateway chose), and the app's answers
/// go back out of the published socket.
final class InboundUDPFlow: GatewayFlow, UDPEndpointDelegate {
    unowned let engine: GatewayEngine
    unowned let publisher: PortPublisher
    let key: FlowKey
    let client: InboundClient
    var endpoint: UDPEndpoint?
    var record: ConnectionRecord

    init(engine: GatewayEngine, publisher: PortPublisher, key: FlowKey, client: InboundClient, record: ConnectionRecord)
    {
        self.engine = engine
        self.publisher = publisher
        self.key = key
        self.client = client
        self.record = record
    }

    func close() {
        endpoint?.close()
        endpoint = nil
        engine.inboundUDPFlows[client] = nil
    }

    /// Host client -> app.
    func forward(_ payload: UnsafeRawBufferPointer) {
        guard let endpoint else { return }
        engine.flows.touch(key, now: engine.now.nanoseconds)
        do {
            try endpoint.send(payload)
            record.bytesToApp &+= UInt64(payload.count)
            engine.counters.udpDatagramsToApp &+= 1
        } catch {
            engine.counters.udpAppSendDropped &+= 1
        }
    }

    /// App -> host client.
    func udpEndpoint(
        _ endpoint: UDPEndpoint, received payload: UnsafeRawBufferPointer, from source: IPAddress,
        port: UInt16, to destination: IPAddress, now: NetstackInstant
    ) {
        engine.flows.touch(key, now: now.nanoseconds)
        if (try? publisher.send(payload, to: client.address)) == .done(payload.count) {
            record.bytesFromApp &+= UInt64(payload.count)
            engine.counters.udpDatagramsFromApp &+= 1
        } else {
            engine.counters.udpHostSendDropped &+= 1
        }
    }
}

extension GatewayEngine {
    /// A datagram on a published UDP port: to the app, through its client's flow.
    func inboundDatagram(_ payload: UnsafeRawBufferPointer, from client: SocketAddress, publisher: PortPublisher) {
        let inboundClient = InboundClient(publisher: ObjectIdentifier(publisher), address: client)
        if let flow = inboundUDPFlows[inboundClient] {
            flow.forward(payload)
            return
        }
        let source = network.inboundSource(for: client.address)
        let app = publisher.member?.address ?? network.appV4
        let appPort = publisher.port.appPort
        func key(_ sourcePort: UInt16) -> FlowKey {
            .inbound(.udp, app: app, appPort: appPort, source: source, sourcePort: sourcePort)
        }
        guard let sourcePort = inboundSourcePort(preferring: client.port, isFree: { flows[key($0)] == nil }) else {
            counters.inboundRefused &+= 1
            return
        }
        let now = self.now.nanoseconds
        let record = startInboundRecord(key(sourcePort), transport: .udp, client: client, port: publisher.port)
        let flow = InboundUDPFlow(
            engine: self, publisher: publisher, key: key(sourcePort), client: inboundClient, record: record)
        guard insert(flow, key: flow.key, now: now) else {
            counters.inboundRefused &+= 1
            return
        }
        inboundUDPFlows[inboundClient] = flow
        do {
            flow.endpoint = try stack.udp.open(
                localAddress: .v4(source), localPort: sourcePort, remoteAddress: .v4(app),
                remotePort: appPort, delegate: flow)
        } catch {
            finish(flow.key)
            counters.inboundRefused &+= 1
            return
        }
        counters.inboundConnections &+= 1
        flow.forward(payload)
    }
}
