// `--net=user`: the wiring between a network namespace and the user-mode gateway.
//
//     app netns                     gateway netns (owned by the sandbox)      launcher's netns
//     eth0 10.0.2.100/24  <-veth->  gw0 (up, no address) <- AF_PACKET ring -> Gateway -> host sockets
//
// The gateway's namespace is made by whoever holds the privilege over the app's namespace
// (the sandbox's init, inside the sandbox's user namespace, so this works rootless; or the
// launcher itself as root for `sandbox usernet`) and is reachable only through three
// descriptors (`OuterNetwork`). Only the packet socket lives on: it keeps the namespace, and
// with it the veth, alive, so when the gateway's process ends (or the launcher dies, taking it
// along) the kernel removes both ends. Nothing is named, nothing touches the launcher's own
// namespace but the gateway's host sockets, which its confined process (GatewayProcess) makes
// in the launcher's network namespace.

import CLauncher
import FDBased
import Glibc
import Netlink
import Posix
import UserNet
import Wire

/// The gateway's side of the link before the veth exists: descriptors of a fresh network
/// namespace (see `sbx_open_outer_network`). Owned: `close()` releases them.
public struct OuterNetwork: Sendable {
    /// NETLINK_ROUTE socket inside the gateway's namespace.
    public let netlinkSocket: Int32
    /// The namespace file, for IFLA_NET_NS_FD when creating the veth's peer there.
    public let namespaceFD: Int32
    /// An unbound AF_PACKET socket made inside the gateway's namespace.
    public let packetSocket: Int32

    public init(netlinkSocket: Int32, namespaceFD: Int32, packetSocket: Int32) {
        self.netlinkSocket = netlinkSocket
        self.namespaceFD = namespaceFD
        self.packetSocket = packetSocket
    }

    /// Makes one from the calling thread (which needs CAP_SYS_ADMIN and CAP_NET_RAW: root); the
    /// thread is back in its own namespace when this returns.
    public static func make() throws(SandboxError) -> OuterNetwork {
        var fds: [Int32] = [-1, -1, -1]
        guard sbx_open_outer_network(&fds) == 0 else {
            throw .system(
                PosixError(call: "unshare(CLONE_NEWNET)", errno: errno),
                detail: "(the gateway's network namespace; needs root)")
        }
        return OuterNetwork(netlinkSocket: fds[0], namespaceFD: fds[1], packetSocket: fds[2])
    }

    func close() {
        for fd in [netlinkSocket, namespaceFD, packetSocket] { Posix.close(fd) }
    }
}

/// Creates the veth between an app namespace and a gateway namespace, configures the app's
/// side, and starts the gateway on the other.
public enum GatewayWiring {
    /// The interface the gateway reads in its own namespace.
    public static let gatewayInterface = "gw0"

    /// Starts the gateway's confined process on `outer`'s packet socket (GatewayProcess; not yet
    /// waited for), then wires `app` (an rtnetlink client in the app's namespace) to it. Takes
    /// ownership of `outer` (closed on every path; the gateway's process holds its own copy of
    /// the packet socket). `bringLoopbackUp` is for namespaces nobody else set up (`sandbox usernet`).
    public static func start(
        app: RouteNetlink, outer: OuterNetwork, interface: String = "eth0",
        options: UserNetOptions, dispatch: PacketDispatchMode,
        bringLoopbackUp: Bool = false, cgroups: CgroupPlacement? = nil,
        launch: GatewayProcess.Launch = .init()
    ) throws(SandboxError) -> GatewayProcess {
        defer { outer.close() }
        let resolved: UserNetOptions
        do { resolved = try withRoutableResolvers(options) } catch { throw .network("start the gateway: \(error)") }
        // First, so that its exec, isolation and ring set-up overlap the wiring below: the
        // packet socket is bound afterwards, and sees no frame until then. Should the wiring
        // fail, the process is stopped as `gateway` goes.
        let gateway = try GatewayProcess.start(
            options: resolved, packetSocket: outer.packetSocket, dispatch: dispatch,
            cgroups: cgroups, launch: launch)
        try wire(
            app: app, outer: outer, interface: interface, network: options.network, bringLoopbackUp: bringLoopbackUp)
        return gateway
    }

    /// A named network's member: wires `app` to `outer` with the member's MAC and addresses
    /// (`options.network` is placed at them), then hands the packet socket to the network's
    /// gateway. Takes ownership of `outer`, as `start` does.
    static func join(
        app: RouteNetlink, outer: OuterNetwork, interface: String = "eth0", options: UserNetOptions,
        attachment: NetworkAttachment
    ) throws(SandboxError) {
        defer { outer.close() }
        var settings = Gateway.Settings()
        settings.dispatchMode = NetworkStore.dispatchMode
        // The ring before the bind, as a sandbox's own gateway has it (Gateway.preparePacketSocket).
        do { try Gateway.preparePacketSocket(outer.packetSocket, options: options, settings: settings) } catch {
            throw .network("join network \(attachment.definition.name): \(error)")
        }
        try wire(
            app: app, outer: outer, interface: interface, network: options.network, bringLoopbackUp: false,
            appMAC: attachment.member.mac)
        try attachment.link(packetSocket: outer.packetSocket)
    }

    /// The veth with its gateway end bound to the packet socket, and the app's end configured.
    private static func wire(
        app: RouteNetlink, outer: OuterNetwork, interface: String, network: NetworkConfiguration,
        bringLoopbackUp: Bool, appMAC: MACAddress? = nil
    ) throws(SandboxError) {
        do throws(NetlinkError) {
            let gatewaySide = try RouteNetlink(duplicating: outer.netlinkSocket)
            // Both ends are born in their own namespaces: the gateway's end never appears in
            // the app's namespace or the launcher's.
            try app.createVethPair(
                name: interface, peerName: gatewayInterface,
                peerNamespace: .fileDescriptor(outer.namespaceFD), mtu: UInt32(network.mtu))
            let gatewayIndex = try gatewaySide.index(of: gatewayInterface)
            try gatewaySide.setLinkUp(index: gatewayIndex)
            guard sbx_bind_packet_socket(outer.packetSocket, gatewayIndex) == 0 else {
                throw .system(PosixError(call: "bind(AF_PACKET, \(gatewayInterface))", errno: errno))
            }

            let appIndex = try app.index(of: interface)
            // A network's switch knows each member by the MAC it gave it.
            if let appMAC { try app.setMACAddress(index: appIndex, appMAC) }
            if bringLoopbackUp { try app.setLinkUp(index: try app.index(of: "lo")) }
            try app.addAddress(network.appV4, prefixLength: UInt8(network.ipv4Network.prefixLength), index: appIndex)
            // IPv6 works from the program's first instruction: a fixed address without
            // duplicate address detection (nobody else is on this link) and a default route.
            // Left to router advertisements alone, the kernel solicits one only after its
            // link-local address passed DAD, and IPv6 was unreachable for the first second.
            try app.addAddress(network.appV6, prefixLength: 64, index: appIndex, skipDuplicateAddressDetection: true)
            try app.setLinkUp(index: appIndex)
            try app.addDefaultRoute(via: network.gatewayV4, index: appIndex)
            try app.addDefaultRoute(via: network.gatewayV6, index: appIndex)
        } catch {
            throw .network("wire the sandbox's network: \(error)")
        }
    }

    /// The gateway connects one UDP socket to each upstream resolver as it starts, and a
    /// resolver it has no route to (an offline host; a namespace with only loopback) would stop
    /// it from starting at all. So the resolvers taken from the host's resolv.conf are probed the
    /// same way here (connect, from the namespace the gateway's sockets use) and the unroutable
    /// ones are left out: the sandbox starts, and names fail to resolve there as they do on the
    /// host. Resolvers given with --dns are kept as given (a mistake there should be an error).
    static func withRoutableResolvers(_ options: UserNetOptions) throws(GatewayError) -> UserNetOptions {
        guard options.network.dnsUpstreams == nil else { return options }
        let configured: [SocketAddress]
        do { configured = try ResolvConf.upstreams() } catch { throw .resolvConf(error) }
        var adjusted = options
        adjusted.network.dnsUpstreams = configured.filter { upstream in
            (try? HostUDPSocket(connectingTo: upstream)) != nil
        }
        return adjusted
    }

    /// `sandbox usernet --netns`: attaches a gateway to an existing network namespace (a path
    /// such as /proc/PID/ns/net or /run/netns/NAME), as `slirp4netns --configure` does. Root only:
    /// it joins that namespace to configure it and makes the gateway's namespace itself.
    public static func attach(
        to namespace: NetworkNamespace, interface: String, options: UserNetOptions,
        dispatch: PacketDispatchMode, launch: GatewayProcess.Launch = .init()
    ) throws(SandboxError) -> GatewayProcess {
        let app: RouteNetlink
        do { app = try RouteNetlink(in: namespace) } catch {
            throw .network("open rtnetlink in the target namespace: \(error)")
        }
        let outer = try OuterNetwork.make()
        let gateway = try start(
            app: app, outer: outer, interface: interface, options: options, dispatch: dispatch,
            bringLoopbackUp: true, launch: launch)
        try gateway.waitUntilReady()
        return gateway
    }
}

/// /etc/resolv.conf and /etc/hosts for a `--net=user` sandbox (both families: the host name
/// names the app's addresses, host.sandbox.internal the gateway's, as the DNS forwarder
/// answers them), written to a private directory of the launcher and bound read-only over the
/// sandbox's files.
struct NetworkFiles {
    let directory: String

    static func create(
        network: NetworkConfiguration, hostname: String, extraHosts: [ExtraHost] = [],
        resolver: ResolverFile = ResolverFile()
    ) throws(SandboxError) -> NetworkFiles {
        var template = Array("/tmp/sandbox-net-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress.map { mkdtemp($0) } ?? nil
        }
        guard made != nil else {
            throw .system(PosixError(call: "mkdtemp", errno: errno), detail: "/tmp/sandbox-net-XXXXXX")
        }
        let directory = String(
            decoding: template.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // The sandbox's root is an unprivileged host uid by default: it must reach these public
        // files (mkdtemp makes the directory 0700).
        _ = chmod(directory, 0o755)
        let files = NetworkFiles(directory: directory)
        do {
            try files.write("resolv.conf", resolver.text(network: network, host: ResolvConf.text()))
            try files.write(
                "hosts",
                """
                127.0.0.1 localhost
                ::1 localhost ip6-localhost ip6-loopback
                \(network.appV4) \(hostname)
                \(network.appV6) \(hostname)
                \(network.gatewayV4) \(LocalNames.gatewayName)
                \(network.gatewayV6) \(LocalNames.gatewayName)

                """ + extraHosts.flatMap { $0.hostsLines(in: network) }.map { $0 + "\n" }.joined())
        } catch {
            files.remove()
            throw error
        }
        return files
    }

    /// The read-only binds that put the files in place (before the user's own volumes, so a
    /// `-v` over /etc/resolv.conf still wins).
    var volumes: [VolumeMount] {
        ["resolv.conf", "hosts"].map {
            VolumeMount(hostPath: directory + "/" + $0, sandboxPath: "/etc/" + $0, readOnly: true)
        }
    }

    private func write(_ name: String, _ text: String) throws(SandboxError) {
        let fd = try SystemCalls.open(directory + "/" + name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode: 0o644)
        defer { Posix.close(fd) }
        try SystemCalls.writeAll(fd, Array(text.utf8), name: name)
    }

    /// Removes the files and the directory (the sandbox keeps its binds). Idempotent.
    func remove() {
        for name in ["resolv.conf", "hosts"] { unlink(directory + "/" + name) }
        rmdir(directory)
    }
}
