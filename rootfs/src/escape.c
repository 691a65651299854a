// escape: tries, one by one, each thing the sandbox must refuse (issue 7's seccomp list plus
// the capability-guarded operations), and reports per attempt whether it failed the way the
// policy says it must.
//
//   escape                 confined mode: every attempt must fail with its expected errno
//   escape --expect-open   unconfined-root mode: the attempts that are possible there must
//                          SUCCEED (or reach the kernel's argument checks), which proves the
//                          suite can see a hole. Run it only inside a throwaway
//                          `unshare -m -n -u -i -p --fork` (mounts and links made there vanish).
//
// Every attempt runs in a forked child, so one that succeeds (unshare, chroot, personality, a
// mount) changes nothing for the next. Attempts that would be destructive if they succeeded use
// arguments the kernel rejects only AFTER its permission check (reboot with a bad magic, kexec
// with bad flags, swapon of a missing file, ...): confined they answer EPERM, unconfined EINVAL
// or ENOENT, and neither run changes the machine.
//
// Output: one line per attempt `NAME result=<ok|ERRNO> expected=<ERRNO[|ERRNO]> PASS|FAIL`, then
// a summary line; exit status 1 if any attempt did not fail as expected.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/kexec.h>
#include <linux/mount.h>
#include <linux/netlink.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <linux/rtnetlink.h>
#include <linux/sched.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/quota.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef AF_ALG
#define AF_ALG 38
#endif
#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef PF_KEY_V2
#define PF_KEY_V2 2
#endif

// Special results beyond errno values (exit codes of the attempt's child).
#define RES_OK 0
#define RES_EMPTY 200      // a read that returned no bytes (a masked file: /dev/null over it)
#define RES_SIGNAL 201     // the child died of a signal (e.g. SIGSYS from a KILL action)
#define ANY -1           // open mode: the result is reported but not asserted

static char scratch_dir[64] = "/tmp";   // made per run, for mount targets and the like
static volatile int parent_cell = 42;   // read and written by process_vm_readv/writev

static int err(long rc) { return rc < 0 ? errno : RES_OK; }

static int close_ok(long fd) {
    if (fd < 0) return errno;
    close((int)fd);
    return RES_OK;
}

// ---- sockets ---------------------------------------------------------------------------------

static int try_socket(int family, int type, int protocol) { return close_ok(socket(family, type, protocol)); }

static int a_af_packet_raw(void) { return try_socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)); }
static int a_af_packet_dgram(void) { return try_socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL)); }
static int a_af_packet_sock_packet(void) { return try_socket(AF_PACKET, SOCK_PACKET, htons(ETH_P_ALL)); }
static int a_af_vsock(void) { return try_socket(AF_VSOCK, SOCK_STREAM, 0); }
static int a_af_alg(void) { return try_socket(AF_ALG, SOCK_SEQPACKET, 0); }
static int a_af_key(void) { return try_socket(AF_KEY, SOCK_RAW, PF_KEY_V2); }
static int a_af_xdp(void) { return try_socket(AF_XDP, SOCK_RAW, 0); }
static int a_netlink_audit(void) { return try_socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT); }
static int a_netlink_uevent(void) { return try_socket(AF_NETLINK, SOCK_RAW, NETLINK_KOBJECT_UEVENT); }
static int a_netlink_generic(void) { return try_socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC); }
static int a_netlink_sock_diag(void) { return try_socket(AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG); }
static int a_netlink_netfilter(void) { return try_socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER); }
static int a_raw_icmp(void) { return try_socket(AF_INET, SOCK_RAW, IPPROTO_ICMP); }
static int a_raw_icmpv6(void) { return try_socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6); }
static int a_raw_ip(void) { return try_socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW); }
static int a_inet_sock_packet(void) { return try_socket(AF_INET, SOCK_PACKET, htons(ETH_P_ALL)); }

// The kernel takes socket()'s arguments as int: high bits are ignored by it, so a filter that
// compares all 64 bits for equality lets these through.
static int a_high_bits_af_packet(void) {
    return close_ok(syscall(SYS_socket, (1UL << 32) | AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)));
}
static int a_high_bits_raw_type(void) {
    return close_ok(syscall(SYS_socket, AF_INET, (1UL << 32) | SOCK_RAW, IPPROTO_ICMP));
}
static int a_high_bits_netlink_proto(void) {
    return close_ok(syscall(SYS_socket, AF_NETLINK, SOCK_RAW, (1UL << 32) | NETLINK_AUDIT));
}

// ---- namespaces ------------------------------------------------------------------------------

static int try_setns(const char *path, int type) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    int rc = err(setns(fd, type));
    close(fd);
    return rc;
}
static int a_setns_net(void) { return try_setns("/proc/self/ns/net", CLONE_NEWNET); }
static int a_setns_mnt(void) { return try_setns("/proc/self/ns/mnt", CLONE_NEWNS); }
static int a_setns_pid1_net(void) { return try_setns("/proc/1/ns/net", 0); }
static int a_unshare_user(void) { return err(unshare(CLONE_NEWUSER)); }
static int a_unshare_net(void) { return err(unshare(CLONE_NEWNET)); }
static int a_unshare_mnt(void) { return err(unshare(CLONE_NEWNS)); }
static int a_unshare_pid(void) { return err(unshare(CLONE_NEWPID)); }
static int a_unshare_uts(void) { return err(unshare(CLONE_NEWUTS)); }
static int a_unshare_cgroup(void) { return err(unshare(CLONE_NEWCGROUP)); }
static int a_unshare_ipc(void) { return err(unshare(CLONE_NEWIPC)); }
static int a_unshare_time(void) { return err(unshare(CLONE_NEWTIME)); }

// clone through the raw syscall (fork-like: no new stack, no CLONE_VM); the child exits at once.
static int try_clone(unsigned long flags) {
    long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
    if (pid < 0) return errno;
    if (pid == 0) _exit(0);
    waitpid((pid_t)pid, NULL, 0);
    return RES_OK;
}
static int a_clone_newnet(void) { return try_clone(CLONE_NEWNET); }
static int a_clone_newuser(void) { return try_clone(CLONE_NEWUSER); }
static int a_clone_newpid(void) { return try_clone(CLONE_NEWPID); }
static int a_clone_newns_high(void) { return try_clone(CLONE_NEWNS | (1UL << 32)); }

static int a_clone3(void) {
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0) return errno;
    if (pid == 0) _exit(0);
    waitpid((pid_t)pid, NULL, 0);
    return RES_OK;
}

// ---- io_uring --------------------------------------------------------------------------------

static int a_io_uring_setup(void) {
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    return close_ok(syscall(SYS_io_uring_setup, 4, &params));
}

static int a_io_uring_enter(void) { return err(syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0)); }

// An AF_PACKET socket made by the kernel on the ring's behalf: the socket() filter never sees it,
// which is why io_uring must be unavailable altogether.
static int a_io_uring_socket(void) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    int ring = (int)syscall(SYS_io_uring_setup, 4, &p);
    if (ring < 0) return errno;
    size_t sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    int single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
    if (single && cq_size > sq_size) sq_size = cq_size;
    char *sq = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
    char *cq = single ? sq : mmap(NULL, cq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
    struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                                     MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) return errno;
    unsigned *tail = (unsigned *)(sq + p.sq_off.tail);
    unsigned mask = *(unsigned *)(sq + p.sq_off.ring_mask);
    unsigned *array = (unsigned *)(sq + p.sq_off.array);
    unsigned t = *tail, index = t & mask;
    struct io_uring_sqe *sqe = &sqes[index];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_SOCKET;   // as io_uring_prep_socket: fd=domain, off=type, len=protocol
    sqe->fd = AF_PACKET;
    sqe->off = SOCK_RAW;
    sqe->len = htons(ETH_P_ALL);
    array[index] = index;
    __atomic_store_n(tail, t + 1, __ATOMIC_RELEASE);
    if (syscall(SYS_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) return errno;
    unsigned head = __atomic_load_n((unsigned *)(cq + p.cq_off.head), __ATOMIC_ACQUIRE);
    unsigned cq_mask = *(unsigned *)(cq + p.cq_off.ring_mask);
    struct io_uring_cqe *cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    int res = cqes[head & cq_mask].res;
    close(ring);
    if (res < 0) return -res;
    close(res);
    return RES_OK;
}

// ---- mounts ----------------------------------------------------------------------------------

static int try_mount_then_undo(const char *source, const char *type) {
    if (mount(source, scratch_dir, type, 0, NULL) < 0) return errno;
    umount2(scratch_dir, MNT_DETACH);
    return RES_OK;
}
static int a_mount_tmpfs(void) { return try_mount_then_undo("none", "tmpfs"); }
static int a_mount_proc(void) { return try_mount_then_undo("proc", "proc"); }
// scratch_dir is not a mount point: unconfined, the kernel answers EINVAL.
static int a_umount2(void) { return err(umount2(scratch_dir, 0)); }
static int a_open_tree(void) { return close_ok(syscall(SYS_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)); }
static int a_move_mount(void) { return err(syscall(SYS_move_mount, -1, "", -1, "", 0)); }
static int a_fsopen(void) { return close_ok(syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC)); }
static int a_fsconfig(void) { return err(syscall(SYS_fsconfig, -1, FSCONFIG_CMD_CREATE, NULL, NULL, 0)); }
static int a_fsmount(void) { return close_ok(syscall(SYS_fsmount, -1, FSMOUNT_CLOEXEC, 0)); }
static int a_fspick(void) { return close_ok(syscall(SYS_fspick, AT_FDCWD, "/", FSPICK_CLOEXEC)); }
static int a_mount_setattr(void) { return err(syscall(SYS_mount_setattr, -1, "", 0, NULL, 0)); }
// new_root and put_old are the same directory: unconfined, EBUSY; no root ever changes.
static int a_pivot_root(void) { return err(syscall(SYS_pivot_root, scratch_dir, scratch_dir)); }
static int a_chroot(void) { return err(chroot(scratch_dir)); }
static int a_mknod_device(void) {
    char path[96];
    snprintf(path, sizeof path, "%s/null", scratch_dir);
    if (mknod(path, S_IFCHR | 0600, makedev(1, 3)) < 0) return errno;
    unlink(path);
    return RES_OK;
}

// ---- other processes, kernel programs --------------------------------------------------------

// PTRACE_SEIZE does not stop the tracee; the tracer's exit detaches it.
static int a_ptrace_pid1(void) { return err(ptrace(PTRACE_SEIZE, 1, NULL, NULL)); }
static int a_process_vm_readv(void) {
    int value = 0;
    struct iovec local = { &value, sizeof value }, remote = { (void *)&parent_cell, sizeof parent_cell };
    return err(process_vm_readv(getppid(), &local, 1, &remote, 1, 0));
}
static int a_process_vm_writev(void) {
    int value = 42;   // the value the cell already holds: the write changes nothing
    struct iovec local = { &value, sizeof value }, remote = { (void *)&parent_cell, sizeof parent_cell };
    return err(process_vm_writev(getppid(), &local, 1, &remote, 1, 0));
}
static int a_bpf_map_create(void) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    return close_ok(syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr));
}
static int a_perf_event_open(void) {
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.size = sizeof attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    attr.disabled = 1;
    return close_ok(syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
}
static int a_userfaultfd(void) { return close_ok(syscall(SYS_userfaultfd, O_CLOEXEC)); }

// ---- keys ------------------------------------------------------------------------------------

static int a_keyctl(void) { return err(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)); }
// The process keyring dies with the attempt's child.
static int a_add_key(void) { return err(syscall(SYS_add_key, "user", "escape-test", "x", 1, KEY_SPEC_PROCESS_KEYRING)); }
static int a_request_key(void) { return err(syscall(SYS_request_key, "user", "escape-test-missing", NULL, 0)); }

// ---- the machine (harmless arguments: see the top of the file) -------------------------------

static int a_kexec_load(void) { return err(syscall(SYS_kexec_load, 0, 0, NULL, 0xFFFF0000UL)); }
static int a_kexec_file_load(void) { return err(syscall(SYS_kexec_file_load, -1, -1, 0, NULL, 0xFFFFFFF0UL)); }
static int a_init_module(void) { return err(syscall(SYS_init_module, NULL, 0, "")); }
static int a_finit_module(void) { return err(syscall(SYS_finit_module, -1, "", 0)); }
static int a_delete_module(void) { return err(syscall(SYS_delete_module, "escape_no_such_module", O_NONBLOCK)); }
static int a_reboot(void) { return err(syscall(SYS_reboot, 0, 0, LINUX_REBOOT_CMD_CAD_OFF, NULL)); }  // bad magic
static int a_swapon(void) { return err(syscall(SYS_swapon, "/escape-no-such-file", 0)); }
static int a_swapoff(void) { return err(syscall(SYS_swapoff, "/escape-no-such-file")); }
static int a_acct(void) { return err(syscall(SYS_acct, "/escape-no-such-file")); }
static int a_settimeofday(void) { return err(syscall(SYS_settimeofday, NULL, NULL)); }   // sets nothing
static int a_clock_settime(void) {
    struct timespec bad = { 0, 2000000000L };   // tv_nsec out of range
    return err(syscall(SYS_clock_settime, CLOCK_REALTIME, &bad));
}
static int a_adjtimex(void) {
    struct timex query;
    memset(&query, 0, sizeof query);   // modes 0: a read, changes nothing
    return err(syscall(SYS_adjtimex, &query));
}
static int a_clock_adjtime(void) {
    struct timex query;
    memset(&query, 0, sizeof query);   // modes 0: a read
    return err(syscall(SYS_clock_adjtime, CLOCK_REALTIME, &query));
}
static int a_syslog(void) { return err(syscall(SYS_syslog, 10, NULL, 0)); }   // SYSLOG_ACTION_SIZE_BUFFER: a read
static int a_quotactl(void) { return err(syscall(SYS_quotactl, QCMD(Q_GETFMT, USRQUOTA), "/escape-no-such-device", 0, NULL)); }
#if defined(__x86_64__) || defined(__i386__)
// I/O port access for the attempt's child only; nothing is read or written on a port.
static int a_ioperm(void) { return err(syscall(SYS_ioperm, 0x80, 1, 1)); }
static int a_iopl(void) { return err(syscall(SYS_iopl, 3)); }
#endif
static int a_open_by_handle_at(void) {
    struct { struct file_handle h; unsigned char bytes[16]; } handle;
    memset(&handle, 0, sizeof handle);
    handle.h.handle_bytes = 8;
    return close_ok(syscall(SYS_open_by_handle_at, AT_FDCWD, &handle.h, O_RDONLY));
}
static int a_personality(void) { return err(personality(PER_LINUX | READ_IMPLIES_EXEC)); }

// ---- terminals -------------------------------------------------------------------------------

// A pty of our own if /dev/ptmx works; the filter denies the request number whatever the fd.
static int terminal_fd(void) {
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) return 0;
    char *name = ptsname(master);
    int slave = name ? open(name, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
    return slave >= 0 ? slave : 0;
}
static int a_tiocsti(void) {
    char c = ' ';
    return err(ioctl(terminal_fd(), TIOCSTI, &c));
}
static int a_tioclinux(void) {
    char subcode = 12;   // TIOCL_GETSHIFTSTATE: a read
    return err(ioctl(terminal_fd(), TIOCLINUX, &subcode));
}

// ---- /proc -----------------------------------------------------------------------------------

static int a_read_kcore(void) {
    int fd = open("/proc/kcore", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    char buffer[64];
    ssize_t n = read(fd, buffer, sizeof buffer);
    int rc = n < 0 ? errno : n == 0 ? RES_EMPTY : RES_OK;
    close(fd);
    return rc;
}
// Opening for write is the hole; nothing is written (any byte would act on the host kernel).
static int a_open_sysrq_trigger(void) { return close_ok(open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC)); }

// ---- rtnetlink (allowed as a family; the changes need CAP_NET_ADMIN) -------------------------

static int netlink_change(void *message, size_t length) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return errno;
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    if (sendto(fd, message, length, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) { int e = errno; close(fd); return e; }
    char reply[8192];
    ssize_t n = recv(fd, reply, sizeof reply, 0);
    close(fd);
    if (n < 0) return errno;
    struct nlmsghdr *h = (struct nlmsghdr *)reply;
    if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) || h->nlmsg_type != NLMSG_ERROR) return EBADMSG;
    return -((struct nlmsgerr *)NLMSG_DATA(h))->error;
}
static void add_attribute(struct nlmsghdr *h, unsigned short type, const void *data, size_t length) {
    struct rtattr *a = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));
    a->rta_type = type;
    a->rta_len = RTA_LENGTH(length);
    memcpy(RTA_DATA(a), data, length);
    h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(a->rta_len);
}
// eth0 inside the sandbox; lo where there is no eth0 (the unconfined run's fresh netns).
static int target_link(void) {
    unsigned index = if_nametoindex("eth0");
    return index ? (int)index : (int)if_nametoindex("lo");
}
static int a_netlink_add_address(void) {
    struct { struct nlmsghdr h; struct ifaddrmsg a; char attributes[64]; } m;
    memset(&m, 0, sizeof m);
    m.h.nlmsg_len = NLMSG_LENGTH(sizeof m.a);
    m.h.nlmsg_type = RTM_NEWADDR;
    m.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    m.a.ifa_family = AF_INET;
    m.a.ifa_prefixlen = 24;
    m.a.ifa_index = target_link();
    struct in_addr address = { htonl(0xC0000264) };   // 192.0.2.100 (TEST-NET-1)
    add_attribute(&m.h, IFA_LOCAL, &address, sizeof address);
    add_attribute(&m.h, IFA_ADDRESS, &address, sizeof address);
    return netlink_change(&m, m.h.nlmsg_len);
}
static int a_netlink_add_route(void) {
    struct { struct nlmsghdr h; struct rtmsg r; char attributes[64]; } m;
    memset(&m, 0, sizeof m);
    m.h.nlmsg_len = NLMSG_LENGTH(sizeof m.r);
    m.h.nlmsg_type = RTM_NEWROUTE;
    m.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    m.r.rtm_family = AF_INET;
    m.r.rtm_dst_len = 24;
    m.r.rtm_table = RT_TABLE_MAIN;
    m.r.rtm_protocol = RTPROT_BOOT;
    // A blackhole route needs no usable device, so the unconfined run (whose only link, lo, is
    // down) can add it; the permission check (CAP_NET_ADMIN) comes before any of that.
    m.r.rtm_scope = RT_SCOPE_UNIVERSE;
    m.r.rtm_type = RTN_BLACKHOLE;
    struct in_addr destination = { htonl(0xC6336400) };   // 198.51.100.0/24 (TEST-NET-2)
    add_attribute(&m.h, RTA_DST, &destination, sizeof destination);
    return netlink_change(&m, m.h.nlmsg_len);
}
static int a_netlink_set_mtu(void) {
    struct { struct nlmsghdr h; struct ifinfomsg i; char attributes[64]; } m;
    memset(&m, 0, sizeof m);
    m.h.nlmsg_len = NLMSG_LENGTH(sizeof m.i);
    m.h.nlmsg_type = RTM_NEWLINK;
    m.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    m.i.ifi_index = target_link();
    unsigned mtu = 1280;
    add_attribute(&m.h, IFLA_MTU, &mtu, sizeof mtu);
    return netlink_change(&m, m.h.nlmsg_len);
}

#include "escape-safe-default.h"

// ---- the table -------------------------------------------------------------------------------

#define MAX_EXPECTED 3
struct attempt {
    const char *name;
    int (*run)(void);
    int confined[MAX_EXPECTED];   // acceptable results when confined (unused slots are 0)
    int open[MAX_EXPECTED];       // unconfined as root: RES_OK and/or errnos, or { ANY }
};

#define EX1(e) { e }
// The kernel of this machine (and many VMs) is built without modules, kexec and ioperm; there a call
// answers ENOSYS unconfined, which shows no hole and no filter, so both are accepted.
#define OPEN_OR_ABSENT(e) { e, ENOSYS }
// /proc/kcore and /proc/sysrq-trigger exist only with CONFIG_PROC_KCORE / CONFIG_MAGIC_SYSRQ.
#define OK_OR_ABSENT { RES_OK, ENOENT }
static const struct attempt attempts[] = {
    // socket families: EAFNOSUPPORT from the filter
    { "socket_af_packet_raw", a_af_packet_raw, EX1(EAFNOSUPPORT), { RES_OK } },
    { "socket_af_packet_dgram", a_af_packet_dgram, EX1(EAFNOSUPPORT), { RES_OK } },
    { "socket_af_packet_sock_packet", a_af_packet_sock_packet, EX1(EAFNOSUPPORT), { RES_OK } },
    { "socket_af_packet_high_bits", a_high_bits_af_packet, EX1(EAFNOSUPPORT), { RES_OK } },
    { "socket_af_vsock", a_af_vsock, EX1(EAFNOSUPPORT), { ANY } },
    { "socket_af_alg", a_af_alg, EX1(EAFNOSUPPORT), { ANY } },
    { "socket_af_key", a_af_key, EX1(EAFNOSUPPORT), { ANY } },
    { "socket_af_xdp", a_af_xdp, EX1(EAFNOSUPPORT), { ANY } },
    { "socket_netlink_audit", a_netlink_audit, EX1(EAFNOSUPPORT), { ANY } },
    { "socket_netlink_kobject_uevent", a_netlink_uevent, EX1(EAFNOSUPPORT), { RES_OK } },
    { "socket_netlink_generic", a_netlink_generic, EX1(EAFNOSUPPORT), { RES_OK } },
    { "socket_netlink_sock_diag", a_netlink_sock_diag, EX1(EAFNOSUPPORT), { RES_OK } },
    { "socket_netlink_netfilter", a_netlink_netfilter, EX1(EAFNOSUPPORT), { ANY } },
    { "socket_netlink_high_bits_proto", a_high_bits_netlink_proto, EX1(EAFNOSUPPORT), { ANY } },
    // raw and packet sockets on inet: EPERM (filter; CAP_NET_RAW would be missing as well)
    { "socket_raw_icmp", a_raw_icmp, EX1(EPERM), { RES_OK } },
    { "socket_raw_icmpv6", a_raw_icmpv6, EX1(EPERM), { RES_OK } },
    { "socket_raw_ip", a_raw_ip, EX1(EPERM), { RES_OK } },
    { "socket_raw_high_bits_type", a_high_bits_raw_type, EX1(EPERM), { RES_OK } },
    { "socket_inet_sock_packet", a_inet_sock_packet, EX1(EPERM), { ANY } },
    // namespaces
    { "setns_own_net", a_setns_net, EX1(EPERM), { RES_OK } },
    { "setns_own_mnt", a_setns_mnt, EX1(EPERM), { RES_OK } },
    // EACCES: pid 1's namespace files are not even openable (ptrace access mode check)
    { "setns_pid1_net", a_setns_pid1_net, { EPERM, EACCES }, { RES_OK } },
    { "unshare_user", a_unshare_user, EX1(EPERM), { RES_OK } },
    { "unshare_net", a_unshare_net, EX1(EPERM), { RES_OK } },
    { "unshare_mnt", a_unshare_mnt, EX1(EPERM), { RES_OK } },
    { "unshare_pid", a_unshare_pid, EX1(EPERM), { RES_OK } },
    { "unshare_uts", a_unshare_uts, EX1(EPERM), { RES_OK } },
    { "unshare_cgroup", a_unshare_cgroup, EX1(EPERM), { RES_OK } },
    { "unshare_ipc", a_unshare_ipc, EX1(EPERM), { RES_OK } },
    { "unshare_time", a_unshare_time, EX1(EPERM), { RES_OK } },
    { "clone_newnet", a_clone_newnet, EX1(EPERM), { RES_OK } },
    { "clone_newuser", a_clone_newuser, EX1(EPERM), { RES_OK } },
    { "clone_newpid", a_clone_newpid, EX1(EPERM), { RES_OK } },
    { "clone_newns_high_bits", a_clone_newns_high, EX1(EPERM), { ANY } },
    { "clone3", a_clone3, EX1(ENOSYS), { RES_OK } },
    // io_uring: ENOSYS, so nothing can be run past the filter
    { "io_uring_setup", a_io_uring_setup, EX1(ENOSYS), { RES_OK } },
    { "io_uring_enter", a_io_uring_enter, EX1(ENOSYS), { EBADF } },
    { "io_uring_socket_af_packet", a_io_uring_socket, EX1(ENOSYS), { RES_OK } },
    // the mount family
    { "mount_tmpfs", a_mount_tmpfs, EX1(EPERM), { RES_OK } },
    { "mount_proc", a_mount_proc, EX1(EPERM), { RES_OK } },
    { "umount2", a_umount2, EX1(EPERM), { EINVAL } },
    { "open_tree", a_open_tree, EX1(EPERM), { RES_OK } },
    { "move_mount", a_move_mount, EX1(EPERM), { ANY } },
    { "fsopen", a_fsopen, EX1(EPERM), { RES_OK } },
    { "fsconfig", a_fsconfig, EX1(EPERM), { EINVAL } },
    { "fsmount", a_fsmount, EX1(EPERM), { EBADF } },
    { "fspick", a_fspick, EX1(EPERM), { RES_OK } },
    { "mount_setattr", a_mount_setattr, EX1(EPERM), { ANY } },
    { "pivot_root", a_pivot_root, EX1(EPERM), { EBUSY } },
    { "chroot", a_chroot, EX1(EPERM), { RES_OK } },
    // capability-guarded, no filter rule: EPERM from the empty capability sets
    { "mknod_char_device", a_mknod_device, EX1(EPERM), { RES_OK } },
    // other processes, kernel programs
    { "ptrace_seize_pid1", a_ptrace_pid1, EX1(EPERM), { RES_OK } },
    { "process_vm_readv", a_process_vm_readv, EX1(EPERM), { RES_OK } },
    { "process_vm_writev", a_process_vm_writev, EX1(EPERM), { RES_OK } },
    { "bpf_map_create", a_bpf_map_create, EX1(EPERM), { RES_OK } },
    { "perf_event_open", a_perf_event_open, EX1(EPERM), { RES_OK } },
    { "userfaultfd", a_userfaultfd, EX1(EPERM), { RES_OK } },
    { "keyctl", a_keyctl, EX1(EPERM), { RES_OK } },
    { "add_key", a_add_key, EX1(EPERM), { RES_OK } },
    { "request_key", a_request_key, EX1(EPERM), { ENOKEY } },
    // the machine
    { "kexec_load", a_kexec_load, EX1(EPERM), OPEN_OR_ABSENT(EINVAL) },
    { "kexec_file_load", a_kexec_file_load, EX1(EPERM), OPEN_OR_ABSENT(EINVAL) },
    { "init_module", a_init_module, EX1(EPERM), { ANY } },
    { "finit_module", a_finit_module, EX1(EPERM), OPEN_OR_ABSENT(EBADF) },
    { "delete_module", a_delete_module, EX1(EPERM), OPEN_OR_ABSENT(ENOENT) },
    { "reboot", a_reboot, EX1(EPERM), { EINVAL } },
    { "swapon", a_swapon, EX1(EPERM), { ENOENT } },
    { "swapoff", a_swapoff, EX1(EPERM), { ENOENT } },
    { "acct", a_acct, EX1(EPERM), { ENOENT } },
    { "settimeofday", a_settimeofday, EX1(EPERM), { RES_OK } },
    { "clock_settime", a_clock_settime, EX1(EPERM), { EINVAL } },
    { "adjtimex", a_adjtimex, EX1(EPERM), { RES_OK } },
    { "clock_adjtime", a_clock_adjtime, EX1(EPERM), { RES_OK } },
    { "syslog", a_syslog, EX1(EPERM), { RES_OK } },
    { "quotactl", a_quotactl, EX1(EPERM), { ANY } },
#if defined(__x86_64__) || defined(__i386__)
    { "ioperm", a_ioperm, EX1(EPERM), OPEN_OR_ABSENT(RES_OK) },
    { "iopl", a_iopl, EX1(EPERM), OPEN_OR_ABSENT(RES_OK) },
#endif
    { "open_by_handle_at", a_open_by_handle_at, EX1(EPERM), { ANY } },
    { "personality_read_implies_exec", a_personality, EX1(EPERM), { RES_OK } },
    { "ioctl_tiocsti", a_tiocsti, EX1(EPERM), { RES_OK } },
    { "ioctl_tioclinux", a_tioclinux, EX1(EPERM), { ANY } },
    // /proc: masked (/dev/null over it, reads empty) or refused without CAP_SYS_RAWIO; ENOENT
    // where the kernel has no /proc/kcore at all (nothing to escape through)
    { "read_proc_kcore", a_read_kcore, { RES_EMPTY, EPERM, ENOENT }, OK_OR_ABSENT },
    // /proc/sysrq-trigger: bound read-only, or refused to a non-root owner; ENOENT as above
    { "open_proc_sysrq_trigger_write", a_open_sysrq_trigger, { EROFS, EACCES, ENOENT }, OK_OR_ABSENT },
    // rtnetlink: the family is allowed; changes need CAP_NET_ADMIN
    { "netlink_add_address_eth0", a_netlink_add_address, EX1(EPERM), { RES_OK } },
    { "netlink_add_route", a_netlink_add_route, EX1(EPERM), { RES_OK } },
    { "netlink_set_mtu_eth0", a_netlink_set_mtu, EX1(EPERM), { RES_OK } },
    // safe by default (issue 13): the allow-list's closed calls and argument rules
    { "socketpair_af_inet", a_socketpair_inet, EX1(EAFNOSUPPORT), { EOPNOTSUPP } },
    { "socketpair_af_netlink", a_socketpair_netlink, EX1(EAFNOSUPPORT), { EOPNOTSUPP, ESOCKTNOSUPPORT } },
    { "socketpair_high_bits_af_inet6", a_socketpair_high_bits, EX1(EAFNOSUPPORT), { EOPNOTSUPP } },
    { "modify_ldt", a_modify_ldt, EX1(EPERM), OPEN_OR_ABSENT(RES_OK) },
    { "pidfd_getfd_parent", a_pidfd_getfd, EX1(EPERM), { RES_OK } },
    { "kcmp", a_kcmp, EX1(EPERM), OPEN_OR_ABSENT(RES_OK) },
    // libseccomp may not know the name yet: then the allow-list's default answers
    { "open_tree_attr", a_open_tree_attr, { EPERM, ENOSYS }, { RES_OK } },
    { "open_proc_1_mem", a_proc_1_mem, { EACCES, EPERM }, { RES_OK } },
    { "chmod_setuid", a_chmod_setuid, EX1(EPERM), { RES_OK } },
    { "create_setgid_file", a_create_setgid, EX1(EPERM), { RES_OK } },
};

static const char *result_name(int result, char *buffer, size_t size) {
    if (result == RES_OK) return "ok";
    if (result == RES_EMPTY) return "EMPTY";
    if (result == RES_SIGNAL) return "SIGNAL";
    const char *name = strerrorname_np(result);
    if (name) return name;
    snprintf(buffer, size, "E%d", result);
    return buffer;
}

// Runs one attempt in a child; the child's exit status carries the result.
static int run_attempt(const struct attempt *a) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return errno;
    if (pid == 0) _exit(a->run() & 0xFF);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return errno;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : RES_SIGNAL;
}

int main(int argc, char **argv) {
    int open_mode = argc > 1 && strcmp(argv[1], "--expect-open") == 0;
    if (argc > 1 && !open_mode) {
        fprintf(stderr, "usage: %s [--expect-open]\n", argv[0]);
        return 2;
    }
    char template[] = "/tmp/escape.XXXXXX";
    if (mkdtemp(template)) snprintf(scratch_dir, sizeof scratch_dir, "%s", template);

    int count = (int)(sizeof attempts / sizeof attempts[0]);
    int passed = 0, failed = 0, unasserted = 0, holes = 0;
    for (int i = 0; i < count; i++) {
        const struct attempt *a = &attempts[i];
        int result = run_attempt(a);
        char b1[16];
        const char *got = result_name(result, b1, sizeof b1);
        const int *accepted = open_mode ? a->open : a->confined;
        if (open_mode) {
            if (result == RES_OK) holes++;
            if (accepted[0] == ANY) {
                unasserted++;
                printf("%s result=%s expected=any INFO\n", a->name, got);
                continue;
            }
        }
        int pass = 0;
        char expected[64] = "";
        for (int k = 0; k < MAX_EXPECTED; k++) {
            if (k > 0 && accepted[k] == 0) break;
            if (result == accepted[k]) pass = 1;
            char name[16];
            snprintf(expected + strlen(expected), sizeof expected - strlen(expected), "%s%s", k ? "|" : "",
                     result_name(accepted[k], name, sizeof name));
        }
        printf("%s result=%s expected=%s %s\n", a->name, got, expected, pass ? "PASS" : "FAIL");
        if (pass) passed++; else failed++;
    }
    if (strcmp(scratch_dir, "/tmp") != 0) rmdir(scratch_dir);
    if (open_mode)
        printf("summary mode=open attempts=%d asserted=%d passed=%d failed=%d unasserted=%d succeeded=%d\n",
               count, passed + failed, passed, failed, unasserted, holes);
    else
        printf("summary mode=confined attempts=%d passed=%d failed=%d\n", count, passed, failed);
    return failed == 0 ? 0 : 1;
}
