// `--user USER[:GROUP]`: the ids the program runs as. Numbers are taken as they are; names are
// looked up in the sandbox root's /etc/passwd and /etc/group (its own accounts, not the
// launcher's: with --rootfs they differ), as docker and podman resolve them in the image.
// The two files are parsed here by hand: getpwnam(3) reads the launcher's databases (NSS),
// never another root's files.

public struct UserSpec: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32

    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }

    /// `text` as given to --user, names looked up in the files of the root at `root` (the host
    /// path of --rootfs, or / for the default root, whose /etc is the host's).
    public static func parse(_ text: String, inRoot root: String) throws(SandboxError) -> UserSpec {
        let base = root == "/" ? "" : root
        return try parse(text) { path in try? SystemCalls.readText(base + path) }
    }

    /// `text` as given to --user; `accounts` reads a file of the sandbox's root by its path
    /// there ("/etc/passwd"), nil when it is missing.
    public static func parse(_ text: String, accounts: (String) -> String? = { _ in nil }) throws(SandboxError)
        -> UserSpec
    {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 1 || parts.count == 2, parts.allSatisfy({ !$0.isEmpty }) else {
            throw .invalidArgument("bad --user \(text): expected USER or USER:GROUP (names or numbers)")
        }
        let user = try lookUp(parts[0], in: "/etc/passwd", accounts: accounts, for: text)
        guard parts.count == 2 else {
            // A name brings its primary group, a number stands for a group of the same number
            // (as before names were taken).
            return UserSpec(uid: user.id, gid: user.group ?? user.id)
        }
        let group = try lookUp(parts[1], in: "/etc/group", accounts: accounts, for: text)
        return UserSpec(uid: user.id, gid: group.id)
    }

    /// `--group-add GROUP`: a number, or a name in the sandbox root's /etc/group.
    public static func groupID(_ text: String, inRoot root: String) throws(SandboxError) -> UInt32 {
        let base = root == "/" ? "" : root
        do throws(SandboxError) {
            return try lookUp(text, in: "/etc/group", accounts: { try? SystemCalls.readText(base + $0) }, for: text).id
        } catch {
            throw .invalidArgument(
                "bad --group-add \(text): not a number, nor a group in the sandbox root's /etc/group")
        }
    }

    /// A number, or the entry named `name` in `file` (name:password:id:group...): its id and,
    /// for /etc/passwd, its primary group.
    private static func lookUp(
        _ name: String, in file: String, accounts: (String) -> String?, for text: String
    ) throws(SandboxError) -> (id: UInt32, group: UInt32?) {
        if let number = UInt32(name) {
            guard number != UInt32.max else { throw .invalidArgument("bad --user \(text): \(name) is not an id") }
            return (number, nil)
        }
        guard let contents = accounts(file) else {
            throw .invalidArgument("bad --user \(text): the sandbox's root has no \(file) to look \(name) up in")
        }
        for line in contents.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count >= 4, fields[0] == name else { continue }
            guard let id = UInt32(fields[2]), id != UInt32.max else {
                throw .invalidArgument("bad --user \(text): \(file) gives \(name) no valid id")
            }
            return (id, file == "/etc/passwd" ? UInt32(fields[3]) : nil)
        }
        throw .invalidArgument("bad --user \(text): no \(name) in the sandbox root's \(file)")
    }
}
