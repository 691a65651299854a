import Glibc
import Sandbox
import Testing

/// The gateway's allow-list as data (GatewaySeccompPolicy): what it lets through and what it
/// leaves to the default, which kills the process.
@Suite struct GatewaySeccompPolicyTests {
    let policy = GatewaySeccompPolicy.policy

    func allowed(_ syscall: String, _ arguments: [UInt64] = []) -> Bool {
        policy.rules(for: syscall).contains { $0.action == .allow && $0.matches(arguments) }
    }

    @Test func defaultKillsTheProcess() {
        #expect(policy.defaultAction == .killProcess)
        for syscall in ["execve", "ptrace", "mount", "unshare", "setns", "sync", "kill", "bind", "listen", "ioctl"] {
            #expect(policy.rules(for: syscall).isEmpty, "\(syscall) must not be in the gateway's list")
        }
    }

    /// glibc opens a /proc file lazily; in the empty root the honest answer is ENOENT, never a kill.
    @Test func opensFindNothing() {
        #expect(policy.rules(for: "openat").map(\.action) == [.errno(ENOENT)])
        #expect(policy.rules(for: "open").map(\.action) == [.errno(ENOENT)])
    }

    @Test func socketOnlyForInetStreamAndDatagram() {
        let flags = UInt64(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue)
        for family in [AF_INET, AF_INET6] {
            #expect(allowed("socket", [UInt64(family), UInt64(SOCK_STREAM.rawValue) | flags, 0]))
            #expect(allowed("socket", [UInt64(family), UInt64(SOCK_DGRAM.rawValue) | flags, UInt64(IPPROTO_ICMP)]))
            #expect(!allowed("socket", [UInt64(family), UInt64(SOCK_RAW.rawValue), 0]))
        }
        for family in [AF_PACKET, AF_UNIX, AF_NETLINK, AF_VSOCK] {
            #expect(!allowed("socket", [UInt64(family), UInt64(SOCK_DGRAM.rawValue), 0]))
        }
        // The family is an int: high bits do not make AF_PACKET look like something else.
        #expect(!allowed("socket", [UInt64(1) << 32 | UInt64(AF_PACKET), UInt64(SOCK_DGRAM.rawValue), 0]))
    }

    @Test func noExecutableMappings() {
        let readWrite = UInt64(PROT_READ | PROT_WRITE)
        #expect(allowed("mmap", [0, 4096, readWrite, 0]))
        #expect(!allowed("mmap", [0, 4096, readWrite | UInt64(PROT_EXEC), 0]))
        #expect(allowed("mprotect", [0, 4096, UInt64(PROT_READ)]))
        #expect(!allowed("mprotect", [0, 4096, UInt64(PROT_READ | PROT_EXEC)]))
    }

    @Test func threadsButNoProcesses() {
        let thread: UInt64 = 0x0001_0000 | 0x0000_0100 | 0x0000_0800 // CLONE_THREAD | CLONE_VM | CLONE_SIGHAND
        #expect(allowed("clone", [thread]))
        #expect(!allowed("clone", [UInt64(SIGCHLD)])) // fork
        #expect(policy.rules(for: "clone3").map(\.action) == [.errno(ENOSYS)])
        #expect(!allowed("newfstatat", [UInt64(bitPattern: Int64(AT_FDCWD)), 0, 0, 0])) // a path: never
        #expect(allowed("newfstatat", [3, 0, 0, 0x1000])) // fstat
    }

    @Test func compiles() throws {
        let program = try SeccompCompiler.compile(policy)
        #expect(program.unknownSyscalls.isEmpty)
        #expect(program.instructionCount > 0 && program.instructionCount < 4096)
    }
}
