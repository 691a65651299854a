import CSeccomp
import FoundationEssentials
import Glibc

/// `--seccomp FILE`: an OCI runtime-spec seccomp profile (the JSON docker and podman use),
/// turned into a `SeccompPolicy`.
///
/// Only the native architecture is compiled (calls through any other ABI are killed whatever
/// the profile says), so `architectures` is not consulted. Docker's `includes`/`excludes`
/// conditions are honoured for what they can mean here: a rule that needs a capability is
/// skipped (the app has none), and so is one for another architecture or a newer kernel.
public enum OCISeccompProfile {
    struct Profile: Decodable {
        var defaultAction: String
        var defaultErrnoRet: UInt32?
        var syscalls: [SyscallRule]?
    }

    struct SyscallRule: Decodable {
        var names: [String]?
        var name: String?
        var action: String
        var errnoRet: UInt32?
        var args: [Argument]?
        var includes: Filter?
        var excludes: Filter?
    }

    struct Argument: Decodable {
        var index: UInt32
        var value: UInt64
        var valueTwo: UInt64?
        var op: String
    }

    struct Filter: Decodable {
        var caps: [String]?
        var arches: [String]?
        var minKernel: String?
    }

    /// Upper bounds so a hostile file cannot make the compiler work without end.
    static let maximumBytes = 4 << 20
    static let maximumRules = 4096

    public static func load(path: String) throws(SandboxError) -> SeccompPolicy {
        let bytes: [UInt8]
        do { bytes = try SystemCalls.readFile(path, limit: maximumBytes + 1) } catch {
            throw .invalidArgument("--seccomp \(path): cannot read the profile: \(error)")
        }
        guard bytes.count <= maximumBytes else { throw .invalidArgument("--seccomp \(path): larger than 4 MiB") }
        return try parse(bytes, source: path)
    }

    public static func parse(_ bytes: [UInt8], source: String = "profile") throws(SandboxError) -> SeccompPolicy {
        let profile: Profile
        do { profile = try JSONDecoder().decode(Profile.self, from: Data(bytes)) } catch {
            throw .invalidArgument(
                "--seccomp \(source): not an OCI seccomp profile: \(JSONErrorText.describe(error, in: bytes))")
        }
        let defaultErrno = Int32(clamping: profile.defaultErrnoRet ?? UInt32(EPERM))
        let defaultAction = try action(profile.defaultAction, errno: defaultErrno, source: source)
        var rules: [SeccompRule] = []
        for entry in profile.syscalls ?? [] {
            if let includes = entry.includes, !applies(includes) { continue }
            if let excludes = entry.excludes, excludes.arches?.contains(where: isNative) == true { continue }
            let ruleAction = try action(
                entry.action, errno: Int32(clamping: entry.errnoRet ?? UInt32(EPERM)), source: source)
            var conditions: [SeccompCondition] = []
            for argument in entry.args ?? [] {
                guard argument.index < 6 else {
                    throw .invalidArgument("--seccomp \(source): argument index \(argument.index) out of range 0...5")
                }
                conditions.append(
                    SeccompCondition(
                        argument: argument.index, op: try comparison(argument.op, source: source),
                        argument.value, argument.valueTwo ?? 0))
            }
            for name in (entry.names ?? []) + (entry.name.map { [$0] } ?? []) {
                for alternative in IntArgumentMasking.alternatives(name, conditions) {
                    rules.append(SeccompRule(name, ruleAction, alternative))
                    guard rules.count <= maximumRules else {
                        throw .invalidArgument("--seccomp \(source): more than \(maximumRules) rules")
                    }
                }
            }
        }
        return SeccompPolicy(defaultAction: defaultAction, rules: rules).forbiddingSetIDFiles()
    }

    /// One line per system call the profile names that libseccomp knows on no architecture (a
    /// typo, or a call newer than it): its rule cannot apply, so it is left out, as runc and
    /// crun do, but said. A call of another architecture only (docker's profiles list i386's
    /// and arm's) is left out silently. Empty when the file cannot be read or parsed (`load`
    /// reports that).
    public static func warnings(path: String) -> [String] {
        guard let bytes = try? SystemCalls.readFile(path, limit: maximumBytes),
            let profile = try? JSONDecoder().decode(Profile.self, from: Data(bytes))
        else { return [] }
        var seen = Set<String>()
        var lines: [String] = []
        for entry in profile.syscalls ?? [] {
            for name in (entry.names ?? []) + (entry.name.map { [$0] } ?? []) where seen.insert(name).inserted {
                guard !isKnownAnywhere(name) else { continue }
                let line = lineOf(quoted: name, in: bytes).map { " (line \($0))" } ?? ""
                lines.append("--seccomp \(path): unknown system call \"\(name)\"\(line); its rule is left out")
            }
        }
        return lines
    }

    static let architectures = [
        "x86_64", "x86", "x32", "aarch64", "arm", "riscv64", "ppc64le", "ppc64", "ppc", "s390x", "s390",
        "mips", "mips64", "mips64n32", "mipsel", "mipsel64", "mipsel64n32", "parisc", "parisc64"
    ]

    static func isKnownAnywhere(_ name: String) -> Bool {
        if seccomp_syscall_resolve_name(name) >= 0 { return true }
        return architectures.contains { arch in
            let token = seccomp_arch_resolve_name(arch)
            return token != 0 && seccomp_syscall_resolve_name_arch(token, name) >= 0
        }
    }

    /// The line of the first `"text"` in `bytes`.
    static func lineOf(quoted text: String, in bytes: [UInt8]) -> Int? {
        let needle = Array("\"\(text)\"".utf8)
        guard needle.count <= bytes.count else { return nil }
        for start in 0...(bytes.count - needle.count) where bytes[start..<(start + needle.count)].elementsEqual(needle)
        {
            return bytes[..<start].count(where: { $0 == UInt8(ascii: "\n") }) + 1
        }
        return nil
    }

    static func action(_ name: String, errno: Int32, source: String) throws(SandboxError) -> SeccompAction {
        switch name {
        case "SCMP_ACT_ALLOW": return .allow
        case "SCMP_ACT_ERRNO": return .errno(errno)
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": return .killThread
        case "SCMP_ACT_KILL_PROCESS": return .killProcess
        case "SCMP_ACT_TRAP": return .trap
        case "SCMP_ACT_LOG": return .log
        case "SCMP_ACT_TRACE": return .trace(UInt16(clamping: errno))
        default: throw .invalidArgument("--seccomp \(source): unsupported action \(name)")
        }
    }

    static func comparison(_ name: String, source: String) throws(SandboxError) -> SeccompCondition.Operator {
        switch name {
        case "SCMP_CMP_NE": return .notEqual
        case "SCMP_CMP_LT": return .lessThan
        case "SCMP_CMP_LE": return .lessOrEqual
        case "SCMP_CMP_EQ": return .equal
        case "SCMP_CMP_GE": return .greaterOrEqual
        case "SCMP_CMP_GT": return .greaterThan
        case "SCMP_CMP_MASKED_EQ": return .maskedEqual
        default: throw .invalidArgument("--seccomp \(source): unsupported comparison \(name)")
        }
    }

    static func applies(_ includes: Filter) -> Bool {
        if let caps = includes.caps, !caps.isEmpty { return false } // the app holds no capability
        if let arches = includes.arches, !arches.isEmpty, !arches.contains(where: isNative) { return false }
        if let minimum = includes.minKernel, !kernelAtLeast(minimum) { return false }
        return true
    }

    static func isNative(_ arch: String) -> Bool {
        #if arch(x86_64)
            return arch == "amd64" || arch == "x86_64" || arch == "SCMP_ARCH_X86_64"
        #elseif arch(arm64)
            return arch == "arm64" || arch == "aarch64" || arch == "SCMP_ARCH_AARCH64"
        #else
            return false
        #endif
    }

    static func kernelAtLeast(_ version: String) -> Bool {
        var name = utsname()
        guard uname(&name) == 0 else { return false }
        let release = withUnsafeBytes(of: &name.release) {
            String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        func numbers(_ text: String) -> [Int] {
            text.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        }
        return numbers(release).lexicographicallyPrecedes(numbers(version)) == false
    }
}
