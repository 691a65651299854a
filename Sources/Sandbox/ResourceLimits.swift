import Glibc

/// Limits enforced through cgroups (`--memory`, `--pids-limit`, `--cpus`).
public struct ResourceLimits: Sendable, Equatable {
    public var memoryBytes: UInt64?
    public var pids: UInt64?
    /// CPU time as a number of CPUs (1.5 = one and a half CPUs' worth per period).
    public var cpus: Double?

    public init(memoryBytes: UInt64? = nil, pids: UInt64? = nil, cpus: Double? = nil) {
        self.memoryBytes = memoryBytes
        self.pids = pids
        self.cpus = cpus
    }

    public var isEmpty: Bool { memoryBytes == nil && pids == nil && cpus == nil }

    /// `512m`, `1g`, `65536`, `100k` (binary multiples, as docker): bytes.
    /// A size like 512m (binary multiples), for `flag`; at least `minimum` bytes.
    public static func parseMemory(_ text: String, flag: String = "--memory", minimum: UInt64 = 4 << 20)
        throws(SandboxError) -> UInt64
    {
        var digits = Substring(text.lowercased())
        // Accepted spellings: 512, 512b, 512k, 512kb, 512kib (binary multiples throughout).
        if digits.hasSuffix("ib") {
            digits = digits.dropLast(2)
        } else if digits.hasSuffix("b") {
            digits = digits.dropLast()
        }
        var multiplier: UInt64 = 1
        if let last = digits.last, !last.isNumber {
            switch last {
            case "k": multiplier = 1 << 10
            case "m": multiplier = 1 << 20
            case "g": multiplier = 1 << 30
            case "t": multiplier = 1 << 40
            default: throw .invalidArgument("bad \(flag) \(text): use a number with an optional unit b, k, m, g or t")
            }
            digits = digits.dropLast()
        }
        guard let value = UInt64(digits), value > 0 else {
            throw .invalidArgument("bad \(flag) \(text): use a positive number with an optional unit b, k, m, g or t")
        }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { throw .invalidArgument("bad \(flag) \(text): too large") }
        guard bytes >= minimum else { throw .invalidArgument("bad \(flag) \(text): the minimum is \(minimum >> 20)m") }
        return bytes
    }

    public static func parsePids(_ text: String) throws(SandboxError) -> UInt64 {
        guard let value = UInt64(text), value > 0, value <= 1 << 22 else {
            throw .invalidArgument("bad --pids-limit \(text): use a whole number from 1 to 4194304")
        }
        return value
    }

    public static func parseCPUs(_ text: String) throws(SandboxError) -> Double {
        guard let value = Double(text), value.isFinite, value >= 0.01, value <= 1024 else {
            throw .invalidArgument("bad --cpus \(text): use a number of CPUs from 0.01 to 1024, e.g. 1.5")
        }
        return value
    }
}

/// `--ulimit NAME=SOFT[:HARD]` (as docker): one setrlimit(2) applied to the sandbox.
public struct ResourceLimit: Sendable, Equatable {
    public var resource: Int32
    public var name: String
    public var soft: UInt64
    public var hard: UInt64

    public init(resource: Int32, name: String, soft: UInt64, hard: UInt64) {
        self.resource = resource
        self.name = name
        self.soft = soft
        self.hard = hard
    }

    /// The rlimit names `--ulimit` accepts, as `ulimit`/docker name them, with their RLIMIT_*
    /// numbers (asm-generic/resource.h, the kernel ABI on x86_64 and arm64).
    public static let names: [(String, Int32)] = [
        ("cpu", 0), ("fsize", 1), ("data", 2), ("stack", 3), ("core", 4), ("rss", 5), ("nproc", 6),
        ("nofile", 7), ("memlock", 8), ("as", 9), ("locks", 10), ("sigpending", 11), ("msgqueue", 12),
        ("nice", 13), ("rtprio", 14), ("rttime", 15)
    ]

    /// Refuses, before anything starts, a hard limit above this process's own when raising it
    /// is not allowed (CAP_SYS_RESOURCE): setrlimit in the sandbox would fail with EPERM.
    public func checkRaisable() throws(SandboxError) {
        var current = rlimit()
        guard getrlimit(__rlimit_resource_t(UInt32(resource)), &current) == 0, hard > UInt64(current.rlim_max),
            !Self.mayRaiseHardLimits()
        else { return }
        let ceiling = current.rlim_max == rlim_t.max ? "unlimited" : "\(current.rlim_max)"
        throw .invalidArgument(
            "--ulimit \(name)=\(soft):\(hard): above this process's hard limit \(ceiling); raising it needs CAP_SYS_RESOURCE (run as root with it, or ask for at most \(ceiling))"
        )
    }

    /// CAP_SYS_RESOURCE (24) in the effective set, read from /proc/self/status.
    static func mayRaiseHardLimits() -> Bool {
        guard let status = try? SystemCalls.readText("/proc/self/status"),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
            let mask = UInt64(line.dropFirst("CapEff:".count).trimmingPrefix(while: \.isWhitespace), radix: 16)
        else { return false }
        return mask & (1 << 24) != 0
    }

    public static func parse(_ text: String) throws(SandboxError) -> ResourceLimit {
        let known = names.map(\.0).joined(separator: ", ")
        guard let eq = text.firstIndex(of: "=") else {
            throw .invalidArgument("bad --ulimit \(text): expected NAME=SOFT[:HARD] with NAME one of \(known)")
        }
        let name = String(text[..<eq])
        guard let resource = names.first(where: { $0.0 == name })?.1 else {
            throw .invalidArgument("bad --ulimit \(text): unknown limit \(name); known: \(known)")
        }
        let values = text[text.index(after: eq)...].split(separator: ":", omittingEmptySubsequences: false)
        guard values.count == 1 || values.count == 2,
            let soft = limitValue(values[0]), let hard = limitValue(values.last ?? values[0])
        else {
            throw .invalidArgument("bad --ulimit \(text): values are whole numbers or 'unlimited'")
        }
        guard soft <= hard else {
            throw .invalidArgument("bad --ulimit \(text): the soft limit exceeds the hard limit")
        }
        return ResourceLimit(resource: resource, name: name, soft: soft, hard: hard)
    }

    private static func limitValue(_ text: Substring) -> UInt64? {
        if text == "unlimited" || text == "-1" { return UInt64(bitPattern: -1) } // RLIM_INFINITY
        return UInt64(text)
    }
}
