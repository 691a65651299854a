import Netlink
import Wire

// bench-netlink: the time to wire a sandbox's network with RouteNetlink (veth pair with the
// peer created inside the app's namespace, lo up, eth0 up, an address, a default route, then
// delete), beside the same steps done with the `ip` binary, measured in the same run.
// Runs as root in two throwaway namespaces that it removes on every path.
#if canImport(Glibc)
    import Glibc
#endif

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

func sh(_ command: String) -> Bool { system(command) == 0 }

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
}

/// Returns the exit status; the caller removes the namespaces afterwards, whatever happened.
func benchmark(outside: String, inside: String) -> Int32 {
    let rounds = 50
    var netlinkTimes: [Double] = [], ipTimes: [Double] = []
    do {
        for round in 0..<rounds {
            let start = now()
            let out = try RouteNetlink(in: .path("/run/netns/\(outside)"))
            try out.createVethPair(
                name: "gw\(round)", peerName: "eth0", peerNamespace: .path("/run/netns/\(inside)"), mtu: 65520)
            let app = try RouteNetlink(in: .path("/run/netns/\(inside)"))
            let eth0 = try app.index(of: "eth0")
            try app.setLinkUp(index: try app.index(of: "lo"))
            try app.setLinkUp(index: eth0)
            try app.addAddress(IPv4Address(10, 0, 2, 100), prefixLength: 24, index: eth0)
            try app.addDefaultRoute(via: IPv4Address(10, 0, 2, 2), index: eth0)
            netlinkTimes.append(now() - start)
            try out.deleteLink(index: try out.index(of: "gw\(round)"))
            try app.setLinkUp(index: try app.index(of: "lo"), false)
        }
    } catch {
        print("bench-netlink: \(error)")
        return 1
    }
    for round in 0..<rounds {
        let start = now()
        let ok = sh(
            "ip -n \(outside) link add gw\(round) mtu 65520 type veth peer name eth0 mtu 65520 netns \(inside)"
                + " && ip -n \(inside) link set lo up && ip -n \(inside) link set eth0 up"
                + " && ip -n \(inside) addr add 10.0.2.100/24 dev eth0 && ip -n \(inside) route add default via 10.0.2.2"
        )
        ipTimes.append(now() - start)
        _ = sh("ip -n \(outside) link del gw\(round); ip -n \(inside) link set lo down")
        if !ok {
            print("bench-netlink: ip failed")
            return 1
        }
    }
    func ms(_ seconds: Double) -> String {
        let hundredths = Int((seconds * 100_000).rounded())
        return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100) ms"
    }
    print("network wiring (veth into netns, lo+eth0 up, address, default route), median of \(rounds):")
    print("  RouteNetlink   \(ms(median(netlinkTimes)))")
    print("  ip (5 execs)   \(ms(median(ipTimes)))")
    return 0
}

let tag = "nlb\(getpid())"
let outside = tag + "o", inside = tag + "i"
var status: Int32 = 1
if sh("ip netns add \(outside) && ip netns add \(inside)") {
    status = benchmark(outside: outside, inside: inside)
} else {
    print("bench-netlink: cannot create namespaces (needs root)")
}
_ = sh("ip netns delete \(outside) 2>/dev/null; ip netns delete \(inside) 2>/dev/null")
exit(status)
