// The stack against the Linux kernel over IPv6 on a real veth (see KernelLab, `ipv6: true`):
// the kernel pings the stack, autoconfigures an address from the stack's router
// advertisements, and runs a UDP echo client against it with sizes that fragment both ways.

import FDBased
import Foundation
import Glibc
import Link
import Netstack
import NetstackTesting
import TestPrivileges
import Testing
import Wire

@Suite(.serialized, .tags(.root), .needsRoot) struct IPv6KernelVethTests {
    let stackAddress4 = IPv4Address(10, 0, 2, 2)
    let stackAddress = v6("fd00::2")
    let kernelAddress = v6("fd00::100")

    /// A lab whose kernel side has fd00::100/64 (no DAD, so it is usable at once), and a running
    /// stack with fd00::2/64 that advertises fd00::/64.
    func start() throws -> (KernelLab, StackRunner) {
        let lab = try KernelLab(ipv6: true)
        let fd = lab.stackPacketSocket()
        try #require(fd >= 0)
        let runner = try StackRunner(fd: fd, address: stackAddress4)
        runner.stack.addAddress(IPv6Subnet(stackAddress, prefixLength: 64), to: runner.nic)
        runner.stack.enableRouterAdvertisements(on: runner.nic)
        runner.start()
        return (lab, runner)
    }

    @Test func hundredKernelPingsOverIPv6AreAllAnswered() throws {
        let (lab, runner) = try start()
        defer { runner.stop() }
        try NamespaceLab.run([
            "ip", "-n", lab.kernelNamespace, "-6", "addr", "add", "\(kernelAddress)/64", "dev", lab.kernelLink, "nodad"
        ])
        let result = try lab.inKernelNamespace([
            "ping", "-6", "-c", "100", "-i", "0.01", "-W", "5", "-q", "\(stackAddress)"
        ])
        runner.stop()
        #expect(result.status == 0, "ping: \(result.output)")
        #expect(
            result.output.contains("100 packets transmitted, 100 received, 0% packet loss"), "ping: \(result.output)")
        let counters = runner.stack.counters(of: runner.nic)
        #expect(counters.icmpEchoRepliesSent == 100)
        #expect(counters.neighbourAdvertisementsSent >= 1)
    }

    @Test func kernelAutoconfiguresAnAddressAndDefaultRouteFromTheRouterAdvertisement() throws {
        let (lab, runner) = try start()
        defer { runner.stop() }
        // SLAAC waits for the kernel's link-local DAD and its router solicitation; poll for
        // the outcome (bounded, not a timing assertion).
        var addresses = ""
        for _ in 0..<120 {
            addresses = try lab.inKernelNamespace(["ip", "-6", "addr", "show", "dev", lab.kernelLink]).output
            if addresses.contains("inet6 fd00::") && !addresses.contains("tentative") { break }
            usleep(250_000)
        }
        #expect(addresses.contains("inet6 fd00::"), "ip -6 addr: \(addresses)")
        #expect(addresses.contains("scope global dynamic"), "ip -6 addr: \(addresses)")
        // The kernel's duplicate address detection (link-local and SLAAC address) found no
        // false claim from the stack.
        #expect(!addresses.contains("tentative") && !addresses.contains("dadfailed"), "ip -6 addr: \(addresses)")
        let routes = try lab.inKernelNamespace(["ip", "-6", "route", "show", "default"]).output
        let linkLocal = try #require(runner.stack.linkLocalAddress(of: runner.nic))
        #expect(routes.contains("via \(linkLocal)"), "ip -6 route: \(routes)")
        // The autoconfigured address works: the kernel reaches the stack from it.
        let ping = try lab.inKernelNamespace(["ping", "-6", "-c", "3", "-i", "0.05", "-W", "5", "-q", "\(stackAddress)"]
        )
        runner.stop()
        #expect(ping.output.contains("3 packets transmitted, 3 received"), "ping: \(ping.output)")
        #expect(runner.stack.counters(of: runner.nic).routerAdvertisementsSent >= 1)
    }

    @Test func udpEchoOverIPv6WithAKernelClientIncludingFragmentedSizes() throws {
        let (lab, runner) = try start()
        defer { runner.stop() }
        try NamespaceLab.run([
            "ip", "-n", lab.kernelNamespace, "-6", "addr", "add", "\(kernelAddress)/64", "dev", lab.kernelLink, "nodad"
        ])
        // 1452 is the largest unfragmented payload at MTU 1500 (1500 - 40 - 8); 65,527 the
        // largest UDP payload over IPv6.
        var sizes = Array(stride(from: 1, through: 65_527, by: 2_039))
        sizes += [2, 8, 1232, 1448, 1452, 1453, 1456, 2904, 2905, 8952, 16_384, 32_768, 65_000, 65_526, 65_527]
        sizes.sort()
        let target = stackAddress
        let allSizes = sizes
        let failures: [String] =
            KernelLab.inNamespace(lab.kernelNamespace) { () -> [String] in
                let socketFD = socket(AF_INET6, Native.datagramSocket, 0)
                guard socketFD >= 0 else { return ["socket: errno \(errno)"] }
                defer { close(socketFD) }
                var timeout = timeval(tv_sec: 5, tv_usec: 0)
                setsockopt(socketFD, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                var address = sockaddr_in6()
                address.sin6_family = sa_family_t(AF_INET6)
                address.sin6_port = UInt16(7).bigEndian
                withUnsafeMutableBytes(of: &address.sin6_addr) { bytes in
                    for i in 0..<8 {
                        let word =
                            i < 4 ? target.high >> (48 - 16 * UInt64(i)) : target.low >> (48 - 16 * UInt64(i - 4))
                        bytes[2 * i] = UInt8(truncatingIfNeeded: word >> 8)
                        bytes[2 * i + 1] = UInt8(truncatingIfNeeded: word)
                    }
                }
                let connected = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        connect(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                    }
                }
                guard connected == 0 else { return ["connect: errno \(errno)"] }
                var problems: [String] = []
                var reply = [UInt8](repeating: 0, count: 65_536)
                for size in allSizes {
                    let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ size) }
                    let sent = payload.withUnsafeBytes { send(socketFD, $0.baseAddress, size, 0) }
                    guard sent == size else {
                        problems.append("\(size): send returned \(sent), errno \(errno)")
                        continue
                    }
                    let received = reply.withUnsafeMutableBytes { recv(socketFD, $0.baseAddress, $0.count, 0) }
                    if received != size || Array(reply[0..<max(0, received)]) != payload {
                        problems.append(
                            "\(size): got \(received) bytes\(received == size ? " (content differs)" : ""), errno \(errno)"
                        )
                    }
                }
                return problems
            } ?? ["could not enter \(lab.kernelNamespace)"]
        runner.stop()
        #expect(failures.isEmpty, "\(failures)")
        #expect(runner.echoed == sizes.count)
        let counters = runner.stack.counters(of: runner.nic)
        let fragmented = sizes.filter { $0 > 1452 }.count
        #expect(counters.datagramsReassembled == UInt64(fragmented))
        #expect(counters.fragmentsSent > UInt64(fragmented))
        #expect(runner.stack.reassemblyStatistics.datagramsInProgress == 0)
        #expect(counters[drop: .udpBadChecksum] == 0)
    }
}
