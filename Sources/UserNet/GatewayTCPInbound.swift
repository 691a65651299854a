// Published TCP ports run the forwarded flow the other way round: a host listener
// (PortPublisher) accepts, and the stack connects to the app's port; a refusal from the app
// resets the host client.

import Netstack
import Wire

extension GatewayTCP {
    /// A connection accepted on a published port (`-p HOSTPORT:PORT`): the stack opens a
    /// connection to PORT of the app at `appAddress` (a named network's member, or the one app),
    /// from the client's address or the gateway's (`NetworkConfiguration.inboundSource`).
    func inbound(
        _ socket: HostTCPSocket, from client: SocketAddress, to port: PublishedPort, app appAddress: IPv4Address
    ) {
        let source = engine.network.inboundSource(for: client.address)
        func key(_ sourcePort: UInt16) -> FlowKey {
            .inbound(.tcp, app: appAddress, appPort: port.appPort, source: source, sourcePort: sourcePort)
        }
        func flowID(_ sourcePort: UInt16) -> TCPFlowID {
            TCPFlowID(
                local: TCPSocketAddress(.v4(source), sourcePort),
                remote: TCPSocketAddress(.v4(appAddress), port.appPort))
        }
        // A closing connection of an earlier flow still holds its four-tuple in the demux.
        guard
            let sourcePort = engine.inboundSourcePort(
                preferring: client.port,
                isFree: { transport.demux.connections[flowID($0)] == nil && engine.flows[key($0)] == nil }),
            let connection = connect(flowID(sourcePort))
        else {
            engine.counters.inboundRefused &+= 1
            socket.abort()
            return
        }
        let record = engine.startInboundRecord(key(sourcePort), transport: .tcp, client: client, port: port)
        let flow = TCPFlow(
            engine: engine, tcp: self, key: key(sourcePort), host: socket, connection: connection, record: record)
        guard open(flow, parked: nil) else { return }
        engine.counters.inboundConnections &+= 1
        connection.onReadiness = { [unowned flow] _, _ in flow.markDirty() }
    }

    /// Opens the stack's connection to the app (its SYN goes out now), with an RFC 6528 ISN
    /// from the listener's keyed hash: a later incarnation of the four-tuple starts above the
    /// old one's sequence space, which a random ISN would not promise.
    private func connect(_ flow: TCPFlowID) -> TCPConnection? {
        var output = self.output
        guard
            let connection = try? TCPConnection.connect(
                flow: flow, config: config, iss: listener.initialSequenceNumber(for: flow, now: now),
                now: now, budget: budget, output: &output)
        else { return nil }
        transport.demux.register(connection)
        return connection
    }
}
