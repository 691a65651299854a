// swift-tools-version:6.1
// The layout follows the architecture (README, "Architecture"):
//
//   Wire  <-  Link  <-  Netstack  <-  UserNet  <-  Sandbox  <-  sandbox (CLI)
//                   <-  FDBased   <-              <-
//   Wire  <-  Netlink  <---------------------------'
//
//   C:  CNetShims <- FDBased, Netlink, UserNet;   CCap <- CLauncher <- Sandbox;   CSeccomp <- Sandbox
//
//   Posix (EINTR-retrying syscall wrapper, PosixError, IOResult, small files; libc only) sits
//   under Link, FDBased, Netlink, UserNet, Sandbox and the CLI: every system call goes through it.
//
// Arrows point one way: nothing low imports anything high. Each area keeps its targets in its
// own block below.
import PackageDescription

var targets: [Target] = []

// MARK: Foundation: C glue and system libraries
targets += [
    // C glue for what Glibc's Swift module hides, for the network modules; no policy here.
    .target(name: "CNetShims"),
    // The launcher's C (Sandbox only): the clone-to-exec child paths of init and the gateway,
    // mounts, idmapped trees. Links libcap (statically in `make build`, as CCap's pkg-config).
    .target(name: "CLauncher", dependencies: ["CCap"]),
    // libseccomp and libcap as system libraries, found with pkg-config.
    .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
    .systemLibrary(name: "CCap", pkgConfig: "libcap", providers: [.apt(["libcap-dev"])])
]

// MARK: Test support shared by every test target: the "needs root" trait
targets += [
    .target(name: "TestPrivileges", path: "Tests/TestPrivileges")
]

// MARK: Posix: the one syscall room (EINTR-retrying wrapper, PosixError, IOResult, small files)
targets += [
    .target(name: "Posix"),
    .testTarget(name: "PosixTests", dependencies: ["Posix"])
]

// MARK: Wire: packet formats (zero-copy views + validated Reprs, checksums)
targets += [
    .target(name: "Wire"),
    .testTarget(name: "WireTests", dependencies: ["Wire"]),
    // Checksum throughput and frame parse cost (scripts/bench.sh runs every bench-*).
    .executableTarget(name: "bench-wire", dependencies: ["Wire"], path: "Benchmarks/bench-wire")
]

// MARK: Link: the LinkEndpoint / NetworkDispatcher seam between endpoints and the stack
targets += [
    .target(name: "Link", dependencies: ["Wire", "Posix"])
]

// MARK: FDBased: the fd-based link endpoint (AF_PACKET rings, recvmmsg, readv)
targets += [
    .target(name: "FDBased", dependencies: ["Wire", "Link", "Posix", "CNetShims"]),
    .testTarget(
        name: "FDBasedTests",
        dependencies: ["TestPrivileges", "FDBased", "Link", "Posix", "Wire", "CNetShims", "NetstackTesting"]),
    .executableTarget(
        name: "bench-fdbased", dependencies: ["FDBased", "Link", "Wire", "CNetShims"],
        path: "Benchmarks/bench-fdbased", exclude: ["reference.c", "README.md"])
]

// MARK: Netstack: the sans-IO TCP/IP stack, and its test kit
targets += [
    .target(
        name: "Netstack",
        dependencies: ["Wire", "Link", .product(name: "DequeModule", package: "swift-collections")]),
    // In-memory link pair, fake clock, lossy link, throwaway netns/veth labs: test doubles and
    // test set-up, never linked by product code.
    .target(name: "NetstackTesting", dependencies: ["Netstack", "Wire", "Link"]),
    .testTarget(
        name: "NetstackTests",
        dependencies: [
            "TestPrivileges",
            "Netstack", "NetstackTesting", "Wire", "Link", "FDBased", "CNetShims",
            .product(name: "HeapModule", package: "swift-collections")
        ]),
    // Counts malloc calls for bench-netstack (defines malloc & co. over glibc's __libc_*).
    .target(name: "CMallocCounter", path: "Benchmarks/CMallocCounter"),
    .executableTarget(
        name: "bench-netstack",
        dependencies: ["Netstack", "NetstackTesting", "Wire", "Link", "CMallocCounter"],
        path: "Benchmarks/bench-netstack", exclude: ["README.md"]),
    // Bulk TCP: the Swift stack vs Linux over a veth, beside kernel-to-kernel (throwaway netns, root).
    .executableTarget(
        name: "bench-tcp", dependencies: ["Netstack", "NetstackTesting", "FDBased", "Link", "Wire", "UserNet"],
        path: "Benchmarks/bench-tcp")
]

// MARK: UserNet: the user-mode gateway behind --net=user
targets += [
    .target(
        name: "UserNet",
        dependencies: [
            "Wire", "Link", "Netstack", "FDBased", "Posix", "CNetShims",
            .product(name: "HeapModule", package: "swift-collections"),
            .product(name: "Logging", package: "swift-log")
        ]),
    .testTarget(
        name: "UserNetTests",
        dependencies: [
            "TestPrivileges",
            "UserNet", "Netstack", "NetstackTesting", "FDBased", "Posix", "Link", "Wire", "CNetShims",
            .product(name: "Logging", package: "swift-log")
        ]),
    // iperf3 through the gateway beside the kernel's veth, in throwaway namespaces (root).
    .executableTarget(
        name: "bench-gateway", dependencies: ["UserNet", "FDBased", "NetstackTesting"], path: "Benchmarks/bench-gateway"
    )
]

// MARK: Netlink: rtnetlink client (veth, addresses, routes)
targets += [
    .target(name: "Netlink", dependencies: ["Wire", "Posix", "CNetShims"]),
    .testTarget(name: "NetlinkTests", dependencies: ["TestPrivileges", "Netlink", "Wire", "CNetShims"]),
    // Prints the time to wire a sandbox's network beside the `ip` binary doing the same.
    .executableTarget(name: "bench-netlink", dependencies: ["Netlink", "Wire"], path: "Benchmarks/bench-netlink")
]

// MARK: Sandbox: the launcher, and the CLI
targets += [
    // --net=user: the launcher wires the veth over rtnetlink (Netlink) and runs the gateway (UserNet).
    .target(
        name: "Sandbox",
        dependencies: [
            "CLauncher", "CSeccomp", "UserNet", "Netlink", "FDBased", "Posix", "Wire",
            .product(name: "Logging", package: "swift-log")
        ]),
    .executableTarget(
        name: "sandbox",
        dependencies: [
            "Sandbox", "UserNet", "FDBased", "Posix",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log")
        ]),
    .testTarget(
        name: "SandboxTests",
        dependencies: ["TestPrivileges", "Sandbox", "UserNet", "Wire", .product(name: "Logging", package: "swift-log")])
]

let package = Package(
    name: "sandbox",
    products: [
        .executable(name: "sandbox", targets: ["sandbox"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0")
    ],
    targets: targets
)
