// swift-tools-version:6.1
// The layout follows the architecture (README, "Architecture"):
//
//   Wire  <-  Link  <-  Netstack  <-  UserNet  <-  Sandbox  <-  sandbox (CLI)
//                   <-  FDBased   <-
//
// Arrows point one way: nothing low imports anything high. Each area keeps its targets in its
// own block below.
import PackageDescription

var targets: [Target] = []

// MARK: Foundation: C glue and system libraries
targets += [
    // C glue for what Glibc's Swift module hides; no policy here.
    .target(name: "CShims"),
    // libseccomp and libcap as system libraries, found with pkg-config.
    .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
    .systemLibrary(name: "CCap", pkgConfig: "libcap", providers: [.apt(["libcap-dev"])]),
]

// MARK: Wire: packet formats (zero-copy views + validated Reprs, checksums)
targets += [
    .target(name: "Wire"),
    .testTarget(name: "WireTests", dependencies: ["Wire"]),
]

// MARK: Link: the LinkEndpoint / NetworkDispatcher seam between endpoints and the stack
targets += [
    .target(name: "Link", dependencies: ["Wire"]),
]

// MARK: FDBased: the fd-based link endpoint (AF_PACKET rings, recvmmsg, readv)
targets += [
]

// MARK: Netstack: the sans-IO TCP/IP stack, and its test kit
targets += [
]

// MARK: UserNet: the user-mode gateway behind --net=user
targets += [
]

// MARK: Netlink: rtnetlink client (veth, addresses, routes)
targets += [
    .target(name: "Netlink", dependencies: ["Wire", "CShims"]),
    .testTarget(name: "NetlinkTests", dependencies: ["Netlink", "Wire", "CShims"]),
    // Prints the time to wire a sandbox's network beside the `ip` binary doing the same.
    .executableTarget(name: "bench-netlink", dependencies: ["Netlink", "Wire"]),
]

// MARK: Sandbox: the launcher, and the CLI
targets += [
    .target(name: "Sandbox", dependencies: ["CShims", "CSeccomp", "CCap"]),
    .executableTarget(name: "sandbox", dependencies: [
        "Sandbox",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
    ]),
    .testTarget(name: "SandboxTests", dependencies: ["Sandbox"]),
]

let package = Package(
    name: "sandbox",
    products: [
        .executable(name: "sandbox", targets: ["sandbox"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
    ],
    targets: targets
)
