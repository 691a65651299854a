import CNetShims
import Foundation
import Netlink
import Synchronization
import TestPrivileges
import Testing
import Wire

@Suite(.tags(.root), .needsRoot) struct RouteNetlinkTests {
    @Test func vethPeerIsCreatedInsideAnotherNamespace() throws {
        let a = try TestNamespace()
        defer { a.remove() }
        let b = try TestNamespace()
        defer { b.remove() }
        let name = uniqueName("va"), peer = uniqueName("vb")

        let netlink = try RouteNetlink(in: .path(a.path))
        try netlink.createVethPair(name: name, peerName: peer, peerNamespace: .path(b.path))

        #expect(try a.linkNames().contains(name))
        #expect(try !a.linkNames().contains(peer))
        #expect(try b.linkNames().contains(peer))
        #expect(try !b.linkNames().contains(name))
        // Nothing appeared in the namespace the test itself runs in.
        #expect(throws: CommandFailure.self) { try run(["ip", "link", "show", name]) }
        #expect(throws: CommandFailure.self) { try run(["ip", "link", "show", peer]) }

        let link = try netlink.link(named: name)
        #expect(link.kind == "veth")
        #expect(link.name == name)
        let details = try ipJSON(["-n", b.name, "-d", "link", "show", peer])
        #expect((details.first?["linkinfo"] as? [String: Any])?["info_kind"] as? String == "veth")
    }

    /// The launcher's shape: a client in one namespace puts both ends elsewhere, the outside end
    /// in the gateway's namespace and the inside end in the app's.
    @Test func bothEndsArePlacedFromAThirdNamespace() throws {
        let client = try TestNamespace()
        defer { client.remove() }
        let gateway = try TestNamespace()
        defer { gateway.remove() }
        let app = try TestNamespace()
        defer { app.remove() }
        let name = uniqueName("oa"), peer = uniqueName("ob")

        let netlink = try RouteNetlink(in: .path(client.path))
        try netlink.createVethPair(
            name: name, peerName: peer,
            namespace: .path(gateway.path), peerNamespace: .path(app.path))
        #expect(try client.linkNames() == ["lo"])
        #expect(try gateway.linkNames().contains(name))
        #expect(try app.linkNames().contains(peer))
        expectKernel(.getLink, ENODEV) { _ = try netlink.index(of: name) }
    }

    @Test func vethPeerIsPlacedByProcessAndMTUAppliesToBothEnds() throws {
        let a = try TestNamespace()
        defer { a.remove() }
        let b = try TestNamespace()
        defer { b.remove() }
        let parked = try ParkedProcess(in: b)
        defer { parked.stop() }
        let name = uniqueName("pa"), peer = uniqueName("pb")

        let netlink = try RouteNetlink(in: .path(a.path))
        // The parked process may not have entered its namespace yet; wait for it (bounded).
        var entered = false
        let bInode = try inode(of: b.path)
        for _ in 0..<500 where !entered {
            entered = (try? inode(of: "/proc/\(parked.pid)/ns/net")) == bInode
            if !entered { usleep(10_000) }
        }
        try #require(entered)
        try netlink.createVethPair(name: name, peerName: peer, peerNamespace: .process(parked.pid), mtu: 4000)

        let ours = try ipJSON(["-n", a.name, "link", "show", name])
        let theirs = try ipJSON(["-n", b.name, "link", "show", peer])
        #expect(ours.first?["mtu"] as? Int == 4000)
        #expect(theirs.first?["mtu"] as? Int == 4000)
        #expect(try netlink.link(named: name).mtu == 4000)
    }

    @Test func configuresAddressesRoutesMTUMACAndState() throws {
        let a = try TestNamespace()
        defer { a.remove() }
        let b = try TestNamespace()
        defer { b.remove() }
        let name = uniqueName("ga"), peer = uniqueName("gb")
        let outside = try RouteNetlink(in: .path(a.path))
        try outside.createVethPair(name: name, peerName: peer, peerNamespace: .path(b.path))
        try outside.setLinkUp(index: outside.index(of: name))

        let inside = try RouteNetlink(in: .path(b.path))
        let index = try inside.index(of: peer)
        let mac = try #require(MACAddress("02:00:0a:00:02:64"))
        try inside.setMTU(index: index, 9000)
        try inside.setMACAddress(index: index, mac)
        try inside.setLinkUp(index: try inside.index(of: "lo"))
        try inside.setLinkUp(index: index)
        try inside.addAddress(IPv4Address(10, 0, 2, 100), prefixLength: 24, index: index)
        try inside.addAddress(try #require(IPv6Address("fd00::100")), prefixLength: 64, index: index)
        try inside.addDefaultRoute(via: IPv4Address(10, 0, 2, 2), index: index)
        try inside.addDefaultRoute(via: try #require(IPv6Address("fd00::2")), index: index)

        let link = try #require(ipJSON(["-n", b.name, "addr", "show", "dev", peer]).first)
        #expect(link["mtu"] as? Int == 9000)
        #expect(link["address"] as? String == "02:00:0a:00:02:64")
        #expect((link["flags"] as? [String])?.contains("UP") == true)
        let addresses = link["addr_info"] as? [[String: Any]] ?? []
        let v4 = addresses.first { $0["family"] as? String == "inet" }
        #expect(v4?["local"] as? String == "10.0.2.100")
        #expect(v4?["prefixlen"] as? Int == 24)
        #expect(v4?["broadcast"] as? String == "10.0.2.255")
        let v6 = addresses.first { $0["family"] as? String == "inet6" && $0["local"] as? String == "fd00::100" }
        #expect(v6?["prefixlen"] as? Int == 64)
        #expect(v6?["tentative"] == nil) // IFA_F_NODAD: usable at once
        let lo = try #require(ipJSON(["-n", b.name, "link", "show", "lo"]).first)
        #expect((lo["flags"] as? [String])?.contains("UP") == true)

        let route4 = try ipJSON(["-n", b.name, "-4", "route", "show", "default"])
        #expect(route4.count == 1)
        #expect(route4.first?["gateway"] as? String == "10.0.2.2")
        #expect(route4.first?["dev"] as? String == peer)
        let route6 = try ipJSON(["-n", b.name, "-6", "route", "show", "default"])
        #expect(route6.count == 1)
        #expect(route6.first?["gateway"] as? String == "fd00::2")
        #expect(route6.first?["dev"] as? String == peer)

        let parsed = try inside.link(index: index)
        #expect(parsed.macAddress == mac)
        #expect(parsed.mtu == 9000)
        #expect(parsed.isUp)
        #expect(try inside.links().map(\.name).sorted() == ["lo", peer].sorted())
    }

    @Test func renamesAndMovesALinkAcrossNamespaces() throws {
        let a = try TestNamespace()
        defer { a.remove() }
        let b = try TestNamespace()
        defer { b.remove() }
        let name = uniqueName("ra"), peer = uniqueName("rb"), renamed = uniqueName("rr")
        let netlink = try RouteNetlink(in: .path(a.path))
        try netlink.createVethPair(name: name, peerName: peer)
        let index = try netlink.index(of: name)
        try netlink.renameLink(index: index, to: renamed)
        #expect(try netlink.index(of: renamed) == index)
        #expect(try !a.linkNames().contains(name))

        let namespaceFD = open(b.path, O_RDONLY | O_CLOEXEC)
        try #require(namespaceFD >= 0)
        defer { close(namespaceFD) }
        try netlink.moveLink(index: index, to: .fileDescriptor(namespaceFD), newName: "eth0")

        #expect(try !a.linkNames().contains(renamed))
        #expect(try a.linkNames().contains(peer))
        #expect(try b.linkNames().contains("eth0"))
        let inside = try RouteNetlink(in: .fileDescriptor(namespaceFD))
        #expect(try inside.link(named: "eth0").kind == "veth")
    }

    @Test func deletingOneEndRemovesThePair() throws {
        let a = try TestNamespace()
        defer { a.remove() }
        let name = uniqueName("da"), peer = uniqueName("db")
        let netlink = try RouteNetlink(in: .path(a.path))
        try netlink.createVethPair(name: name, peerName: peer)
        #expect(try Set(a.linkNames()).isSuperset(of: [name, peer]))
        try netlink.deleteLink(index: try netlink.index(of: peer))
        #expect(try a.linkNames() == ["lo"])
    }

    @Test func kernelRefusalsComeBackTypedWithErrno() throws {
        let a = try TestNamespace()
        defer { a.remove() }
        let name = uniqueName("ea"), peer = uniqueName("eb")
        let netlink = try RouteNetlink(in: .path(a.path))
        try netlink.createVethPair(name: name, peerName: peer)
        let index = try netlink.index(of: name)

        expectKernel(.newLink, EEXIST) { try netlink.createVethPair(name: name, peerName: uniqueName("ec")) }
        expectKernel(.getLink, ENODEV) { _ = try netlink.index(of: uniqueName("no")) }
        expectKernel(.getLink, ENODEV) { _ = try netlink.link(index: 0x7FFF_FF00) }
        expectKernel(.delLink, ENODEV) { try netlink.deleteLink(index: 0x7FFF_FF00) }
        expectKernel(.setLink, ENODEV) { try netlink.setMTU(index: 0x7FFF_FF00, 1500) }
        expectKernel(.setLink, EINVAL) { try netlink.setMTU(index: index, 10) } // below ETH_MIN_MTU
        try netlink.addAddress(IPv4Address(192, 0, 2, 1), prefixLength: 24, index: index)
        expectKernel(.newAddress, EEXIST) {
            try netlink.addAddress(IPv4Address(192, 0, 2, 1), prefixLength: 24, index: index)
        }
        // The link is down, so no route reaches the gateway.
        expectKernel(.newRoute, ENETUNREACH) {
            try netlink.addDefaultRoute(via: IPv4Address(198, 51, 100, 1), index: index)
        }

        #expect(throws: NetlinkError.self) { try netlink.renameLink(index: index, to: "sixteen-bytes-xx") }
        do {
            try netlink.renameLink(index: index, to: "a/b")
            Issue.record("a name with '/' was accepted")
        } catch {
            guard case .invalidArgument = error else {
                Issue.record("unexpected \(error)")
                return
            }
        }
        do {
            _ = try RouteNetlink(in: .path("/run/netns/\(uniqueName("missing"))"))
            Issue.record("a missing namespace was opened")
        } catch {
            #expect(error.errno == ENOENT)
            guard case .system = error else {
                Issue.record("unexpected \(error)")
                return
            }
        }
    }

    /// A socket opened elsewhere (here: an unbound one made by a thread inside the namespace, as
    /// the sandbox's init sends it) drives that namespace; the caller's descriptor stays its own.
    @Test func clientOverAForeignSocketWorksInItsNamespace() throws {
        let a = try TestNamespace()
        defer { a.remove() }
        let name = uniqueName("fa"), peer = uniqueName("fb")
        let foreign = try unboundRouteSocket(in: a)
        defer { close(foreign) }
        do {
            let netlink = try RouteNetlink(duplicating: foreign)
            #expect(netlink.fileDescriptor != foreign)
            try netlink.createVethPair(name: name, peerName: peer)
            #expect(try netlink.link(named: peer).kind == "veth")
        }
        #expect(try a.linkNames().contains(name))
        #expect(fcntl(foreign, F_GETFD) >= 0) // still open after the client is gone

        let notNetlink = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(notNetlink) }
        do {
            _ = try RouteNetlink(duplicating: notNetlink)
            Issue.record("an AF_UNIX socket was accepted")
        } catch {
            guard case .invalidArgument = error else {
                Issue.record("unexpected \(error)")
                return
            }
        }
    }

    /// Clients opened concurrently from many threads each land in their own namespace: the
    /// helper thread's setns never leaks into another thread's socket.
    @Test func concurrentClientsEachSeeTheirOwnNamespace() throws {
        var namespaces: [TestNamespace] = []
        defer { for namespace in namespaces { namespace.remove() } }
        var expected: [String] = []
        for _ in 0..<4 {
            let namespace = try TestNamespace()
            namespaces.append(namespace)
            let name = uniqueName("ca")
            try RouteNetlink(in: .path(namespace.path)).createVethPair(name: name, peerName: uniqueName("cb"))
            expected.append(name)
        }
        let paths = namespaces.map(\.path), names = expected
        let mismatches = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 40) { i in
            let slot = i % paths.count
            let seen = (try? RouteNetlink(in: .path(paths[slot])).links().map(\.name)) ?? []
            if !seen.contains(names[slot])
                || names.enumerated().contains(where: { $0.offset != slot && seen.contains($0.element) })
            {
                mismatches.withLock { $0 += 1 }
            }
        }
        #expect(mismatches.withLock { $0 } == 0)
    }

    @Test func namespaceEntryLeavesTheCallerAndLeaksNoDescriptor() throws {
        let a = try TestNamespace()
        defer { a.remove() }
        let before = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self/ns/net")
        let namespaceInode = try inode(of: a.path)
        var socketInode: UInt64 = 0
        do {
            let netlink = try RouteNetlink(in: .path(a.path))
            #expect(try netlink.links().map(\.name) == ["lo"])
            var status = stat()
            try #require(fstat(netlink.fileDescriptor, &status) == 0)
            socketInode = UInt64(status.st_ino)
            #expect(try openDescriptorTargets().contains("socket:[\(socketInode)]"))
        }
        // The helper thread moved, not us; the client's socket and the namespace file are closed.
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self/ns/net") == before)
        let targets = try openDescriptorTargets()
        #expect(!targets.contains("socket:[\(socketInode)]"))
        #expect(!targets.contains("net:[\(namespaceInode)]"))
    }
}

private func expectKernel(
    _ request: NetlinkRequestKind, _ errno: Int32,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected \(request) to fail with errno \(errno)", sourceLocation: sourceLocation)
    } catch {
        guard case .kernel(let got, let code, _) = error as? NetlinkError, got == request, code == errno else {
            Issue.record("expected \(request) errno \(errno), got \(error)", sourceLocation: sourceLocation)
            return
        }
    }
}

/// An unbound NETLINK_ROUTE socket made inside `namespace`, as the sandbox's init makes one: here
/// by a thread of its own that joins the namespace, opens the socket and exits.
func unboundRouteSocket(in namespace: TestNamespace) throws -> Int32 {
    final class Box: @unchecked Sendable {
        var fd: Int32 = -1
        var error: Int32 = 0
    }
    let box = Box()
    let nsfd = open(namespace.path, O_RDONLY | O_CLOEXEC)
    guard nsfd >= 0 else { throw CommandFailure(command: ["open", namespace.path], status: errno, output: "") }
    defer { close(nsfd) }
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        defer { done.signal() }
        guard netlink_shims_enter_network_namespace(nsfd) == 0 else {
            box.error = errno
            return
        }
        box.fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), NETLINK_ROUTE)
        if box.fd < 0 { box.error = errno }
    }
    thread.start()
    done.wait()
    guard box.fd >= 0 else { throw CommandFailure(command: ["socket in netns"], status: box.error, output: "") }
    return box.fd
}

func inode(of path: String) throws -> UInt64 {
    var status = stat()
    guard stat(path, &status) == 0 else { throw CommandFailure(command: ["stat", path], status: errno, output: "") }
    return UInt64(status.st_ino)
}

/// What every open descriptor of this process points at (`socket:[123]`, `net:[456]`, ...).
func openDescriptorTargets() throws -> Set<String> {
    let entries = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")
    return Set(entries.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)") })
}
