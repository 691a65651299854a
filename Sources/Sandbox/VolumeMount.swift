/// `-v HOST:PATH[:ro|:rw]`: a host path bound into the sandbox.
public struct VolumeMount: Sendable, Equatable {
    public var hostPath: String
    public var sandboxPath: String
    public var readOnly: Bool

    public init(hostPath: String, sandboxPath: String, readOnly: Bool) {
        self.hostPath = hostPath
        self.sandboxPath = sandboxPath
        self.readOnly = readOnly
    }

    public static func parse(_ text: String) throws(SandboxError) -> VolumeMount {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3 else {
            throw .invalidArgument("bad --volume \(text): expected HOST:PATH or HOST:PATH:ro")
        }
        var readOnly = false
        if parts.count == 3 {
            switch parts[2] {
            case "ro": readOnly = true
            case "rw": readOnly = false
            default: throw .invalidArgument("bad --volume \(text): the mode must be ro or rw, got \(parts[2])")
            }
        }
        let host = parts[0], inside = parts[1]
        guard host.hasPrefix("/"), inside.hasPrefix("/") else {
            throw .invalidArgument("bad --volume \(text): both paths must be absolute")
        }
        guard !inside.split(separator: "/").contains(".."), !host.split(separator: "/").contains("..") else {
            throw .invalidArgument("bad --volume \(text): paths may not contain '..'")
        }
        guard normalize(inside) != "/" else {
            throw .invalidArgument("bad --volume \(text): cannot mount over / (use --rootfs)")
        }
        return VolumeMount(hostPath: normalize(host), sandboxPath: normalize(inside), readOnly: readOnly)
    }

    /// Collapses repeated and trailing slashes and "." components.
    static func normalize(_ path: String) -> String {
        let parts = path.split(separator: "/").filter { $0 != "." }
        return "/" + parts.joined(separator: "/")
    }
}
