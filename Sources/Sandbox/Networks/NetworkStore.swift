// Named networks (`sandbox network create`): each a directory under the caller's state
// directory (/run/sandbox/networks/NAME for root), holding its definition (network.json: the
// gateway flags it was created with and its IPv4 network), the lock its members' launchers and
// its holder take, and, while any sandbox is on it, the holder's socket (NetworkHolder).
// Definitions live as long as the state directory (until reboot, on /run): networks for test
// runs, not for a host's lifetime.

import FDBased
import FoundationEssentials
import Glibc
import Posix
import UserNet
import Wire

/// What `sandbox network create` stored.
public struct NetworkDefinition: Codable, Sendable, Equatable {
    public var name: String
    /// Its IPv4 network, e.g. 10.89.0.0/24 (also among `flags`, as --cidr).
    public var cidr: String
    /// The gateway flags (UserNetOptions.flags): --cidr, policy, --dns, link faults...
    public var flags: [String]
    /// `--pcap` and `--log-connections` of the network (absolute paths), which `flags` leaves out.
    public var pcap: String?
    public var logConnections: String?
    public var created: String

    /// The definition of `options` (as `sandbox network create` parsed them).
    public init(name: String, options: UserNetOptions, created: String) {
        self.name = name
        cidr = options.network.ipv4Network.description
        flags = options.flags
        pcap = options.pcapPath
        logConnections = options.connectionLogPath
        self.created = created
    }

    /// The gateway's options, as every member and the network's gateway see them.
    public func options() throws(SandboxError) -> UserNetOptions {
        var options: UserNetOptions
        do { options = try UserNetOptions(flags: flags) } catch {
            throw .invalidArgument("network \(name): its stored flags: \(error)")
        }
        options.pcapPath = pcap
        options.connectionLogPath = logConnections
        return options
    }
}

public struct NetworkStore: Sendable {
    public let root: String
    static let definitionFile = "network.json"
    static let socketName = "gateway.sock"
    static let lockName = "lock"
    /// How the network's gateway reads its members' rings; their launchers set the rings up so.
    static let dispatchMode = PacketDispatchMode.packetMMap
    /// Where a network's first free /24 is looked for: 10.89.0.0/16, podman's default range.
    static let automaticSecondOctet = 89

    /// The caller's store; throws when a rootless caller has no runtime directory.
    public init() throws(SandboxError) {
        guard let directory = try StateDirectory.subdirectory("networks") else {
            throw .notAvailable("named networks need a state directory: set XDG_RUNTIME_DIR (rootless) or run as root")
        }
        root = directory
    }

    public init(root: String) { self.root = root }

    public func directory(_ name: String) -> String { root + "/" + name }
    func socketPath(_ name: String) -> String { directory(name) + "/" + Self.socketName }

    /// Like a container's name: a letter or digit, then letters, digits, `_`, `.`, `-`; at most 63.
    public static func validate(name: String, what: String = "network name") throws(SandboxError) {
        let bytes = Array(name.utf8)
        func allowed(_ byte: UInt8) -> Bool {
            (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
        }
        guard let first = bytes.first, allowed(first), bytes.count <= 63,
            bytes.allSatisfy({
                allowed($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
            })
        else {
            throw .invalidArgument(
                "bad \(what) \"\(name)\": use letters, digits, _ . - (at most 63, starting with a letter or digit)")
        }
    }

    public func load(_ name: String) throws(SandboxError) -> NetworkDefinition {
        try Self.validate(name: name)
        let path = directory(name) + "/" + Self.definitionFile
        let bytes: [UInt8]
        do { bytes = try Posix.readFile(path, limit: 1 << 20) } catch {
            if error.errno == ENOENT {
                throw .invalidArgument("no network \(name): create it with `sandbox network create \(name)`")
            }
            throw .system(error, detail: path)
        }
        guard let definition = try? JSONDecoder().decode(NetworkDefinition.self, from: Data(bytes)) else {
            throw .invalidArgument("network \(name): \(path) is not a network definition")
        }
        return definition
    }

    public func list() -> [NetworkDefinition] {
        guard let dir = opendir(root) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names.sorted().compactMap { try? load($0) }
    }

    /// Stores `definition`; refuses a name in use and an IPv4 network that overlaps another's.
    public func create(_ definition: NetworkDefinition) throws(SandboxError) {
        try Self.validate(name: definition.name)
        let wanted = try Self.subnet(definition.cidr)
        for other in list() {
            if let subnet = try? Self.subnet(other.cidr), subnet.overlaps(wanted) {
                throw .invalidArgument("--cidr \(definition.cidr) overlaps network \(other.name) (\(other.cidr))")
            }
        }
        let path = directory(definition.name)
        guard mkdir(path, 0o700) == 0 else {
            if errno == EEXIST { throw .invalidArgument("network \(definition.name) exists already") }
            throw .system(PosixError(call: "mkdir", errno: errno), detail: path)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(definition) else { throw .invalidArgument("cannot encode the network") }
        try SystemCalls.createFile(path + "/" + Self.definitionFile, String(decoding: data, as: UTF8.self) + "\n")
    }

    /// The first 10.89.N.0/24 no other network uses.
    public func freeCIDR() throws(SandboxError) -> String {
        let taken = list().compactMap { try? Self.subnet($0.cidr) }
        for third in 0..<256 {
            let text = "10.\(Self.automaticSecondOctet).\(third).0/24"
            if let subnet = try? Self.subnet(text), !taken.contains(where: { $0.overlaps(subnet) }) { return text }
        }
        throw .notAvailable("no free 10.89.N.0/24 network left: give --cidr")
    }

    /// Removes the definition (its holder must be gone).
    public func remove(_ name: String) throws(SandboxError) {
        try Self.validate(name: name)
        let path = directory(name)
        for file in [Self.definitionFile, Self.lockName, Self.socketName] + NetworkHolder.logNames {
            unlink(path + "/" + file)
        }
        guard rmdir(path) == 0 else {
            if errno == ENOENT { throw .invalidArgument("no network \(name)") }
            throw .system(PosixError(call: "rmdir", errno: errno), detail: path)
        }
    }

    /// The network's lock (flock), held by a launcher while it joins, by `network rm`, and by
    /// the holder while it decides to end; released when the returned descriptor is closed.
    /// `wait` false: throws at once when another holds it.
    func lock(_ name: String, wait: Bool = true) throws(SandboxError) -> Int32 {
        let path = directory(name) + "/" + Self.lockName
        let fd = try SystemCalls.open(path, O_RDWR | O_CREAT | O_CLOEXEC, mode: 0o600)
        guard flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            Posix.close(fd)
            throw .system(PosixError(call: "flock", errno: code), detail: path)
        }
        return fd
    }

    static func subnet(_ cidr: String) throws(SandboxError) -> IPv4Subnet {
        guard let parsed = try? IPSubnet(parsing: cidr), case .v4(let network) = parsed.network else {
            throw .invalidArgument("bad --cidr \(cidr): expected an IPv4 network such as 10.89.0.0/24")
        }
        return IPv4Subnet(network, prefixLength: parsed.prefixLength)
    }
}

extension IPv4Subnet {
    func overlaps(_ other: IPv4Subnet) -> Bool { contains(other.network) || other.contains(network) }
}
