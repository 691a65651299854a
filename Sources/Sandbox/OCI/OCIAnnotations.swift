import UserNet

/// Annotations `sandbox.<run flag>` set the gateway's options, as `sandbox run` flags do:
/// `sandbox.net=user|none|host`, `sandbox.allow`, `sandbox.allow-domain`, `sandbox.deny`
/// (comma-separated rules), `sandbox.dns`, `sandbox.pcap`, `sandbox.log-connections`,
/// `sandbox.allow-host-loopback=true`. `sandbox.pcap` and `sandbox.log-connections` name a file
/// in the container's state directory (a plain name: an annotation, which a pod's author
/// writes, never makes the runtime write a path of its choosing as root). `sandbox.net=host` is
/// refused: an annotation cannot take the app out of its network namespace. A map has no order, so the policy is built as allow
/// rules, then domain rules, then deny rules (first match wins, so an allow is an exception to
/// a deny, which is what a pair of annotations means). An unknown `sandbox.` key is refused.
enum OCIAnnotations {
    static let prefix = "sandbox."
    static let keys: Set<String> = [
        "net", "allow", "allow-domain", "deny", "dns", "pcap", "log-connections", "allow-host-loopback"
    ]

    static func apply(
        _ annotations: [String: String], to sandbox: inout SandboxConfiguration, engineResolvConf: String?,
        stateDirectory: String
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
            guard let mode = NetworkMode(rawValue: net), mode != .host else {
                throw .invalidArgument("annotation sandbox.net=\(net): use user or none")
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
        let pcap = try values["pcap"].map { (name) throws(SandboxError) in try file(name, "pcap", in: stateDirectory) }
        let log = try values["log-connections"].map { (name) throws(SandboxError) in
            try file(name, "log-connections", in: stateDirectory)
        }
        do {
            var options = try UserNetOptions(
                allowHostLoopback: values["allow-host-loopback"] == "true", dns: dns, policyArguments: policy,
                pcap: pcap, logConnections: log)
            if dns.isEmpty { options.network.dnsUpstreams = [] }
            sandbox.userNet = options
        } catch {
            throw .invalidArgument("annotations sandbox.*: \(error)")
        }
        // A container is on no named network of ours (its engine makes its networks).
        if let refusal = sandbox.userNet?.policy.memberRuleOffNetwork {
            throw .invalidArgument("annotations sandbox.allow/deny: \(refusal)")
        }
        if let engineFile {
            sandbox.resolver = ResolverFile(
                search: ResolvConf.words(of: "search", in: engineFile),
                options: ResolvConf.words(of: "options", in: engineFile))
        }
    }

    /// `directory/annotation-name` for a plain file name (letters, digits, `.`, `-`, `_`; not
    /// `.` or `..`): the prefix keeps it apart from the runtime's own files there.
    static func file(_ name: String, _ key: String, in directory: String) throws(SandboxError) -> String {
        guard (try? OCIRuntime.validate(id: name)) != nil, !name.contains("+") else {
            throw .invalidArgument(
                "annotation sandbox.\(key)=\(name): give a file name (letters, digits, . - _); it is written in the container's state directory"
            )
        }
        return directory + "/annotation-" + name
    }
}
