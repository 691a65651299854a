// The DNS address (10.0.2.3:53 by default): a stack UDP endpoint bound there hands each query
// to the DNSForwarder, whose answer goes back from the same address and port. Every answer
// first feeds the LearnedAddressTable, so `--allow-domain NAME` admits the addresses the app
// just resolved for NAME (and only while their TTL lasts).

import Netstack
import Wire

final class GatewayDNS: UDPEndpointDelegate {
    unowned let engine: GatewayEngine
    let forwarder: DNSForwarder
    private var endpoint: UDPEndpoint?

    init(engine: GatewayEngine, upstreams: [SocketAddress]) throws(EventLoopError) {
        self.engine = engine
        forwarder = try DNSForwarder(loop: engine.loop, configuration: DNSForwarder.Configuration(upstreams: upstreams))
        let domains = engine.policy.allowedDomains
        if !domains.isEmpty {
            forwarder.onAnswer = { [unowned engine] answer in
                engine.learned.learn(from: answer, allowedDomains: domains, now: EventLoop.now())
            }
        }
        do {
            endpoint = try engine.stack.udp.open(localAddress: .v4(engine.network.dnsV4), localPort: 53, delegate: self)
        } catch {
            forwarder.close()
            throw .tooManyRegistrations
        }
    }

    func close() {
        endpoint?.close()
        endpoint = nil
        forwarder.close()
    }

    func udpEndpoint(_ endpoint: UDPEndpoint, received payload: UnsafeRawBufferPointer, from source: IPAddress,
                     port: UInt16, to destination: IPAddress, now: NetstackInstant) {
        forwarder.forward(query: payload) { [weak endpoint, unowned engine] answer in
            guard let endpoint, !endpoint.isClosed else { return }
            if (try? endpoint.send(answer, to: source, port: port)) == nil { engine.counters.dnsAnswersDropped &+= 1 }
        }
    }
}
