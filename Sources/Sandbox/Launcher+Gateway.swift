import CLauncher
import Glibc
import Netlink
import Posix
import UserNet

// The launcher's part of --net=user: the gateway's confined process started on the sandbox's
// link, the kernel's picks of published ports said, the sandbox killed when the gateway dies,
// and the gateway stopped with its last counters.
extension Launcher {
    /// --net=user: wires the app's eth0 to the gateway's confined process. Takes the outer
    /// namespace's three descriptors out of `received` (the gateway owns them from here).
    /// With `network` (`--network NAME`), the link goes to that network's gateway instead, and
    /// there is no gateway of the sandbox's own (nil).
    static func startGateway(
        _ options: UserNetOptions, received: inout [Int32], config: SandboxConfiguration,
        cgroups: CgroupPlacement?, network: NetworkAttachment?
    ) throws(SandboxError) -> GatewayProcess? {
        guard let netlinkSocket = received.first, received.count == 4 else {
            throw .network("the sandbox sent no network descriptors")
        }
        let outer = OuterNetwork(netlinkSocket: received[1], namespaceFD: received[2], packetSocket: received[3])
        received.removeLast(3)
        let app: RouteNetlink
        do { app = try RouteNetlink(duplicating: netlinkSocket) } catch {
            outer.close()
            throw .network("rtnetlink socket from the sandbox: \(error)")
        }
        if let network {
            try GatewayWiring.join(app: app, outer: outer, options: options, attachment: network)
            let ports = config.networkMembership?.publishedPorts ?? []
            reportChosenPorts(try network.publish(ports), configured: ports)
            log.debug(
                "joined network", metadata: ["network": "\(network.definition.name)", "member": "\(network.member)"])
            return nil
        }
        // The app's namespace, and with it eth0, goes with the program; the gateway's empty
        // namespace may linger the few ms its packet socket takes to release.
        let gateway = try GatewayWiring.start(
            app: app, outer: outer, options: options, dispatch: config.gatewayDispatch,
            cgroups: cgroups, launch: config.gatewayLaunch)
        reportChosenPorts(gateway.publishedPorts, configured: options.publishedPorts)
        log.debug(
            "gateway started",
            metadata: ["pid": "\(gateway.pid)", "published": "\(gateway.publishedPorts.map(\.description))"])
        return gateway
    }

    /// `--network NAME`: joins the network (its holder gives the sandbox its addresses), and
    /// the gateway options as the sandbox sees them: the network's, at those addresses.
    static func joinNetwork(_ config: SandboxConfiguration) throws(SandboxError) -> (NetworkAttachment, UserNetOptions)?
    {
        guard let membership = config.networkMembership else { return nil }
        let attachment = try NetworkAttachment.join(membership, executable: config.gatewayLaunch.executable)
        var options = try attachment.definition.options()
        options.network.place(v4: attachment.member.ipv4, v6: attachment.member.ipv6)
        options.network.hostname = config.hostname
        return (attachment, options)
    }

    /// Stops the gateway (again: a no-op), with its last counters at debug level.
    static func stop(_ gateway: GatewayProcess?) {
        guard let statistics = gateway?.stop() else { return }
        log.debug("gateway stopped", metadata: ["counters": "\(statistics.line)"])
    }

    /// `-p PORT` (no host port): says which one the kernel picked, as `podman port` would.
    static func reportChosenPorts(_ bound: [PublishedPort], configured: [PublishedPort]) {
        for (port, asked) in zip(bound, configured) where asked.hostPort == 0 {
            let line =
                "sandbox: -p \(asked.appPort)/\(asked.transport.rawValue): host port \(port.hostPort) (\(port.hostText))\n"
            try? SystemCalls.writeAll(2, Array(line.utf8), name: "stderr")
        }
    }

    /// Waits until the gateway's process is confined and serving, then arms the fail-closed
    /// path: if it dies while the program runs, the sandbox's init (and with it the program)
    /// is killed, and `run` reports the gateway's death (exit 125). Returns the pidfd that
    /// names init (close it after the run): a pidfd never signals a recycled pid.
    static func failClosed(_ gateway: GatewayProcess, initPID: pid_t) throws(SandboxError) -> Int32 {
        try gateway.waitUntilReady()
        let handle = sbx_pidfd_open(initPID)
        guard handle >= 0 else {
            throw .system(PosixError(call: "pidfd_open", errno: errno), detail: "(the sandbox's init)")
        }
        gateway.onDeath { _ in _ = sbx_pidfd_send_signal(handle, SIGKILL) }
        return handle
    }
}
