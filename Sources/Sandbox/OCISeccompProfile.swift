import Glibc

/// `--seccomp FILE`: an OCI runtime-spec seccomp profile (the JSON docker and podman use),
/// turned into a `SeccompPolicy`.
///
/// Only the native architecture is compiled (calls through any other ABI are killed whatever
/// the profile says), so `architectures` is not consulted. Docker's `includes`/`excludes`
/// conditions are honoured for what they can mean here: a rule that needs a capability is
/// skipped (the app has none), and so is one for another architecture or a newer kernel.
public enum OCISeccompProfile {
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
        let root: JSONValue
        do { root = try JSONValue.parse(bytes) } catch {
            throw .invalidArgument("--seccomp \(source): not valid JSON: \(error)")
        }
        func bad(_ what: String) -> SandboxError { .invalidArgument("--seccomp \(source): not an OCI seccomp profile: \(what)") }
        guard case .object = root else { throw bad("the top level is not an object") }
        guard case .string(let defaultName)? = root["defaultAction"] else { throw bad("no defaultAction") }
        let defaultErrno = try errnoValue(root["defaultErrnoRet"], source: source)
        let defaultAction = try action(defaultName, errno: defaultErrno, source: source)
        var rules: [SeccompRule] = []
        let entries: [JSONValue]
        switch root["syscalls"] {
        case nil, .null?: entries = []
        case .array(let list)?: entries = list
        default: throw bad("syscalls is not an array")
        }
        for entry in entries {
            guard case .object = entry else { throw bad("a syscalls entry is not an object") }
            if let includes = entry["includes"], !applies(includes) { continue }
            if let excludes = entry["excludes"], strings(excludes["arches"]).contains(where: isNative) { continue }
            guard case .string(let actionName)? = entry["action"] else { throw bad("a syscalls entry has no action") }
            let ruleAction = try action(actionName, errno: try errnoValue(entry["errnoRet"], source: source), source: source)
            var conditions: [SeccompCondition] = []
            switch entry["args"] {
            case nil, .null?: break
            case .array(let arguments)?:
                for argument in arguments {
                    guard let index = unsigned(argument["index"]), index < 6 else { throw bad("an argument index is not 0...5") }
                    guard let value = unsigned(argument["value"]) else { throw bad("an argument value is not a 64-bit unsigned number") }
                    let valueTwo: UInt64
                    switch argument["valueTwo"] {
                    case nil, .null?: valueTwo = 0
                    case let other?:
                        guard let parsed = unsigned(other) else { throw bad("an argument valueTwo is not a 64-bit unsigned number") }
                        valueTwo = parsed
                    }
                    guard case .string(let op)? = argument["op"] else { throw bad("an argument has no op") }
                    conditions.append(SeccompCondition(argument: UInt32(index), op: try comparison(op, source: source), value, valueTwo))
                }
            default: throw bad("args is not an array")
            }
            var names = strings(entry["names"])
            if case .string(let single)? = entry["name"] { names.append(single) }
            for name in names {
                rules.append(SeccompRule(name, ruleAction, conditions))
                guard rules.count <= maximumRules else { throw .invalidArgument("--seccomp \(source): more than \(maximumRules) rules") }
            }
        }
        return SeccompPolicy(defaultAction: defaultAction, rules: rules)
    }

    /// A JSON number that is a whole number in 0...UInt64.max, exactly.
    static func unsigned(_ value: JSONValue?) -> UInt64? {
        guard case .number(let text)? = value else { return nil }
        return UInt64(text)
    }

    static func strings(_ value: JSONValue?) -> [String] {
        guard case .array(let items)? = value else { return [] }
        return items.compactMap { if case .string(let text) = $0 { return text } else { return nil } }
    }

    static func errnoValue(_ value: JSONValue?, source: String) throws(SandboxError) -> Int32 {
        guard let value, value != .null else { return EPERM }
        guard let number = unsigned(value), number <= 4095 else {
            throw .invalidArgument("--seccomp \(source): errnoRet must be an errno number 0...4095")
        }
        return Int32(number)
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

    static func applies(_ includes: JSONValue) -> Bool {
        if !strings(includes["caps"]).isEmpty { return false }  // the app holds no capability
        let arches = strings(includes["arches"])
        if !arches.isEmpty, !arches.contains(where: isNative) { return false }
        if case .string(let minimum)? = includes["minKernel"], !kernelAtLeast(minimum) { return false }
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
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        func numbers(_ text: String) -> [Int] {
            text.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        }
        return numbers(release).lexicographicallyPrecedes(numbers(version)) == false
    }
}
