// The `--net=user` gateway as the launcher sees it: start it on the host end of the app's veth
// (an AF_PACKET socket), read its counters, stop it. Everything else runs on the gateway's own
// thread: one event loop (epoll + timerfd + eventfd) drives the packet ring, the stack and
// every host socket (GatewayEngine). Nothing crosses threads but this object's mailbox.
//
//     let gateway = try Gateway(options: options, interface: "veth-host")
//       (or: Gateway(options:packetSocket:) with an AF_PACKET socket opened elsewhere)
//     ...
//     let counters = gateway.counters()
//     gateway.stop()

import CNetShims
import FDBased
import Glibc
import Link
import Logging
import Netstack
import Posix
import Synchronization
import Wire

public enum GatewayError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The FDBased endpoint refused the fd or its options.
    case link(FDBasedError)
    /// The pcap (`--pcap`) or connection-log (`--log-connections`) file could not be opened.
    case file(flag: String, path: String, PosixError)
    /// A published port (`-p`) could not be bound or listened on.
    case publish(PublishedPort, EventLoopError)
    case eventLoop(EventLoopError)
    /// Reading /etc/resolv.conf (when no --dns was given) failed.
    case resolvConf(PosixError)
    /// setns into the host namespace, or opening the packet socket, failed.
    case system(PosixError)

    public var description: String {
        switch self {
        case .link(let e): "packet socket: \(e)"
        case .file(let flag, let path, let e): Self.fileMessage(flag: flag, path: path, e)
        case .publish(let port, let e): Self.publishMessage(port, e)
        case .eventLoop(let e): "event loop: \(e)"
        case .resolvConf(let e): "resolv.conf: \(e)"
        case .system(let e): "\(e)"
        }
    }
}

extension GatewayError {
    /// The pcap file (`--pcap PATH`) failed to open or take its header.
    static func pcapFile(_ path: String?, _ error: PosixError) -> GatewayError {
        .file(flag: "--pcap", path: path ?? "", error)
    }

    /// The connection log (`--log-connections PATH`) failed to open.
    static func connectionLogFile(_ path: String?, _ error: PosixError) -> GatewayError {
        .file(flag: "--log-connections", path: path ?? "", error)
    }

    /// "--pcap /x/y.pcap: cannot open it: No such file or directory (its directory must exist)".
    static func fileMessage(flag: String, path: String, _ error: PosixError) -> String {
        var message = "\(flag) \(path): cannot open it: \(Posix.errnoText(error.errno))"
        switch error.errno {
        case ENOENT: message += " (its directory must exist)"
        case EACCES: message += " (the directory is not writable by this user)"
        default: break
        }
        return message
    }

    /// The lowest port an unprivileged process may bind (the sysctl; 1024 when unreadable).
    static func unprivilegedPortStart() -> UInt16 {
        let text = try? Posix.readFile("/proc/sys/net/ipv4/ip_unprivileged_port_start", limit: 64)
        return text.flatMap { UInt16(String(decoding: $0, as: UTF8.self).filter(\.isNumber)) } ?? 1024
    }

    /// "-p 0.0.0.0:80:8000/tcp: cannot listen on 0.0.0.0:80: Permission denied (...)".
    static func publishMessage(_ port: PublishedPort, _ error: EventLoopError) -> String {
        var message = "-p \(port): cannot listen on \(port.hostText)"
        guard case .system(let failure) = error else { return message + ": \(error)" }
        message += ": \(Posix.errnoText(failure.errno))"
        switch failure.errno {
        case EADDRINUSE:
            message += " (another program holds the port; pick another host port)"
        case EACCES where port.hostPort < unprivilegedPortStart():
            message +=
                " (ports below \(unprivilegedPortStart()) need root; to allow this one:"
                + " sysctl -w net.ipv4.ip_unprivileged_port_start=\(port.hostPort))"
        case EADDRNOTAVAIL:
            message += " (no interface here has that address)"
        default: break
        }
        return message
    }
}

/// What the gateway has done so far (a snapshot taken on its thread).
public struct GatewayCounters: Sendable {
    /// Frames and drops as the stack saw them on the veth.
    public var nic = NICCounters()
    /// The packet ring's own counters (kernel drops included).
    public var link = FDBasedStatistics()
    /// What `--net-delay`, `--net-loss` and the other link faults did to frames.
    public var linkFaults = LinkFaultCounters()
    /// A named network's switch: its members and what it forwarded between them.
    public var network: NetworkSwitchCounters?
    public var flows = FlowTableCounters()
    public var activeFlows = 0
    public var flowsAllowed: UInt64 = 0
    public var flowsDenied: UInt64 = 0
    /// Admitted by policy, but the host socket could not be made (or registered).
    public var flowsFailed: UInt64 = 0
    public var flowsRefusedAtLimit: UInt64 = 0
    /// New flows refused because their member of a named network held its share of the flows.
    public var flowsRefusedAtMemberShare: UInt64 = 0
    /// New TCP flows refused because their buffers would exceed `--flow-memory`.
    public var flowsRefusedAtMemoryBudget: UInt64 = 0
    /// Bytes the TCP connections' rings hold now, and at most so far.
    public var tcpBufferBytes = 0
    public var tcpBufferBytesPeak = 0
    public var flowsOpened: UInt64 = 0
    public var udpDatagramsFromApp: UInt64 = 0
    public var udpDatagramsToApp: UInt64 = 0
    /// Sends to a host socket that carried several app datagrams at once (UDP GSO).
    public var udpBatchedSends: UInt64 = 0
    /// App datagrams the host socket would not take (full buffer, or an error pending).
    public var udpHostSendDropped: UInt64 = 0
    public var udpAppSendDropped: UInt64 = 0
    /// ICMP errors the host received for a flow and the gateway passed on to the app.
    public var hostErrorsReflected: UInt64 = 0
    public var echoRequestsForwarded: UInt64 = 0
    public var echoRequestsDropped: UInt64 = 0
    public var echoRepliesToApp: UInt64 = 0
    public var echoRepliesDropped: UInt64 = 0
    public var tcp = TCPDemuxCounters()
    public var tcpTransport = TCPTransportCounters()
    public var tcpListener = TCPListenerCounters()
    /// RSTs answering an app SYN (refused by policy, or by the host).
    public var tcpResetsSent: UInt64 = 0
    /// Host connections closed because the app never completed its handshake.
    public var tcpHandshakesAbandoned: UInt64 = 0
    /// App SYNs that reopened a four-tuple still in TIME-WAIT here (RFC 6191).
    public var tcpTimeWaitReused: UInt64 = 0
    /// Connections accepted on published TCP ports, and UDP client flows on published UDP
    /// ports, carried to the app.
    public var inboundConnections: UInt64 = 0
    /// Published-port connections or flows that could not be carried (at the flow limit, no
    /// free source port toward the app).
    public var inboundRefused: UInt64 = 0
    /// Inward flows given a source port of the gateway's choosing: their client's port was
    /// taken toward the app by another client's flow.
    public var inboundSourcePortsChosen: UInt64 = 0
    /// Ports published while the gateway ran (an OCI container's listeners, found later).
    public var portsPublishedLater: UInt64 = 0
    public var ping = PingSocketOpener.Counters()
    public var dns = DNSForwarder.Counters()
    public var dnsAnswersDropped: UInt64 = 0
    /// Queries the forwarder refused without asking upstream (a restrictive policy).
    public var dnsQueriesRefused: UInt64 = 0
    /// Queries for names the sandbox owns, answered by the forwarder itself.
    public var dnsQueriesAnsweredLocally: UInt64 = 0
    public var learnedAddresses = 0
    public var pcapFrames: UInt64 = 0
    public var pcapDropped: UInt64 = 0
    public var connectionLogRecords: UInt64 = 0
    public var eventLoop = EventLoopCounters()
    /// The app's end of the link went away (the ring reported EOF or a fatal error).
    public var linkClosed = false

    public init() {}
}

public final class Gateway: Sendable {
    /// Plumbing the launcher decides (the user-facing knobs are in UserNetOptions).
    public struct Settings: Sendable {
        /// The gateway's MAC on the veth. slirp's 52:55:0a:00:02:02 by default.
        public var linkAddress = MACAddress(0x52, 0x55, 0x0A, 0x00, 0x02, 0x02)
        /// `.packetMMap` by default: only the ring reports the kernel's partial checksums on
        /// veth (TP_STATUS_CSUMNOTREADY); readv/recvmmsg would see such datagrams as corrupt.
        public var dispatchMode = PacketDispatchMode.packetMMap
        /// When set, the gateway's thread enters this network namespace (an open
        /// /proc/PID/ns/net or /run/netns/NAME fd; the caller keeps it) before opening any host
        /// socket, so the app's flows leave from there.
        public var hostNamespaceFD: Int32?
        /// resolv.conf read for upstream resolvers when UserNetOptions has no --dns.
        public var resolvConfPath = ResolvConf.defaultPath
        /// Whether `stop()` lets a throwaway process drop the last reference to the packet
        /// socket. Releasing an AF_PACKET socket waits for two RCU grace periods (20-30 ms
        /// here, most of a short `sandbox run`); in the background, the socket's namespace and
        /// its veth outlive `stop()` by that much. Off by default: then they are gone when
        /// `stop()` returns.
        public var releasesPacketSocketInBackground = false
        /// Files and published-port sockets opened beforehand (by a more privileged process);
        /// nil: the gateway opens them itself from the options' paths and ports.
        public var resources: GatewayResources?
        /// `Gateway.preparePacketSocket` already ran on the packet socket with these settings.
        public var packetSocketPrepared = false
        /// Whether the gateway's thread reads the host's addresses (HostAddresses) as it starts.
        /// A caller that cannot make a netlink socket there (the confined gateway process)
        /// takes the snapshot beforehand into `options.network.hostAddresses` and says false.
        public var snapshotsHostAddresses = true
        /// Where the gateway says what it refused and what failed (GatewayLog); nil: silent.
        public var logger: Logger?
        /// The gateway serves a named network: its link is a switch whose members come later
        /// (`join`), and the packet socket given to `init` is ignored (pass -1).
        public var servesNetwork = false

        public init() {}
    }

    private let thread: EventLoopThread
    private let mailbox: Mailbox
    private let packetSocket: Int32
    private let releasesPacketSocketInBackground: Bool
    private let stopped = Atomic<Bool>(false)

    /// Starts the gateway on its own thread, over `packetSocket` (an AF_PACKET socket bound to
    /// the host end of the app's veth; the gateway owns it from here and closes it in `stop`).
    public init(options: UserNetOptions, packetSocket: Int32, settings: Settings = Settings()) throws(GatewayError) {
        let upstreams: [SocketAddress]
        if let configured = options.network.dnsUpstreams {
            upstreams = configured
        } else {
            do { upstreams = try ResolvConf.upstreams(path: settings.resolvConfPath) } catch {
                Posix.close(packetSocket)
                throw .resolvConf(error)
            }
        }
        let mailbox = Mailbox()
        let failure = SetupFailure()
        do throws(EventLoopError) {
            thread = try EventLoopThread { loop throws(EventLoopError) in
                if let namespace = settings.hostNamespaceFD {
                    do throws(PosixError) {
                        _ = try Posix.call("setns") { usernet_enter_network_namespace(namespace) }
                    } catch {
                        failure.error = .system(error)
                        throw .system(error)
                    }
                }
                // Read here, in the namespace the host sockets use: these are the addresses a
                // host socket of the gateway would reach the host itself at.
                var options = options
                if settings.snapshotsHostAddresses { options.network.hostAddresses.formUnion(HostAddresses.snapshot()) }
                let engine: GatewayEngine
                do throws(GatewayError) {
                    engine = try GatewayEngine(
                        loop: loop, options: options, packetSocket: settings.servesNetwork ? nil : packetSocket,
                        linkAddress: settings.linkAddress, dispatchMode: settings.dispatchMode,
                        dnsUpstreams: upstreams, resources: settings.resources,
                        packetSocketPrepared: settings.packetSocketPrepared)
                } catch {
                    failure.error = error
                    throw .tooManyRegistrations
                }
                if let logger = settings.logger { engine.logger = logger }
                // The loop owns the engine through this closure; the engine is freed with the loop.
                loop.afterIteration = {
                    engine.endOfRound()
                    mailbox.run(with: engine)
                }
            }
        } catch {
            if packetSocket >= 0 { Posix.close(packetSocket) }
            throw failure.error ?? .eventLoop(error)
        }
        self.mailbox = mailbox
        self.packetSocket = packetSocket
        releasesPacketSocketInBackground = settings.releasesPacketSocketInBackground
    }

    /// Sets up the packet socket for a gateway that `settings` (with `packetSocketPrepared`)
    /// will start on it later, perhaps in another process: socket options and, for
    /// `.packetMMap`, the ring. Done before the socket is bound, the ring costs the kernel no
    /// RCU grace period (10-15 ms here), which it does once frames flow.
    public static func preparePacketSocket(
        _ packetSocket: Int32, options: UserNetOptions,
        settings: Settings
    ) throws(GatewayError) {
        let endpointOptions = GatewayEngine.endpointOptions(
            packetSocket: packetSocket, mtu: options.network.mtu,
            linkAddress: settings.linkAddress, dispatchMode: settings.dispatchMode)
        do { try FDBasedEndpoint.preparePacketSockets(options: endpointOptions) } catch { throw .link(error) }
    }

    /// Opens the AF_PACKET socket on `interface` (inside `interfaceNamespaceFD` when given)
    /// and starts the gateway on it.
    public convenience init(
        options: UserNetOptions, interface: String, interfaceNamespaceFD: Int32? = nil,
        settings: Settings = Settings()
    ) throws(GatewayError) {
        let packetSocket = try Self.openPacketSocket(interface: interface, namespaceFD: interfaceNamespaceFD)
        try self.init(options: options, packetSocket: packetSocket, settings: settings)
    }

    /// A snapshot of the counters; nil once stopped.
    public func counters() -> GatewayCounters? {
        onGatewayThread { $0.snapshot }
    }

    /// Publishes `port` from `socket` (bound, listening; owned from here) while the gateway
    /// runs. False once stopped, or if the loop refused it (the socket is closed either way).
    public func publish(_ port: PublishedPort, socket: Int32) -> Bool {
        let published = onGatewayThread { $0.publishLater(port, socket: socket) }
        if published == nil { Posix.close(socket) }
        return published ?? false
    }

    /// Replaces the link faults of a running gateway (`sandbox update`). False when its link has
    /// no fault stage (started without faults and not `adjustableLinkFaults`) or it stopped.
    public func setLinkFaults(_ faults: LinkFaults) -> Bool {
        onGatewayThread { engine in
            guard let link = engine.faultyLink else { return false }
            link.faults = faults
            return true
        } ?? false
    }

    /// A named network's gateway: puts `member` on its switch over `packetSocket` (owned from
    /// here). Nil once on; otherwise why not.
    public func join(_ member: NetworkMemberSpec, packetSocket: Int32) -> String? {
        let outcome = onGatewayThread { engine -> String? in
            do throws(NetworkSwitchError) { try engine.join(member, packetSocket: packetSocket) } catch {
                return error.description
            }
            return nil
        }
        guard let outcome else {
            Posix.close(packetSocket)
            return "the gateway stopped"
        }
        return outcome
    }

    /// Publishes `port` from `socket` (bound, listening; owned from here) to member `id` of the
    /// network's switch (`run --network NAME -p`); withdrawn when the member leaves.
    public func publish(_ port: PublishedPort, socket: Int32, toMember id: UInt32) -> Bool {
        let published = onGatewayThread { $0.publish(port, socket: socket, toMember: id) }
        if published == nil { Posix.close(socket) }
        return published ?? false
    }

    /// Takes member `id` off the network's switch (its sandbox ended).
    public func leave(_ id: UInt32) { _ = onGatewayThread { $0.leave(id) } }

    /// Replaces one member's link faults (`sandbox update` of a network's sandbox).
    public func setLinkFaults(_ faults: LinkFaults, ofMember id: UInt32) -> Bool {
        onGatewayThread { $0.setFaults(faults, ofMember: id) } ?? false
    }

    /// Runs `body` on the gateway's thread with its engine and returns the result (nil once
    /// the gateway stopped).
    func onGatewayThread<T: Sendable>(_ body: @escaping @Sendable (GatewayEngine) -> T) -> T? {
        guard !stopped.load(ordering: .acquiring) else { return nil }
        let result = ResultSlot<T>()
        mailbox.post { engine in result.fill(body(engine)) }
        thread.handle.wake()
        return result.wait()
    }

    /// Closes every flow (each gets its connection-log line), flushes the pcap, stops the
    /// thread and closes the packet socket. Idempotent; returns the final counters.
    @discardableResult
    public func stop() -> GatewayCounters? {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return nil }
        let result = ResultSlot<GatewayCounters>()
        let handle = thread.handle
        mailbox.post { engine in
            engine.shutDown()
            result.fill(engine.snapshot)
            handle.stop()
        }
        handle.wake()
        let final = result.wait()
        thread.stopAndJoin()
        mailbox.cancelAll()
        if packetSocket >= 0, !releasesPacketSocketInBackground || !closeInBackground(packetSocket) {
            Posix.close(packetSocket)
        }
        return final
    }

    deinit { stop() }

    /// An AF_PACKET socket bound to `interface`, made inside the network namespace `namespaceFD`
    /// when given (on a short-lived thread, so the caller's thread stays where it is). Ready
    /// to hand to `init(options:packetSocket:)`.
    public static func openPacketSocket(interface: String, namespaceFD: Int32? = nil) throws(GatewayError) -> Int32 {
        let outcome = Mutex<(fd: Int32, error: PosixError?)>((-1, nil))
        let work: @Sendable () -> Void = {
            do throws(PosixError) {
                if let namespaceFD { _ = try Posix.call("setns") { usernet_enter_network_namespace(namespaceFD) } }
                let index = if_nametoindex(interface)
                guard index != 0 else { throw PosixError(call: "if_nametoindex(\(interface))", errno: errno) }
                let fd = try Posix.call("socket(AF_PACKET)") { usernet_open_packet_socket(Int32(index)) }
                outcome.withLock { $0 = (fd, nil) }
            } catch {
                outcome.withLock { $0 = (-1, error) }
            }
        }
        if namespaceFD == nil {
            work()
        } else {
            do { try runOnThread(work) } catch { throw .system(error) }
        }
        let (fd, error) = outcome.withLock { $0 }
        if let error { throw .system(error) }
        return fd
    }

    private static func runOnThread(_ work: @escaping @Sendable () -> Void) throws(PosixError) {
        final class Job: @unchecked Sendable {
            let work: @Sendable () -> Void
            init(_ work: @escaping @Sendable () -> Void) { self.work = work }
        }
        let job = Unmanaged.passRetained(Job(work))
        var thread = pthread_t()
        let rc = pthread_create(
            &thread, nil,
            { raw in
                guard let raw else { return nil }
                Unmanaged<Job>.fromOpaque(raw).takeRetainedValue().work()
                return nil
            }, job.toOpaque())
        guard rc == 0 else {
            job.release()
            throw PosixError(call: "pthread_create", errno: rc)
        }
        pthread_join(thread, nil)
    }
}

/// Work handed to the gateway's thread; run at the end of its next round.
private final class Mailbox: Sendable {
    private let jobs = Mutex<[@Sendable (GatewayEngine) -> Void]>([])

    func post(_ job: @escaping @Sendable (GatewayEngine) -> Void) {
        jobs.withLock { $0.append(job) }
    }

    func run(with engine: GatewayEngine) {
        let ready = jobs.withLock { queue -> [@Sendable (GatewayEngine) -> Void] in
            guard !queue.isEmpty else { return [] }
            defer { queue.removeAll() }
            return queue
        }
        for job in ready { job(engine) }
    }

    /// Drops jobs posted after the loop ended (their callers see nil).
    func cancelAll() { jobs.withLock { $0.removeAll() } }
}

/// Why the gateway's thread could not start, carried out of the loop's setup.
private final class SetupFailure: @unchecked Sendable {
    // Written by the gateway's thread before EventLoopThread's init returns (it waits for setup).
    var error: GatewayError?
}

/// One value handed from the gateway's thread to a waiting caller.
private final class ResultSlot<T: Sendable>: Sendable {
    private let state = Mutex<T?>(nil)
    private let semaphore = Semaphore()

    func fill(_ value: T) {
        state.withLock { $0 = value }
        semaphore.signal()
    }

    /// Waits up to 10 s (a stopped loop never fills the slot).
    func wait() -> T? {
        semaphore.wait(seconds: 10)
        return state.withLock { $0 }
    }
}

/// A POSIX semaphore with a bounded wait.
private final class Semaphore: @unchecked Sendable {
    private let raw = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)
    init() { sem_init(raw, 0, 0) }
    deinit {
        sem_destroy(raw)
        raw.deallocate()
    }
    func signal() { sem_post(raw) }
    func wait(seconds: Int) {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        deadline.tv_sec += seconds
        _ = try? Posix.call("sem_timedwait") { sem_timedwait(raw, &deadline) } // ETIMEDOUT: waited enough
    }
}
