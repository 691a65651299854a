// The gateway process's seccomp allow-list. Default: kill the process (SECCOMP_RET_KILL_PROCESS):
// the gateway is our own code, so a syscall outside this list is a bug or an exploit, and
// either way the sandbox must stop (the launcher fails closed). The list is what the gateway
// made once confined, read from `strace -f` of real runs (DNS over UDP and TCP, TCP and UDP
// flows, ping, published TCP and UDP ports, pcap, the connection log, each --dispatch mode):
//
//   frames, host sockets  read write recvfrom sendto recvmsg sendmsg recvmmsg sendmmsg close
//                         connect accept4 shutdown setsockopt getsockopt fcntl; socket and
//                         newfstatat (below)
//   event loop            epoll_create1 epoll_ctl epoll_wait timerfd_create timerfd_settime eventfd2
//   memory                mmap mprotect (neither with PROT_EXEC) munmap madvise; brk and mremap,
//                         which the traces did not show but glibc's malloc makes when its main
//                         arena grows or a large block is reallocated
//   its loop thread       clone (only with CLONE_THREAD) futex set_robust_list rseq
//                         rt_sigprocmask rt_sigaction gettid exit; clone3 answers ENOSYS, so
//                         glibc falls back to clone, whose flags a filter can read
//   the rest              getrandom (Swift's hashing seeds), clock_gettime (the vDSO's
//                         fallback on clocks it cannot read), exit_group
//   answered ENOENT       open, openat: glibc reads /proc/sys/vm/overcommit_memory the first
//                         time a thread's heap shrinks (seen under connection churn, killing
//                         the gateway); in the empty root nothing could be opened anyway, so
//                         "no such file" is the truth and costs no file access
//
// Arguments: socket only for AF_INET/AF_INET6 and SOCK_STREAM or SOCK_DGRAM (ping sockets are
// SOCK_DGRAM; no raw, packet, unix or netlink socket), compared on the low 32 bits as the kernel
// reads an int; newfstatat only on a descriptor (AT_EMPTY_PATH: fstat), never a path.

import Glibc

public enum GatewaySeccompPolicy {
    static let low32: UInt64 = 0xffff_ffff
    static let protExec = UInt64(PROT_EXEC)
    static let cloneThread: UInt64 = 0x0001_0000 // CLONE_THREAD
    static let atEmptyPath: UInt64 = 0x1000 // AT_EMPTY_PATH
    static let socketTypeMask: UInt64 = 0xf // the type without SOCK_NONBLOCK/SOCK_CLOEXEC

    static let plain = [
        "read", "write", "recvfrom", "sendto", "recvmsg", "sendmsg", "recvmmsg", "sendmmsg",
        "close", "connect", "accept4", "shutdown", "setsockopt", "getsockopt", "fcntl",
        "epoll_create1", "epoll_ctl", "epoll_wait", "timerfd_create", "timerfd_settime", "eventfd2",
        "munmap", "madvise", "brk", "mremap",
        "futex", "set_robust_list", "rseq", "rt_sigprocmask", "rt_sigaction", "gettid", "exit",
        "getrandom", "clock_gettime", "exit_group"
    ]

    public static var policy: SeccompPolicy {
        var rules = plain.map { SeccompRule($0, .allow) }
        rules += [
            SeccompRule("mmap", .allow, [.masked(2, mask: protExec, equals: 0)]),
            SeccompRule("mprotect", .allow, [.masked(2, mask: protExec, equals: 0)]),
            SeccompRule("newfstatat", .allow, [.masked(3, mask: atEmptyPath, equals: atEmptyPath)]),
            SeccompRule("clone", .allow, [.masked(0, mask: cloneThread, equals: cloneThread)]),
            SeccompRule("clone3", .errno(ENOSYS)),
            SeccompRule("open", .errno(ENOENT)),
            SeccompRule("openat", .errno(ENOENT))
        ]
        for family in [AF_INET, AF_INET6] {
            for type in [SOCK_STREAM, SOCK_DGRAM] {
                rules.append(
                    SeccompRule(
                        "socket", .allow,
                        [
                            .masked(0, mask: low32, equals: UInt64(family)),
                            .masked(1, mask: socketTypeMask, equals: UInt64(type.rawValue))
                        ]))
            }
        }
        return SeccompPolicy(defaultAction: .killProcess, rules: rules)
    }
}
