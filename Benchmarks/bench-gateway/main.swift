// bench-gateway: TCP throughput through the --net=user gateway, beside the kernel's own veth
// and slirp4netns (when installed) measured in the same run (iperf3, both directions). Run as
// root, on an idle machine:
//
//     swift build -c release --product bench-gateway && .build/release/bench-gateway [seconds]
//
// Everything happens in throwaway namespaces (pid in the names), removed at the end:
//   gateway:  app (eth0 10.0.2.100) = veth = gw (AF_PACKET, the gateway) ; host (198.51.100.1, iperf3 -s)
//   kernel:   kapp (10.0.3.1) = veth = khost (10.0.3.2, iperf3 -s)
//   slirp:    sapp (tap0 10.0.2.100, slirp4netns --configure) ; slirp4netns runs in host
// Every link uses MTU 65520, the gateway's default.

import FDBased
import Foundation
import Glibc
import NetstackTesting
import UserNet

let seconds = CommandLine.arguments.count > 1 ? (Int(CommandLine.arguments[1]) ?? 5) : 5
let pid = getpid()
let names = (
    app: "bgw-app-\(pid)", gw: "bgw-gw-\(pid)", host: "bgw-host-\(pid)", kapp: "bgw-kapp-\(pid)",
    khost: "bgw-khost-\(pid)", sapp: "bgw-sapp-\(pid)"
)
let gatewayLink = "bgw\(pid % 100_000)"
/// Owns the namespaces (and the veths in them): `cleanup` removes them on every path.
let lab = NamespaceLab()
var servers: [Process] = []

struct Failure: Error, CustomStringConvertible { var description: String }

@MainActor func startServer(_ ns: String, bind: String) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["ip", "netns", "exec", ns, "iperf3", "-s", "-B", bind, "-1"]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    servers.append(process)
    usleep(300_000)
}

/// Gbit/s received, from iperf3's JSON.
@MainActor func iperf(_ ns: String, server: String, reverse: Bool, serverNamespace: String, bind: String) throws
    -> Double
{
    try startServer(serverNamespace, bind: bind)
    var arguments = ["ip", "netns", "exec", ns, "iperf3", "-c", server, "-t", "\(seconds)", "-J"]
    if reverse { arguments.append("-R") }
    let json = try NamespaceLab.run(arguments)
    guard let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
        let end = object["end"] as? [String: Any], let sum = end["sum_received"] as? [String: Any],
        let bits = sum["bits_per_second"] as? Double
    else { throw Failure(description: "iperf3 output: \(json.prefix(300))") }
    return bits / 1e9
}

@MainActor func cleanup() {
    for server in servers where server.isRunning {
        kill(server.processIdentifier, SIGKILL)
        server.waitUntilExit()
    }
    lab.removeAll()
}

do {
    defer { cleanup() }
    for name in [names.app, names.gw, names.host, names.kapp, names.khost, names.sapp] {
        try lab.addNamespace(name, loopbackUp: true)
    }
    try lab.addVeth("eth0", in: names.app, peer: gatewayLink, in: names.gw, mtu: 65520)
    try lab.bringUp("eth0", in: names.app, addresses: ["10.0.2.100/24"])
    try NamespaceLab.run(["ip", "-n", names.app, "route", "add", "default", "via", "10.0.2.2"])
    try lab.bringUp(gatewayLink, in: names.gw)
    try NamespaceLab.run(["ip", "-n", names.host, "addr", "add", "198.51.100.1/32", "dev", "lo"])
    try lab.addVeth("eth0", in: names.kapp, peer: "eth0", in: names.khost, mtu: 65520)
    try lab.bringUp("eth0", in: names.kapp, addresses: ["10.0.3.1/24"])
    try lab.bringUp("eth0", in: names.khost, addresses: ["10.0.3.2/24"])

    let gwFD = open("/run/netns/\(names.gw)", O_RDONLY | O_CLOEXEC)
    let hostFD = open("/run/netns/\(names.host)", O_RDONLY | O_CLOEXEC)
    defer {
        close(gwFD)
        close(hostFD)
    }
    let packetSocket = try Gateway.openPacketSocket(interface: gatewayLink, namespaceFD: gwFD)
    var settings = Gateway.Settings()
    settings.hostNamespaceFD = hostFD
    let gateway = try Gateway(
        options: try UserNetOptions(dns: ["127.0.0.1:53"]), packetSocket: packetSocket, settings: settings)
    defer { gateway.stop() }

    let kernelUp = try iperf(
        names.kapp, server: "10.0.3.2", reverse: false, serverNamespace: names.khost, bind: "10.0.3.2")
    let kernelDown = try iperf(
        names.kapp, server: "10.0.3.2", reverse: true, serverNamespace: names.khost, bind: "10.0.3.2")
    let gatewayUp = try iperf(
        names.app, server: "198.51.100.1", reverse: false, serverNamespace: names.host, bind: "198.51.100.1")
    let gatewayDown = try iperf(
        names.app, server: "198.51.100.1", reverse: true, serverNamespace: names.host, bind: "198.51.100.1")
    // slirp4netns, the peer the issue measures against, in the same conditions.
    var slirp: (up: Double, down: Double)?
    if (try? NamespaceLab.run(["which", "slirp4netns"])) != nil {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "ip", "netns", "exec", names.host, "slirp4netns", "--configure", "--mtu=65520",
            "--disable-host-loopback", "--netns-type=path", "/run/netns/\(names.sapp)", "tap0"
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        servers.append(process)
        for _ in 0..<100 {
            if let routes = try? NamespaceLab.run(["ip", "-n", names.sapp, "route", "show", "default"]),
                routes.contains("tap0")
            {
                break
            }
            usleep(50_000)
        }
        slirp = (
            try iperf(
                names.sapp, server: "198.51.100.1", reverse: false, serverNamespace: names.host, bind: "198.51.100.1"),
            try iperf(
                names.sapp, server: "198.51.100.1", reverse: true, serverNamespace: names.host, bind: "198.51.100.1")
        )
    }
    func row(_ name: String, _ up: Double, _ down: Double) -> String {
        name.padding(toLength: 18, withPad: " ", startingAt: 0) + String(format: "%8.2f %8.2f", up, down)
    }
    print("iperf3 TCP, \(seconds) s each way, MTU 65520, Gbit/s")
    print("path".padding(toLength: 18, withPad: " ", startingAt: 0) + "      up     down")
    print(row("kernel veth", kernelUp, kernelDown))
    if let slirp { print(row("slirp4netns", slirp.up, slirp.down)) }
    print(row("sandbox gateway", gatewayUp, gatewayDown))
    if let counters = gateway.counters() {
        let drops = counters.nic.nonZeroDrops.map { "\($0.0): \($0.1)" }.joined(separator: ", ")
        print(
            "gateway: \(counters.nic.rxFrames) frames in, \(counters.nic.txFrames) out, ring drops \(counters.link.kernelDropped), "
                + "stack drops [\(drops)]")
    }
} catch {
    cleanup()
    print("bench-gateway: \(error)")
    exit(1)
}
