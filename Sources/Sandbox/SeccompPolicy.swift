/// A seccomp policy as data: a default action and rules, each a syscall name, an action and
/// argument conditions (ANDed). Both the built-in default policy and OCI profiles become one of
/// these; `SeccompCompiler` turns it into a BPF program with libseccomp.
public struct SeccompPolicy: Sendable, Equatable {
    public var defaultAction: SeccompAction
    public var rules: [SeccompRule]

    public init(defaultAction: SeccompAction, rules: [SeccompRule]) {
        self.defaultAction = defaultAction
        self.rules = rules
    }

    /// The rules for one syscall, in order.
    public func rules(for syscall: String) -> [SeccompRule] {
        rules.filter { $0.syscall == syscall }
    }
}

public enum SeccompAction: Sendable, Equatable, Hashable {
    case allow
    case errno(Int32)
    case killProcess
    case killThread
    case trap
    case log
    case trace(UInt16)

    /// libseccomp's SCMP_ACT_* value (the macros are not importable into Swift).
    var libseccompValue: UInt32 {
        switch self {
        case .allow: return 0x7fff_0000
        case .errno(let code): return 0x0005_0000 | (UInt32(bitPattern: code) & 0xffff)
        case .killProcess: return 0x8000_0000
        case .killThread: return 0x0000_0000
        case .trap: return 0x0003_0000
        case .log: return 0x7ffc_0000
        case .trace(let message): return 0x7ff0_0000 | UInt32(message)
        }
    }
}

public struct SeccompRule: Sendable, Equatable {
    public var syscall: String
    public var action: SeccompAction
    public var conditions: [SeccompCondition]

    public init(_ syscall: String, _ action: SeccompAction, _ conditions: [SeccompCondition] = []) {
        self.syscall = syscall
        self.action = action
        self.conditions = conditions
    }

    /// Whether the rule matches a call with these arguments (the semantics libseccomp compiles:
    /// every condition must hold). Used by tests to check a policy table without a kernel.
    public func matches(_ arguments: [UInt64]) -> Bool {
        conditions.allSatisfy {
            $0.holds(arguments.indices.contains(Int($0.argument)) ? arguments[Int($0.argument)] : 0)
        }
    }
}

/// One argument comparison, as libseccomp's `struct scmp_arg_cmp`.
public struct SeccompCondition: Sendable, Equatable {
    public enum Operator: UInt32, Sendable {
        case notEqual = 1
        case lessThan, lessOrEqual, equal, greaterOrEqual, greaterThan
        /// (argument & first) == second
        case maskedEqual
    }

    public var argument: UInt32
    public var op: Operator
    public var first: UInt64
    public var second: UInt64

    public init(argument: UInt32, op: Operator, _ first: UInt64, _ second: UInt64 = 0) {
        self.argument = argument
        self.op = op
        self.first = first
        self.second = second
    }

    /// `(argument & mask) == value`: the only comparison that looks at the low 32 bits alone,
    /// as the kernel does for `int` arguments.
    public static func masked(_ argument: UInt32, mask: UInt64, equals value: UInt64) -> SeccompCondition {
        SeccompCondition(argument: argument, op: .maskedEqual, mask, value)
    }

    public func holds(_ value: UInt64) -> Bool {
        switch op {
        case .notEqual: return value != first
        case .lessThan: return value < first
        case .lessOrEqual: return value <= first
        case .equal: return value == first
        case .greaterOrEqual: return value >= first
        case .greaterThan: return value > first
        case .maskedEqual: return value & first == second
        }
    }
}
