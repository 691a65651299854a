import NetstackTesting
import TestPrivileges
import Testing

/// The namespace lab every kernel test and benchmark stands on: what it makes is gone when it
/// goes, also after a step of its set-up failed.
@Suite(.tags(.root), .needsRoot) struct NamespaceLabTests {
    static func namespaceExists(_ name: String) throws -> Bool {
        // `ip netns list` prints "NAME" or "NAME (id: N)" per line.
        try NamespaceLab.run(["ip", "netns", "list"]).split(separator: "\n")
            .contains { $0.split(separator: " ").first.map(String.init) == name }
    }

    @Test func namespacesGoWithTheLabAlsoAfterAFailedStep() throws {
        var names: [String] = []
        do {
            let lab = NamespaceLab()
            names = ["nlt-a-\(lab.tag)", "nlt-b-\(lab.tag)"]
            for name in names { try lab.addNamespace(name, loopbackUp: true, sysctls: NamespaceLab.ipv6Off) }
            try lab.addVeth("nla\(lab.shortTag)", in: names[0], peer: "nlb\(lab.shortTag)", in: names[1], mtu: 9000)
            try lab.bringUp("nla\(lab.shortTag)", in: names[0], addresses: ["10.77.0.1/24"])
            let shown = try lab.exec(in: names[0], ["ip", "-o", "link", "show", "nla\(lab.shortTag)"])
            #expect(shown.contains("mtu 9000"))
            // A veth to a namespace nobody made fails with the command's output.
            #expect(throws: NamespaceLab.Failure.self) {
                try lab.addVeth(
                    "nlc\(lab.shortTag)", in: names[0], peer: "nld\(lab.shortTag)", in: "nlt-none-\(lab.tag)")
            }
            for name in names { #expect(try Self.namespaceExists(name)) }
        }
        #expect(names.count == 2)
        for name in names { #expect(try !Self.namespaceExists(name)) }
    }

    @Test func labsInOneProcessGetDistinctTags() {
        let first = NamespaceLab(), second = NamespaceLab()
        #expect(first.tag != second.tag)
        #expect(first.shortTag != second.shortTag)
        #expect(first.shortTag.utf8.count + 3 <= 15) // room for a 3-letter prefix within IFNAMSIZ
    }
}
