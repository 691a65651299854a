import ArgumentParser
import Glibc
import Netlink
import Sandbox
import UserNet

/// `sandbox usernet --netns PATH|PID [flags]`: the gateway alone, for a namespace someone else
/// made (as `slirp4netns --configure PID tap0`).
struct UsernetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usernet",
        abstract: "Attach the user-mode gateway to an existing network namespace.",
        usage: "sandbox usernet --netns PATH|PID [OPTIONS]",
        discussion: """
            Creates a veth pair whose inside end (eth0 by default) appears in the target \
            namespace, configures it (address 10.0.2.100/24 or the --cidr equivalent, the MTU, \
            up; lo up; default route via the gateway 10.0.2.2; IPv6 by the gateway's router \
            advertisements in fd00::/64) and runs the gateway on the other end until SIGINT, SIGTERM or \
            SIGHUP. The \
            other end lives in a network namespace of its own that exists only while this \
            command runs: nothing is added to this host's namespace, and when the command ends \
            (even killed) the kernel removes the veth. Point the namespace's resolv.conf at \
            the DNS forwarder, 10.0.2.3.

            The gateway's host sockets are made in this command's network namespace: that is \
            where the namespace's traffic leaves from. Needs root (it configures the target \
            namespace and makes the gateway's own).

            Example:
              unshare -n sleep infinity &
              sandbox usernet --netns $! -p 8080:80
            """
    )

    @Option(
        help: ArgumentHelp(
            "The network namespace: a namespace file (/proc/PID/ns/net, /run/netns/NAME) or the pid of a process in it. Required.",
            valueName: "PATH|PID"))
    var netns: String

    @Option(help: ArgumentHelp("Name of the interface made in the target namespace.", valueName: "NAME"))
    var interface: String = "eth0"

    @OptionGroup(title: "Gateway")
    var userNet: GatewayFlags

    @OptionGroup(title: "Link faults")
    var faults: LinkFaultFlags

    @OptionGroup(title: "Logging")
    var logging: LogFlags

    func run() throws {
        do {
            try attachAndWait()
        } catch {
            FileHandleStderr.write("sandbox usernet: \(error)\n")
            throw ExitCode(error.exitCode)
        }
    }

    private func attachAndWait() throws(SandboxError) {
        let namespace: NetworkNamespace
        if let pid = Int32(netns), pid > 0 {
            namespace = .process(pid)
        } else if netns.hasPrefix("/") {
            namespace = .path(netns)
        } else {
            throw .invalidArgument("bad --netns \(netns): expected a namespace file path or a pid")
        }
        let log = try logging.settings()
        log.bootstrap()
        var launch = userNet.launch
        launch.log = log
        var options = try userNet.options(arguments: CommandLine.arguments)
        options.linkFaults = try faults.linkFaults()
        let dispatch = try userNet.dispatchMode()

        // Taken synchronously below: blocked before the gateway's thread starts, so that thread
        // inherits the mask and the signals come to sigwait.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&stopSignals, signal) }
        pthread_sigmask(SIG_BLOCK, &stopSignals, nil)

        let gateway = try GatewayWiring.attach(
            to: namespace, interface: interface, options: options, dispatch: dispatch,
            launch: launch)
        // Fail closed: a dead gateway ends this command (exit 125) instead of leaving the
        // namespace with a silently dead network. The signal wakes the sigwait below.
        gateway.onDeath { _ in kill(getpid(), SIGTERM) }
        let network = options.network
        print(
            "sandbox usernet: \(interface) \(network.appV4)/\(network.ipv4Network.prefixLength) in \(netns); "
                + "gateway \(network.gatewayV4), DNS \(network.dnsV4); "
                + "\(options.publishedPorts.count) published port(s). SIGINT, SIGTERM or SIGHUP stops.")
        fflush(nil)
        var received: Int32 = 0
        while sigwait(&stopSignals, &received) != 0 {}
        if let reason = gateway.deathReason { throw .gatewayDied(reason) }
        // The veth goes with the gateway's process: this command ends once it has.
        let counters = gateway.stop(untilExit: true)
        if let counters {
            print(
                "sandbox usernet: stopped (\(received == SIGINT ? "SIGINT" : received == SIGTERM ? "SIGTERM" : "SIGHUP")); "
                    + "\(counters.flowsOpened) flows, \(counters.flowsDenied) denied, \(counters.inboundConnections) inbound"
            )
        }
    }
}
