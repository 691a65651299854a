import Glibc
import Posix

/// The processes of one sandbox: those in the pid namespace of its init (the supervisor and
/// the gateway are outside it), as the host sees them.
public enum SandboxProcesses {
    public struct Entry: Sendable, Equatable {
        public var pid: Int32
        public var command: String
    }

    public static func list(initPID: Int32) -> [Entry] {
        guard let namespace = namespaceID(initPID) else { return [] }
        guard let dir = opendir("/proc") else { return [] }
        defer { closedir(dir) }
        var out: [Entry] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard let pid = Int32(name), namespaceID(pid) == namespace else { continue }
            let bytes = (try? Posix.readFile("/proc/\(pid)/cmdline", limit: 4096)) ?? []
            // Init is a clone of the supervisor, never exec'd: its command line is the supervisor's.
            let command =
                pid == initPID
                ? "(sandbox init)"
                : bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
            out.append(Entry(pid: pid, command: command))
        }
        return out.sorted { $0.pid < $1.pid }
    }

    /// The pid namespace's identity ("pid:[4026532...]").
    static func namespaceID(_ pid: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: 64)
        let count = readlink("/proc/\(pid)/ns/pid", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
