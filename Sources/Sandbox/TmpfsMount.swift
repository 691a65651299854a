/// `--tmpfs PATH[:OPTIONS]` (and an OCI tmpfs mount): a fresh tmpfs in the sandbox, nosuid and
/// nodev, discarded when the sandbox ends.
public struct TmpfsMount: Sendable, Equatable {
    public var sandboxPath: String
    /// tmpfs(5) options passed to the kernel, e.g. "size=64m,mode=1777"; docker's default mode.
    public var options: String

    public init(sandboxPath: String, options: String = "mode=1777") {
        self.sandboxPath = sandboxPath
        self.options = options
    }

    /// The tmpfs options a sandbox may pass: sizes and modes, not ones that name host ids or
    /// a NUMA policy (nr_inodes, size, mode, uid, gid inside the sandbox are all safe).
    static let allowedOptions: Set<String> = ["size", "mode", "nr_inodes", "nr_blocks", "uid", "gid"]

    public static func parse(_ text: String) throws(SandboxError) -> TmpfsMount {
        let path: Substring, optionText: Substring?
        if let colon = text.firstIndex(of: ":") {
            path = text[..<colon]
            optionText = text[text.index(after: colon)...]
        } else {
            path = Substring(text)
            optionText = nil
        }
        guard path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
            throw .invalidArgument("bad --tmpfs \(text): the path must be absolute, without '..'")
        }
        guard VolumeMount.normalize(String(path)) != "/" else {
            throw .invalidArgument("bad --tmpfs \(text): cannot mount over /")
        }
        var mount = TmpfsMount(sandboxPath: VolumeMount.normalize(String(path)))
        if let optionText {
            mount.options = try options(String(optionText), for: "--tmpfs \(text)")
        }
        return mount
    }

    /// Validates `a=b,c=d` against `allowedOptions`; returns what goes to the kernel, with
    /// mode=1777 unless a mode is given.
    static func options(_ text: String, for what: String) throws(SandboxError) -> String {
        var kept: [String] = []
        for word in text.split(separator: ",") {
            let name = word.split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
            guard allowedOptions.contains(name), word.contains("="),
                !word.contains(where: { $0.isWhitespace })
            else {
                throw .invalidArgument(
                    "bad \(what): unknown tmpfs option \(word) (use size=, mode=, nr_inodes=, uid=, gid=)")
            }
            kept.append(String(word))
        }
        if !kept.contains(where: { $0.hasPrefix("mode=") }) { kept.append("mode=1777") }
        return kept.joined(separator: ",")
    }
}
