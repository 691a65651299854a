// ICMP echo to the outside: one unprivileged ping socket per (app, identifier, destination),
// so the app's ping measures the real path. The kernel picks the socket's own identifier;
// replies are re-labelled with the app's. Where net.ipv4.ping_group_range forbids ping
// sockets, the opener counts it and the echo goes unanswered: a gateway that fabricated
// replies would tell the app a dead host is alive. (Echo to the gateway's own addresses is
// answered by the stack and never comes here.)

import Netstack
import Wire

final class EchoFlow: GatewayFlow {
    unowned let engine: GatewayEngine
    let key: FlowKey
    let socket: HostPingSocket
    var registration: EventLoop.Registration?
    var record: ConnectionRecord

    init(engine: GatewayEngine, key: FlowKey, socket: HostPingSocket, now: UInt64) {
        self.engine = engine
        self.key = key
        self.socket = socket
        record = engine.startRecord(key, transport: .icmp, now: now)
    }

    func close() {
        if let registration { engine.loop.unregister(registration) }
        registration = nil
        socket.close()
    }

    func hostReady() {
        let buffer = engine.receiveBuffer
        for _ in 0..<64 {
            let received: HostPingSocket.Received
            do { received = try socket.receiveReply(into: buffer) } catch { return }
            switch received {
            case .wouldBlock:
                return
            case .ignored:
                continue
            case .reply(let reply):
                engine.flows.touch(key, now: engine.now.nanoseconds)
                let data = UnsafeRawBufferPointer(rebasing: buffer[8..<(8 + reply.dataLength)])
                do {
                    switch (key.destination, key.source) {
                    case (.v4(let peer), .v4(let app)):
                        try engine.stack.sendEchoReply(
                            from: peer, to: app, identifier: key.sourcePort, sequence: reply.sequence,
                            data: data)
                    case (.v6(let peer), .v6(let app)):
                        try engine.stack.sendEchoReply(
                            from: peer, to: app, identifier: key.sourcePort, sequence: reply.sequence,
                            data: data)
                    default:
                        continue
                    }
                    record.bytesToApp &+= UInt64(8 + reply.dataLength)
                    engine.counters.echoRepliesToApp &+= 1
                } catch {
                    engine.counters.echoRepliesDropped &+= 1
                }
            }
        }
    }
}

extension GatewayEngine {
    func openEchoFlow(_ key: FlowKey, host destination: SocketAddress, now: UInt64) -> FlowVerdict {
        guard let socket = pingOpener.open(destination: destination.address) else {
            // Forbidden by ping_group_range (or failed): counted by the opener; no reply at all.
            logRefusal(key, transport: .icmp, verdict: .allow, reason: "ping-socket-unavailable")
            return .drop
        }
        let flow = EchoFlow(engine: self, key: key, socket: socket, now: now)
        guard insert(flow, key: key, now: now) else {
            socket.close()
            logRefusal(key, transport: .icmp, verdict: .deny, reason: "flow-limit")
            return .drop
        }
        do {
            flow.registration = try loop.register(fd: socket.fd, interest: .read) { [unowned flow] _ in flow.hostReady()
            }
        } catch {
            finish(key)
            counters.flowsFailed &+= 1
            return .drop
        }
        counters.flowsAllowed &+= 1
        return .accept
    }

    /// Sends an accepted echo request on through the flow's ping socket. Returns true (the
    /// stack must not answer) whenever the flow exists, sent or not.
    func forwardEcho(_ key: FlowKey, sequence: UInt16, data: UnsafeRawBufferPointer) -> Bool {
        guard let flow = flows[key] as? EchoFlow else { return true }
        flows.touch(key, now: now.nanoseconds)
        let scratch = UnsafeMutableRawBufferPointer(
            rebasing: receiveBuffer[0..<min(receiveBuffer.count, 8 + data.count)])
        if (try? flow.socket.sendEcho(sequence: sequence, data: data, scratch: scratch)) == .done(8 + data.count) {
            flow.record.bytesFromApp &+= UInt64(8 + data.count)
            counters.echoRequestsForwarded &+= 1
        } else {
            counters.echoRequestsDropped &+= 1
        }
        return true
    }
}
