import ArgumentParser
import FoundationEssentials
import Sandbox
import UserNet

/// `sandbox network create|ls|inspect|rm`: named networks for sandboxes that reach each other.
struct NetworkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network",
        abstract: "Manage named networks: sandboxes on one reach each other by name.",
        discussion: """
            A network's gateway runs as one confined process, started by the first sandbox that \
            joins (`sandbox run --network NAME`) and gone with the last. Traffic between its \
            sandboxes crosses the gateway's switch; egress goes through its policy, as with \
            --net=user. Sandboxes on different networks, or on none, cannot reach each other.
            """,
        subcommands: [NetworkCreate.self, NetworkList.self, NetworkInspect.self, NetworkRemove.self]
    )
}

struct NetworkCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a named network (its gateway's flags are given here).")

    @OptionGroup(title: "The network's gateway (as with --net=user)")
    var gateway: GatewayFlags

    @OptionGroup(title: "Link faults of every sandbox on the network (a sandbox's own flags override)")
    var faults: LinkFaultFlags

    @Argument(help: "The network's name (letters, digits, _ . -).")
    var name: String

    func run() throws {
        try runtimeCommand { () throws(SandboxError) in
            let store = try NetworkStore()
            try NetworkStore.validate(name: name)
            if let flag = gateway.publish.first {
                throw .invalidArgument(
                    "-p \(flag): publish a port of one sandbox: `sandbox run --network \(name) -p ...`")
            }
            var flags = gateway
            if flags.cidr == nil { flags.cidr = try store.freeCIDR() }
            var options = try flags.options(
                arguments: Array(CommandLine.arguments.drop(while: { $0 != "create" })), onNetwork: true)
            options.linkFaults = try faults.linkFaults()
            for path in [options.pcapPath, options.connectionLogPath].compactMap({ $0 }) where !path.hasPrefix("/") {
                throw .invalidArgument("\(path): a network's files need absolute paths (its gateway starts elsewhere)")
            }
            try store.create(NetworkDefinition(name: name, options: options, created: ContainerRuntime.timestamp()))
            print(name)
        }
    }
}

struct NetworkList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List the named networks.", aliases: ["list"])

    @Flag(name: [.short, .long], help: "Only the names.")
    var quiet = false

    func run() throws {
        try runtimeCommand { () throws(SandboxError) in
            let store = try NetworkStore()
            let networks = store.list()
            if quiet { return networks.forEach { print($0.name) } }
            print(pad("NAME", 20) + pad("CIDR", 18) + "SANDBOXES")
            for network in networks {
                let members = (try? store.members(network.name))?.count ?? 0
                print(pad(network.name, 20) + pad(network.cidr, 18) + "\(members)")
            }
        }
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text + String(repeating: " ", count: max(1, width - text.count))
    }
}

struct NetworkInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Show a network's settings and the sandboxes on it, as JSON.")

    @Argument(help: "The network's name.")
    var name: String

    struct Member: Encodable {
        let names: [String], ipv4: String, ipv6: String, mac: String, faults: String
    }

    struct Report: Encodable {
        let name: String, cidr: String, gateway: String, dns: String, flags: [String], created: String
        let members: [Member]
        /// The gateway's counters while it runs (frames-switched, frames-spoofed, flows-opened...).
        let counters: [String: UInt64]?
    }

    func run() throws {
        try runtimeCommand { () throws(SandboxError) in
            let store = try NetworkStore()
            let definition = try store.load(name)
            let network = try definition.options().network
            let members = try store.members(name).map {
                Member(
                    names: $0.names.map(\.description), ipv4: "\($0.ipv4)", ipv6: "\($0.ipv6)", mac: "\($0.mac)",
                    faults: $0.faults.flagText)
            }
            let report = Report(
                name: definition.name, cidr: definition.cidr, gateway: "\(network.gatewayV4)", dns: "\(network.dnsV4)",
                flags: definition.flags, created: definition.created, members: members,
                counters: try store.counters(name))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            guard let data = try? encoder.encode(report) else { throw .invalidArgument("cannot encode the report") }
            print(String(decoding: data, as: UTF8.self))
        }
    }
}

struct NetworkRemove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Remove named networks.", aliases: ["remove"])

    @Flag(name: [.short, .long], help: "Also when sandboxes are on it: their links go down with its gateway.")
    var force = false

    @Argument(help: "The networks' names.")
    var names: [String]

    func run() throws {
        try runtimeCommand { () throws(SandboxError) in
            let store = try NetworkStore()
            for name in names {
                try store.remove(name, force: force)
                print(name)
            }
        }
    }
}
