// The gateway's own process: `sandbox __gateway`, started only by GatewayProcess (a hidden
// subcommand; the CLI sends it here before any argument parsing). It arrives in fresh user,
// mount, IPC, UTS and PID namespaces (made at clone), in the host's network namespace, as root
// of its own user namespace only (nobody, or the caller, outside), with its descriptors in
// place (GatewayHandoff.Descriptor). Before it reads the first frame it gives up everything it
// will not use, in pasta's order: an empty read-only root, then supplementary groups,
// capabilities (bounding and ambient too), NO_NEW_PRIVS, not dumpable, no core, open files
// bounded, and last a seccomp allow-list that kills on anything else
// (GatewaySeccompPolicy). Then it runs the gateway until the launcher closes its control pipe.

import CLauncher
import Glibc
import Logging
import Posix
import UserNet

public enum GatewayMain {
    /// argv[1] of the gateway's process.
    public static let subcommand = "__gateway"
    /// argv[0] and comm of the gateway's process, so `ps` tells it from the launcher.
    static let processName = "sandbox-gateway"
    /// Where the empty root is mounted before pivot_root (any directory of the host's tree).
    static let emptyRootMountPoint = "/tmp"

    /// Runs the gateway's process; never returns.
    public static func run() -> Never {
        let status = GatewayStatus(fd: GatewayHandoff.Descriptor.status)
        let gateway: Gateway
        let handoff: GatewayHandoff
        do throws(SandboxError) {
            handoff = try readHandoff()
            handoff.log.bootstrap()
            // Parsed while the process may still read files: nothing here does, but a parse
            // error is reported with the same words as on the command line.
            var options: UserNetOptions
            do { options = try UserNetOptions(flags: handoff.flags) } catch {
                throw .invalidArgument(error.description)
            }
            // The host's own addresses, protected like loopback: read here, in the namespace the
            // host sockets use, while a netlink socket is still allowed (getifaddrs).
            options.network.hostAddresses.formUnion(HostAddresses.snapshot())
            guard options.publishedPorts.count == handoff.publishedPorts else {
                throw .network(
                    "the launcher sent \(handoff.publishedPorts) published-port sockets for \(options.publishedPorts.count) ports"
                )
            }
            for (index, hostPort) in handoff.hostPorts.enumerated() {
                options.publishedPorts[index].hostPort = hostPort
            }
            // The gateway closes its copy of the packet socket when it stops; the original stays
            // open until this process exits, so the kernel's slow release of the socket (two RCU
            // grace periods) happens after the final counters went out, while nobody waits.
            let packetSocket =
                handoff.servesNetwork ? -1 : fcntl(GatewayHandoff.Descriptor.packetSocket, F_DUPFD_CLOEXEC, 0)
            guard packetSocket >= 0 || handoff.servesNetwork else {
                throw .system(PosixError(call: "dup", errno: errno), detail: "(packet socket)")
            }
            // The connection log's timestamps (gmtime_r) make glibc read /etc/localtime once;
            // done here, it never tries to open a path inside the empty root.
            tzset()
            try confine(handoff)
            var settings = Gateway.Settings()
            settings.dispatchMode = handoff.dispatch
            settings.resources = handoff.resources
            settings.packetSocketPrepared = handoff.packetSocketPrepared
            settings.servesNetwork = handoff.servesNetwork
            settings.snapshotsHostAddresses = false
            settings.logger = Logger(label: "gateway")
            do { gateway = try Gateway(options: options, packetSocket: packetSocket, settings: settings) } catch {
                throw .network("start the gateway: \(error)")
            }
        } catch {
            status.send("error \(error)")
            _exit(1)
        }
        status.send("ready")
        if handoff.forbiddenSyscallAfterStart {
            // The documented test hook: sync(2) is outside the allow-list, so the kernel kills
            // this process here (SIGSYS) and the launcher must fail closed.
            sync()
        }
        serve(gateway, status: status)
    }

    /// Answers the launcher's requests: `c` for the counters; `f FAULTS` to replace the link
    /// faults (answered `faults ok` or `faults unavailable`); `p PORT-SPEC` with a listening
    /// socket to publish one more port; for a named network's gateway, `j MEMBER` with the
    /// member's packet socket (answered `member ok` or `member WHY`), `l ID` when it left,
    /// `F ID FAULTS` for its link faults and `P ID PORT-SPEC` with a socket for its ports; EOF (the launcher closed its end, or died) stops the
    /// gateway, sends the final counters and exits.
    private static func serve(_ gateway: Gateway, status: GatewayStatus) -> Never {
        var request = [UInt8](repeating: 0, count: 4096)
        while true {
            var socket: Int32 = -1
            // EOF and a failed read alike: the launcher is gone.
            let n = request.withUnsafeMutableBytes {
                sbx_receive_message(GatewayHandoff.Descriptor.control, $0.baseAddress, $0.count, &socket)
            }
            if n > 0 {
                answer(Array(request.prefix(n)), socket: socket, gateway: gateway, status: status)
                continue
            }
            let final = gateway.stop().map { GatewayStatistics($0) } ?? GatewayStatistics()
            status.send("stopped " + final.line)
            _exit(0)
        }
    }

    private static func answer(_ request: [UInt8], socket: Int32, gateway: Gateway, status: GatewayStatus) {
        if request == [UInt8(ascii: "c")], let counters = gateway.counters() {
            status.send("counters " + GatewayStatistics(counters).line)
        } else if request.first == UInt8(ascii: "f"),
            let faults = LinkFaults(encoded: String(decoding: request.dropFirst(), as: UTF8.self))
        {
            status.send(gateway.setLinkFaults(faults) ? "faults ok" : "faults unavailable")
        } else if request.first == UInt8(ascii: "j"), socket < 0 {
            // The descriptor did not come (this process has none left: MSG_CTRUNC).
            status.send("member no descriptor came with the request (the gateway's open files are at their limit)")
        } else if request.first == UInt8(ascii: "j") {
            guard let member = NetworkMemberSpec(encoded: String(decoding: request.dropFirst(), as: UTF8.self)) else {
                Posix.close(socket)
                return status.send("member malformed request")
            }
            status.send("member " + (gateway.join(member, packetSocket: socket) ?? "ok"))
        } else if request.first == UInt8(ascii: "l"),
            let id = UInt32(String(decoding: request.dropFirst(), as: UTF8.self))
        {
            gateway.leave(id)
        } else if request.first == UInt8(ascii: "F") {
            let fields = String(decoding: request.dropFirst(), as: UTF8.self).split(separator: " ")
            if fields.count == 2, let id = UInt32(fields[0]), let faults = LinkFaults(encoded: String(fields[1])) {
                status.send(gateway.setLinkFaults(faults, ofMember: id) ? "faults ok" : "faults unavailable")
            } else {
                status.send("faults unavailable")
            }
        } else if request.first == UInt8(ascii: "P"), socket >= 0 {
            let fields = String(decoding: request.dropFirst(), as: UTF8.self).split(separator: " ", maxSplits: 1)
            if fields.count == 2, let id = UInt32(fields[0]), let port = try? PublishedPort(parsing: String(fields[1]))
            {
                let served = gateway.publish(port, socket: socket, toMember: id)
                status.send(served ? "member ok" : "member the sandbox is not on the network's switch")
            } else {
                Posix.close(socket)
                status.send("member malformed port")
            }
        } else if request.first == UInt8(ascii: "p"), socket >= 0,
            let port = try? PublishedPort(parsing: String(decoding: request.dropFirst(), as: UTF8.self))
        {
            _ = gateway.publish(port, socket: socket)
        } else if socket >= 0 {
            Posix.close(socket)
        }
    }

    private static func readHandoff() throws(SandboxError) -> GatewayHandoff {
        let fd = GatewayHandoff.Descriptor.handoff
        let bytes = try SystemCalls.readAll(fd, limit: 1 << 20, name: "gateway handoff")
        Posix.close(fd)
        guard let handoff = GatewayHandoff(decoding: bytes) else {
            throw .network("the gateway's settings from the launcher are malformed (\(bytes.count) bytes)")
        }
        return handoff
    }

    /// Every step checked; the first failure ends the process before the gateway exists.
    static func confine(_ handoff: GatewayHandoff) throws(SandboxError) {
        _ = sbx_set_process_name(processName)
        var step: UnsafePointer<CChar>?
        guard sbx_gateway_isolate(emptyRootMountPoint, &step) == 0 else {
            throw .setupFailed(
                step: "gateway: " + (step.map { String(cString: $0) } ?? "isolate"), path: "", errno: errno)
        }
        // Within the hard limit this process inherited (raising that would need
        // CAP_SYS_RESOURCE in the host's user namespace, which it never had).
        var files = rlimit(rlim_cur: rlim_t(handoff.openFiles), rlim_max: rlim_t(handoff.openFiles))
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &files) == 0 else {
            throw .setupFailed(step: "gateway: set RLIMIT_NOFILE \(handoff.openFiles)", path: "", errno: errno)
        }
        guard sbx_gateway_drop_privileges(handoff.lastCapability, handoff.dropGroups ? 1 : 0, &step) == 0 else {
            throw .setupFailed(
                step: "gateway: " + (step.map { String(cString: $0) } ?? "drop privileges"), path: "", errno: errno)
        }
        let loaded = handoff.seccompProgram.withUnsafeBytes {
            sbx_gateway_load_filter($0.baseAddress, UInt32(handoff.seccompProgram.count / 8))
        }
        guard loaded == 0 else { throw .setupFailed(step: "gateway: load seccomp filter", path: "", errno: errno) }
    }
}

/// Lines to the launcher on the status pipe; each under PIPE_BUF, so each write is whole.
struct GatewayStatus {
    let fd: Int32

    func send(_ line: String) {
        let bytes = Array((line.count > 3000 ? String(line.prefix(3000)) : line).utf8) + [UInt8(ascii: "\n")]
        try? SystemCalls.writeAll(fd, bytes, name: "gateway status")
    }
}
