// Named networks' definitions: names checked as container names are, a free /24 picked from
// 10.89.0.0/16, overlapping networks refused, and what is stored read back as the gateway's
// options (the policy and the network-wide link faults included).

import Glibc
import Sandbox
import Testing
import UserNet

@Suite struct NetworkStoreTests {
    /// A store in a fresh directory, removed after `body`.
    func withStore(_ body: (NetworkStore) throws -> Void) throws {
        let root = "/tmp/sandbox-networks-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        #expect(mkdir(root, 0o700) == 0)
        defer {
            for network in NetworkStore(root: root).list() { try? NetworkStore(root: root).remove(network.name) }
            rmdir(root)
        }
        try body(NetworkStore(root: root))
    }

    func definition(_ name: String, _ options: UserNetOptions) -> NetworkDefinition {
        NetworkDefinition(name: name, options: options, created: "2026-12-04T00:00:00Z")
    }

    @Test(arguments: ["db", "web-1", "a.b_c", "X9"]) func acceptsContainerLikeNames(_ name: String) throws {
        try NetworkStore.validate(name: name)
    }

    @Test(arguments: ["", "-x", ".x", "a b", "a/b", "a,b", String(repeating: "n", count: 64)])
    func refusesOtherNames(_ name: String) {
        #expect(throws: SandboxError.self) { try NetworkStore.validate(name: name) }
    }

    @Test func picksTheFirstFreeSlash24AndRefusesOverlaps() throws {
        try withStore { store in
            #expect(try store.freeCIDR() == "10.89.0.0/24")
            try store.create(definition("one", try UserNetOptions(cidr: "10.89.0.0/24")))
            #expect(try store.freeCIDR() == "10.89.1.0/24")
            try store.create(definition("two", try UserNetOptions(cidr: "10.89.2.0/23")))
            #expect(try store.freeCIDR() == "10.89.1.0/24")
            #expect(throws: SandboxError.self) {
                try store.create(definition("three", try UserNetOptions(cidr: "10.89.3.0/24")))
            }
            #expect(throws: SandboxError.self) {
                try store.create(definition("one", try UserNetOptions(cidr: "10.90.0.0/24")))
            }
            #expect(store.list().map(\.name) == ["one", "two"])
        }
    }

    @Test func whatIsStoredComesBackAsTheGatewaysOptions() throws {
        try withStore { store in
            var options = try UserNetOptions(
                cidr: "10.89.7.0/24", dns: ["127.0.0.1:5353"],
                policyArguments: [("--allow", "192.0.2.0/24:443"), ("--deny", "all")], pcap: "/tmp/n.pcap")
            options.linkFaults = try LinkFaults(delay: "20ms", loss: "1%")
            try store.create(definition("policed", options))
            let back = try store.load("policed").options()
            #expect(back.network.ipv4Network == options.network.ipv4Network)
            #expect(back.policy == options.policy)
            #expect(back.network.dnsUpstreams == options.network.dnsUpstreams)
            #expect(back.linkFaults == options.linkFaults)
            #expect(back.pcapPath == "/tmp/n.pcap")
            try store.remove("policed")
            #expect(throws: SandboxError.self) { try store.load("policed") }
        }
    }
}
