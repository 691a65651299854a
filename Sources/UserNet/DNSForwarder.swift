// The DNS forwarder behind the DNS address (10.0.2.3): relays the app's queries to the host's
// resolvers and their answers back, over UDP or TCP, on the event loop.
//
// UDP: each query gets a fresh random ID per upstream try (RFC 5452 9.2: unpredictable IDs
// are the first defence against spoofed answers), and an answer is accepted only from the
// upstream we asked (connected socket), with an ID we are waiting for and the same question.
// A query that times out is retried on the next upstream, then dropped (the app's resolver
// retries on its own schedule). TCP: one host connection per query, framed per RFC 7766.
// Each query ends once: `reply` gets the answer with its parsed message (which is how
// --allow-domain learns addresses and the connection log names them), or `failed` runs.
// Which names may be forwarded at all is the caller's decision (DNSQueryPolicy).

import Glibc
import Posix

public final class DNSForwarder {
    public struct Configuration: Sendable {
        public var upstreams: [SocketAddress]
        /// Per upstream try.
        public var timeoutNanoseconds: UInt64 = 2_000_000_000
        /// Queries in flight over UDP.
        public var maxPendingQueries = 1024
        /// Simultaneous TCP exchanges.
        public var maxTCPExchanges = 64

        public init(upstreams: [SocketAddress]) { self.upstreams = upstreams }
    }

    public struct Counters: Sendable, Equatable {
        public var queries: UInt64 = 0
        public var answers: UInt64 = 0
        /// Upstream tries that got no answer in time (a query may time out on each upstream).
        public var timeouts: UInt64 = 0
        /// Queries given up after the last upstream.
        public var unanswered: UInt64 = 0
        public var refusedPendingFull: UInt64 = 0
        public var malformedQueries: UInt64 = 0
        public var malformedAnswers: UInt64 = 0
        /// Answers with an unknown ID or a question that does not match ours.
        public var mismatchedAnswers: UInt64 = 0
        public var sendErrors: UInt64 = 0
        public var tcpQueries: UInt64 = 0
        public var tcpAnswers: UInt64 = 0
        public var tcpFailures: UInt64 = 0
        public var refusedTCPFull: UInt64 = 0
    }

    /// An accepted answer: its bytes (ID restored to the app's, borrowed for the call) and
    /// what they parse to.
    public struct Answer {
        public let bytes: UnsafeRawBufferPointer
        public let message: DNSMessage
    }

    public typealias Reply = (Answer) -> Void

    public let configuration: Configuration
    public private(set) var counters = Counters()

    private struct Pending {
        var originalID: UInt16
        var question: DNSQuestion
        var query: [UInt8]
        var upstream: Int
        var triesLeft: Int
        var timer: TimerID?
        var reply: Reply
        var failed: (() -> Void)?
    }

    private struct PendingKey: Hashable {
        var upstream: Int
        var id: UInt16
    }

    private let loop: EventLoop
    private var sockets: [HostUDPSocket] = []
    private var registrations: [EventLoop.Registration] = []
    private var pending: [PendingKey: Pending] = [:]
    private var tcpExchanges = 0
    private var receiveBuffer: UnsafeMutableRawBufferPointer
    private var random = SystemRandomNumberGenerator()

    /// Opens one UDP socket per upstream and registers it on `loop`.
    public init(loop: EventLoop, configuration: Configuration) throws(EventLoopError) {
        self.loop = loop
        self.configuration = configuration
        receiveBuffer = .allocate(byteCount: 65_535, alignment: 8)
        for (index, upstream) in configuration.upstreams.enumerated() {
            let socket: HostUDPSocket
            do { socket = try HostUDPSocket(connectingTo: upstream) } catch {
                close()
                throw .system(error)
            }
            sockets.append(socket)
            do {
                registrations.append(
                    try loop.register(fd: socket.fd, interest: .read) { [unowned self] _ in
                        self.drainAnswers(upstream: index)
                    })
            } catch {
                close()
                throw error
            }
        }
    }

    deinit {
        close()
        receiveBuffer.deallocate()
    }

    /// Unregisters and closes the upstream sockets, cancels pending queries.
    public func close() {
        for registration in registrations { loop.unregister(registration) }
        registrations.removeAll()
        for socket in sockets { socket.close() }
        sockets.removeAll()
        for (_, entry) in pending { if let timer = entry.timer { loop.cancelTimer(timer) } }
        pending.removeAll()
    }

    public var pendingCount: Int { pending.count }

    // MARK: UDP

    /// Forwards one query datagram from the app; `reply` runs once if an answer comes, else
    /// `failed` runs once (malformed, no room, or no upstream answered in time).
    public func forward(query bytes: UnsafeRawBufferPointer, reply: @escaping Reply, failed: (() -> Void)? = nil) {
        counters.queries &+= 1
        guard let message = try? DNSMessage.parse(bytes), !message.header.isResponse, message.header.opcode == 0,
            let question = message.questions.first, DNSResponseWriter.endOfFirstQuestion(bytes) != nil
        else {
            counters.malformedQueries &+= 1
            failed?()
            return
        }
        guard !sockets.isEmpty, pending.count < configuration.maxPendingQueries else {
            counters.refusedPendingFull &+= 1
            failed?()
            return
        }
        let entry = Pending(
            originalID: message.header.id, question: question, query: Array(bytes),
            upstream: 0, triesLeft: sockets.count, timer: nil, reply: reply, failed: failed)
        send(entry)
    }

    private func send(_ entry: Pending) {
        var entry = entry
        while entry.triesLeft > 0 {
            entry.triesLeft -= 1
            var key = PendingKey(upstream: entry.upstream, id: 0)
            repeat { key.id = UInt16.random(in: 0...UInt16.max, using: &random) } while pending[key] != nil
            entry.query[0] = UInt8(key.id >> 8)
            entry.query[1] = UInt8(key.id & 0xFF)
            let sent = entry.query.withUnsafeBytes { try? sockets[key.upstream].send($0) }
            guard case .done = sent else {
                counters.sendErrors &+= 1
                entry.upstream = (entry.upstream + 1) % sockets.count
                continue
            }
            entry.timer = try? loop.scheduleTimer(after: configuration.timeoutNanoseconds) { [unowned self] in
                self.timedOut(key)
            }
            pending[key] = entry
            return
        }
        counters.unanswered &+= 1
        entry.failed?()
    }

    private func timedOut(_ key: PendingKey) {
        guard var entry = pending.removeValue(forKey: key) else { return }
        counters.timeouts &+= 1
        entry.timer = nil
        entry.upstream = (entry.upstream + 1) % sockets.count
        send(entry)
    }

    private func drainAnswers(upstream: Int) {
        // Bounded: at most this many datagrams per readiness report, then back to the loop.
        for _ in 0..<64 {
            guard upstream < sockets.count else { return }
            let result: IOResult
            do { result = try sockets[upstream].receive(into: receiveBuffer) } catch {
                // An ICMP error (e.g. port unreachable from a dead upstream): drain the report;
                // the query's timer moves it to the next upstream.
                _ = sockets[upstream].readError()
                continue
            }
            guard case .done(let count) = result else { return }
            accept(UnsafeMutableRawBufferPointer(rebasing: receiveBuffer[0..<count]), upstream: upstream)
        }
    }

    private func accept(_ answer: UnsafeMutableRawBufferPointer, upstream: Int) {
        guard let message = try? DNSMessage.parse(UnsafeRawBufferPointer(answer)), message.header.isResponse else {
            counters.malformedAnswers &+= 1
            return
        }
        let key = PendingKey(upstream: upstream, id: message.header.id)
        guard let entry = pending[key], message.questions.first == entry.question else {
            counters.mismatchedAnswers &+= 1
            return
        }
        pending.removeValue(forKey: key)
        if let timer = entry.timer { loop.cancelTimer(timer) }
        counters.answers &+= 1
        answer[0] = UInt8(entry.originalID >> 8)
        answer[1] = UInt8(entry.originalID & 0xFF)
        entry.reply(Answer(bytes: UnsafeRawBufferPointer(answer), message: message))
    }

    // MARK: TCP

    /// Forwards one query that came over the app's TCP connection to the first upstream over
    /// TCP (answers too large for UDP need it); `reply` gets the answer message, unframed.
    /// `failed` runs instead of `reply` when no answer will come (malformed query, too many
    /// exchanges, upstream failure or timeout), so a caller holding state per query can let go.
    public func forwardOverTCP(query bytes: UnsafeRawBufferPointer, reply: @escaping Reply, failed: (() -> Void)? = nil)
    {
        counters.tcpQueries &+= 1
        guard let message = try? DNSMessage.parse(bytes), !message.header.isResponse,
            let question = message.questions.first, DNSResponseWriter.endOfFirstQuestion(bytes) != nil,
            let framed = DNSStreamFramer.frame(bytes)
        else {
            counters.malformedQueries &+= 1
            failed?()
            return
        }
        guard let upstream = configuration.upstreams.first, tcpExchanges < configuration.maxTCPExchanges else {
            counters.refusedTCPFull &+= 1
            failed?()
            return
        }
        tcpExchanges += 1
        let exchange = TCPExchange(
            forwarder: self, id: message.header.id, question: question, framed: framed, reply: reply)
        exchange.failed = failed
        let timeout = configuration.timeoutNanoseconds
        HostConnector.connect(to: upstream, on: loop, timeoutNanoseconds: timeout) { [loop] result in
            switch result {
            case .success(let socket): exchange.start(socket, loop: loop, timeout: timeout)
            case .failure: exchange.finish(nil)
            }
        }
    }

    fileprivate func tcpExchangeEnded(answer: DNSMessage?) {
        tcpExchanges -= 1
        if answer != nil {
            counters.tcpAnswers &+= 1
        } else {
            counters.tcpFailures &+= 1
        }
    }
}

/// One query over one host TCP connection: write the framed query, read one framed answer.
private final class TCPExchange {
    weak var forwarder: DNSForwarder?
    let id: UInt16
    let question: DNSQuestion
    var output: [UInt8]
    var framer = DNSStreamFramer()
    var reply: DNSForwarder.Reply?
    var failed: (() -> Void)?
    var socket: HostTCPSocket?
    var registration: EventLoop.Registration?
    var timer: TimerID?
    weak var loop: EventLoop?

    init(
        forwarder: DNSForwarder, id: UInt16, question: DNSQuestion, framed: [UInt8], reply: @escaping DNSForwarder.Reply
    ) {
        self.forwarder = forwarder
        self.id = id
        self.question = question
        self.output = framed
        self.reply = reply
    }

    func start(_ socket: HostTCPSocket, loop: EventLoop, timeout: UInt64) {
        self.socket = socket
        self.loop = loop
        do {
            registration = try loop.register(fd: socket.fd, interest: [.read, .write]) { [self] readiness in
                self.service(readiness)
            }
            timer = try loop.scheduleTimer(after: timeout) { [self] in
                self.timer = nil
                self.finish(nil)
            }
        } catch {
            finish(nil)
        }
    }

    private func service(_ readiness: EventLoop.Readiness) {
        guard let socket, let loop, let registration else { return }
        if !output.isEmpty {
            switch output.withUnsafeBytes({ try? socket.write($0) }) {
            case .done(let n)?: output.removeFirst(n)
            case .wouldBlock?: break
            case nil: return finish(nil)
            }
            if output.isEmpty { try? loop.setInterest(registration, .read) }
        }
        guard readiness.contains(.readable) || readiness.contains(.hangup) else { return }
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let result = chunk.withUnsafeMutableBytes { try? socket.read(into: $0) }
            switch result {
            case .done(let n)? where n > 0:
                let framed = chunk.withUnsafeBytes { try? framer.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                guard let framed else { return finish(nil) }
                if let first = framed.messages.first { return deliver(first) }
            case .wouldBlock?:
                return
            default:
                return finish(nil) // EOF or error before a whole answer
            }
        }
    }

    private func deliver(_ answer: [UInt8]) {
        guard let message = try? answer.withUnsafeBytes({ try DNSMessage.parse($0) }), message.header.isResponse,
            message.header.id == id, message.questions.first == question
        else { return finish(nil) }
        let reply = self.reply
        finish(message)
        answer.withUnsafeBytes { reply?(DNSForwarder.Answer(bytes: $0, message: message)) }
    }

    func finish(_ answer: DNSMessage?) {
        guard reply != nil else { return }
        reply = nil
        if let registration, let loop { loop.unregister(registration) }
        if let timer, let loop { loop.cancelTimer(timer) }
        registration = nil
        timer = nil
        socket?.close()
        socket = nil
        forwarder?.tcpExchangeEnded(answer: answer)
        let failed = self.failed
        self.failed = nil
        if answer == nil { failed?() }
    }
}
