// The DNS address (10.0.2.3:53 and fd00::3 by default): a stack UDP endpoint bound there, and
// DNSStreamFlow for TCP, hand each query to `resolve`: DNSQueryPolicy decides whether it is
// answered here (the sandbox's own names), refused here (a name a restrictive policy does not
// let out) or forwarded (DNSForwarder). A forwarded answer first feeds the LearnedAddressTable,
// so `--allow-domain NAME` admits the addresses the app just resolved for NAME (while their
// TTL lasts); every query is a line of the connection log.

import CNetShims
import Netstack
import Wire

final class GatewayDNS: UDPEndpointDelegate {
    struct Counters: Sendable, Equatable {
        var refused: UInt64 = 0
        var answeredLocally: UInt64 = 0
    }

    unowned let engine: GatewayEngine
    let forwarder: DNSForwarder
    private(set) var queryPolicy: DNSQueryPolicy
    private(set) var counters = Counters()
    /// The forwarder's endpoints on the DNS address, IPv4 and IPv6.
    private var endpoints: [UDPEndpoint] = []

    init(engine: GatewayEngine, upstreams: [SocketAddress]) throws(EventLoopError) {
        self.engine = engine
        forwarder = try DNSForwarder(loop: engine.loop, configuration: DNSForwarder.Configuration(upstreams: upstreams))
        queryPolicy = DNSQueryPolicy(policy: engine.policy, names: LocalNames(network: engine.network))
        do {
            for address in [IPAddress.v4(engine.network.dnsV4), .v6(engine.network.dnsV6)] {
                endpoints.append(try engine.stack.udp.open(localAddress: address, localPort: 53, delegate: self))
            }
        } catch {
            for endpoint in endpoints { endpoint.close() }
            forwarder.close()
            throw .tooManyRegistrations
        }
    }

    /// A named network's member joined (its names answer with `addresses`) or left (nil).
    func setMemberNames(_ names: [DNSName], addresses: [IPAddress], present: Bool) {
        var table = queryPolicy.names
        // Each name also in our zone: members search it first (their resolv.conf says so).
        for name in names + names.map({ DNSName(labels: $0.labels + LocalNames.zone.labels) }) {
            if present { table.add(name, addresses) } else { table.remove(name, addresses) }
        }
        table.setPointers(addresses, to: present ? names.first : nil)
        queryPolicy = DNSQueryPolicy(policy: queryPolicy.policy, names: table)
    }

    func close() {
        for endpoint in endpoints { endpoint.close() }
        endpoints = []
        forwarder.close()
    }

    func udpEndpoint(
        _ endpoint: UDPEndpoint, received payload: UnsafeRawBufferPointer, from source: IPAddress,
        port: UInt16, to destination: IPAddress, now: NetstackInstant
    ) {
        resolve(
            payload, from: SocketAddress(source, port: port), over: .udp,
            reply: { [weak endpoint, unowned engine] answer in
                guard let endpoint, !endpoint.isClosed else { return }
                if (try? endpoint.send(answer, to: source, port: port)) == nil {
                    engine.counters.dnsAnswersDropped &+= 1
                }
            }, failed: {})
    }

    /// Runs `reply` once with the answer for `query`, or `failed` once when none will come.
    func resolve(
        _ query: UnsafeRawBufferPointer, from source: SocketAddress, over transport: FlowTransport,
        reply: @escaping (UnsafeRawBufferPointer) -> Void, failed: @escaping () -> Void
    ) {
        guard let message = try? DNSMessage.parse(query), !message.header.isResponse,
            let question = message.questions.first
        else {
            // Not a query: the forwarder counts it as malformed and sends nothing.
            return forward(query, transport: transport, reply: { _ in }, failed: failed)
        }
        var record = DNSQueryRecord(
            timeNanoseconds: usernet_realtime_now_ns(), source: source, transport: transport,
            question: question, outcome: .forwarded)
        let code: DNSResponseCode
        var addresses: [IPAddress] = []
        var pointer: DNSName?
        switch queryPolicy.decide(message) {
        case .forward:
            return forward(
                query, transport: transport,
                reply: { [unowned self] answer in
                    let lesson = engine.learned.learn(
                        from: answer.message, policy: engine.policy, network: engine.network,
                        now: engine.now.nanoseconds)
                    record.answers = answer.message.addresses(for: question.name).map(\.address)
                    record.refusedAnswers = lesson.refused
                    engine.connectionLog?.append(record)
                    reply(answer.bytes)
                },
                failed: { [unowned self] in
                    record.outcome = .unanswered
                    engine.connectionLog?.append(record)
                    engine.warn(
                        "DNS query unanswered: no upstream resolver answered in time",
                        ["name": "\(question.name)", "upstreams": "\(forwarder.configuration.upstreams.count)"])
                    failed()
                })
        case .answerLocally(let localCode, let localAddresses):
            counters.answeredLocally &+= 1
            (code, addresses, record.outcome) = (localCode, localAddresses, .local)
        case .answerPointer(let name):
            counters.answeredLocally &+= 1
            (code, pointer, record.outcome) = (.noError, name, .local)
        case .refuse(let reason):
            counters.refused &+= 1
            (code, record.outcome, record.reason) = (.refused, .refused, reason)
        }
        record.answers = addresses
        engine.connectionLog?.append(record)
        guard
            let answer = DNSResponseWriter.response(
                toQuery: query, code: code, authoritative: record.outcome == .local,
                addresses: addresses, pointer: pointer)
        else { return failed() }
        answer.withUnsafeBytes { reply($0) }
    }

    private func forward(
        _ query: UnsafeRawBufferPointer, transport: FlowTransport,
        reply: @escaping DNSForwarder.Reply, failed: @escaping () -> Void
    ) {
        if transport == .tcp {
            forwarder.forwardOverTCP(query: query, reply: reply, failed: failed)
        } else {
            forwarder.forward(query: query, reply: reply, failed: failed)
        }
    }
}

/// DNS over TCP from the app to the DNS address (RFC 7766): the stack's connection is served
/// here; each framed query goes to the forwarder's TCP path, each answer comes back framed,
/// in the order the answers arrive (RFC 7766 7 allows out-of-order answers).
final class DNSStreamFlow: PumpedTCPFlow {
    unowned let engine: GatewayEngine
    unowned let tcp: GatewayTCP
    unowned let dns: GatewayDNS
    let key: FlowKey
    let connection: TCPConnection
    var record: ConnectionRecord
    var isDirty = false
    private var framer = DNSStreamFramer()
    /// Framed answers not yet taken by the connection's send buffer (at most `maxInFlight`).
    private var outgoing: [UInt8] = []
    private var queriesInFlight = 0
    private(set) var isClosed = false
    /// At most this many queries in flight per connection; further bytes wait in the TCP window.
    static let maxInFlight = 16

    init(
        engine: GatewayEngine, tcp: GatewayTCP, dns: GatewayDNS, key: FlowKey, connection: TCPConnection,
        record: ConnectionRecord
    ) {
        self.engine = engine
        self.tcp = tcp
        self.dns = dns
        self.key = key
        self.connection = connection
        self.record = record
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        connection.onReadiness = nil
        abortUnfinishedConnection()
    }

    func pump() {
        guard !isClosed else { return }
        if connection.isFinished {
            engine.finish(key)
            return
        }
        engine.flows.touch(key, now: engine.now.nanoseconds)
        let buffer = engine.receiveBuffer
        while queriesInFlight < Self.maxInFlight, framer.bufferedByteCount < DNSStreamFramer.capacity,
            connection.availableToRead > 0
        {
            let room = min(65_536, DNSStreamFramer.capacity - framer.bufferedByteCount)
            let count = connection.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<room]))
            guard count > 0 else { break }
            record.bytesFromApp &+= UInt64(count)
            let messages: [[UInt8]]
            do { messages = try framer.append(UnsafeRawBufferPointer(rebasing: buffer[0..<count])).messages } catch {
                // Not DNS framing: end the connection (RFC 7766 leaves malformed streams to us).
                var output = tcp.output
                connection.abort(now: tcp.now, output: &output)
                engine.finish(key)
                return
            }
            for message in messages {
                queriesInFlight += 1
                message.withUnsafeBytes { query in
                    dns.resolve(
                        query, from: SocketAddress(key.source, port: key.sourcePort), over: .tcp,
                        reply: { [weak self] answer in
                            self?.answered(answer)
                        },
                        failed: { [weak self] in
                            self?.answered(UnsafeRawBufferPointer(start: nil, count: 0))
                        })
                }
            }
        }
        if !outgoing.isEmpty, connection.writableSpace > 0 {
            let taken = outgoing.withUnsafeBytes { (try? connection.write($0)) ?? 0 }
            record.bytesToApp &+= UInt64(taken)
            outgoing.removeFirst(taken)
        }
        // The app closed its side and everything it asked was answered (or given up): close.
        if connection.isReadClosed && queriesInFlight == 0 && outgoing.isEmpty {
            connection.shutdownWrite()
        }
        var output = tcp.output
        connection.poll(now: tcp.now, output: &output)
    }

    /// Runs once per query: with the answer, or empty when none will come.
    private func answered(_ answer: UnsafeRawBufferPointer) {
        queriesInFlight -= 1
        if answer.count > 0, let framed = DNSStreamFramer.frame(answer) { outgoing += framed }
        markDirty()
    }
}
