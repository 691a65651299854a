import Glibc

/// What the default root (no `--rootfs`) takes from the host, read at plan time: the
/// allow-listed top-level entries as this host has them (a directory to bind, or a merged-/usr
/// symlink to recreate), the /etc entries "other" may not read (to hide), and the homes (where
/// the current directory is not bound).
public struct HostRoot: Sendable, Equatable {
    public enum Entry: Sendable, Equatable {
        case directory(String)
        case symlink(String, target: String)
    }

    /// The host's programs, libraries and configuration; nothing else of its / is shown.
    public static let allowList = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt", "/etc"]

    public var entries: [Entry]
    /// Host paths under /etc hidden in the sandbox (not world-readable, or not scanned).
    public var hiddenEtc: [String]
    /// Home directories: /etc/passwd's home fields, /root and /home.
    public var homes: [String]

    public init(entries: [Entry], hiddenEtc: [String], homes: [String]) {
        self.entries = entries
        self.hiddenEtc = hiddenEtc
        self.homes = homes
    }

    /// The host's well-known secrets under /etc, hidden whenever they are not world-readable,
    /// without a walk.
    public static let knownSecrets = [
        "/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/sudoers", "/etc/sudoers.d",
        "/etc/ssh/ssh_host_rsa_key", "/etc/ssh/ssh_host_ecdsa_key", "/etc/ssh/ssh_host_ed25519_key",
        "/etc/ssl/private", "/etc/security/opasswd", "/etc/krb5.keytab", "/etc/.pwd.lock"
    ]

    /// Reads the host: lstat of each allow-listed name, /etc/passwd, and what of /etc to hide.
    ///
    /// - Parameter walkEtc: walk all of /etc for what "other" may not read. Needed when the app
    ///   may hold host root's file access (`--userns host` or `on` as root): an owner's rights
    ///   need no capability. With the default identity the kernel already refuses every such
    ///   file to the app (its ids are unprivileged host ids), so only `knownSecrets` are hidden
    ///   and the walk (about 1,400 stats here, 3 ms of start-up) is skipped.
    public static func scan(walkEtc: Bool = true) -> HostRoot {
        var entries: [Entry] = []
        for path in allowList {
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFDIR: entries.append(.directory(path))
            case S_IFLNK: if let target = readLink(path) { entries.append(.symlink(path, target: target)) }
            default: continue
            }
        }
        var scan = EtcScan()
        if walkEtc {
            scan.walk("/etc", depth: 0)
        } else {
            scan.hidden = knownSecrets.filter { path in
                var st = stat()
                return lstat(path, &st) == 0 && st.st_mode & S_IFMT != S_IFLNK && st.st_mode & S_IROTH == 0
            }
        }
        return HostRoot(entries: entries, hiddenEtc: scan.hidden, homes: homeDirectories())
    }

    static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The sixth field of each /etc/passwd line, plus /root and /home.
    static func homeDirectories() -> [String] {
        var homes = ["/root", "/home"]
        guard let text = try? SystemCalls.readText("/etc/passwd") else { return homes }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count >= 6, fields[5].hasPrefix("/") else { continue }
            homes.append(VolumeMount.normalize(String(fields[5])))
        }
        return homes
    }
}

/// The walk of /etc, bounded because it runs on every `sandbox run`: what "other" may not read
/// is hidden; a directory "other" may not search is hidden whole; past the bounds, a directory
/// not read is hidden whole (fail closed). Symlinks are not followed (their target is hidden or
/// shown on its own account).
struct EtcScan {
    static let maxDepth = 6
    static let maxEntries = 8192

    var hidden: [String] = []
    var seen = 0

    mutating func walk(_ directory: String, depth: Int) {
        guard depth < Self.maxDepth, seen < Self.maxEntries, let dir = opendir(directory) else {
            hidden.append(directory)
            return
        }
        defer { closedir(dir) }
        var subdirectories: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            seen += 1
            let path = directory + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            let type = st.st_mode & S_IFMT
            if type == S_IFLNK { continue }
            if st.st_mode & S_IROTH == 0 || (type == S_IFDIR && st.st_mode & S_IXOTH == 0) {
                hidden.append(path)
            } else if type == S_IFDIR {
                subdirectories.append(path)
            }
        }
        for subdirectory in subdirectories { walk(subdirectory, depth: depth + 1) }
    }
}
