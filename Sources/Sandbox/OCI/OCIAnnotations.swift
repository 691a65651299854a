import UserNet

/// Annotations `sandbox.<run flag>` set the gateway's options, as `sandbox run` flags do:
/// `sandbox.net=user|none|host`, `sandbox.allow`, `sandbox.allow-domain`, `sandbox.deny`
/// (comma-separated rules), `sandbox.dns`, `sandbox.pcap`, `sandbox.log-connections`,
/// `sandbox.allow-host-loopback=true`. A map has no order, so the policy is built as allow
/// rules, then domain rules, then deny rules (first match wins, so an allow is an exception to
/// a deny, which is what a pair of annotations means). An unknown `sandbox.` key is refused.
enum OCIAnnotations {
    static let prefix = "sandbox."
    static let keys: Set<String> = [
        "net", "allow", "allow-domain", "deny", "dns", "pcap", "log-connections", "allow-host-loopback"
    ]

    static func apply(
        _ annotations: [String: String], to sandbox: inout SandboxConfiguration, engineResolvConf: String?
    ) throws(SandboxError) {
        var values: [String: String] = [:]
        for (key, value) in annotations where key.hasPrefix(prefix) {
            let name = String(key.dropFirst(prefix.count))
            guard keys.contains(name) else {
                throw .invalidArgument(
                    "annotation \(key): unknown (known: \(keys.sorted().map { prefix + $0 }.joined(separator: ", ")))")
            }
            values[name] = value
        }
        if let net = values["net"] {
            guard let mode = NetworkMode(rawValue: net) else {
                throw .invalidArgument("annotation sandbox.net=\(net): use user, none or host")
            }
            sandbox.network = mode
        }
        guard sandbox.network == .user else {
            if let flag = values.keys.sorted().first(where: { $0 != "net" }) {
                throw .invalidArgument("annotation sandbox.\(flag) needs sandbox.net=user")
            }
            return
        }
        let list = { (name: String) in values[name].map { $0.split(separator: ",").map(String.init) } ?? [] }
        let policy =
            list("allow").map { (flag: "--allow", value: $0) }
            + list("allow-domain").map { (flag: "--allow-domain", value: $0) }
            + list("deny").map { (flag: "--deny", value: $0) }
        let engineFile = engineResolvConf.flatMap { ResolvConf.text(path: $0) }
        // The engine's resolvers are reached from its namespace, where the gateway's sockets are.
        let dns =
            values["dns"].map { $0.split(separator: ",").map(String.init) }
            ?? engineFile.map { ResolvConf.nameservers(in: $0).map(\.description) } ?? []
        do {
            var options = try UserNetOptions(
                allowHostLoopback: values["allow-host-loopback"] == "true", dns: dns, policyArguments: policy,
                pcap: values["pcap"], logConnections: values["log-connections"])
            if dns.isEmpty { options.network.dnsUpstreams = [] }
            sandbox.userNet = options
        } catch {
            throw .invalidArgument("annotations sandbox.*: \(error)")
        }
        if let engineFile {
            sandbox.resolver = ResolverFile(
                search: ResolvConf.words(of: "search", in: engineFile),
                options: ResolvConf.words(of: "options", in: engineFile))
        }
    }
}
