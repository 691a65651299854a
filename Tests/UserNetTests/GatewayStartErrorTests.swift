// What a user reads when the gateway cannot start: the flag, the value it concerns and, where
// there is one, the fix; never an internal type name.

import Glibc
import Testing
import UserNet

@Suite struct GatewayStartErrorTests {
    static func message(_ options: UserNetOptions) -> String? {
        do {
            let resources = try GatewayResources.open(for: options)
            resources.close()
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func unopenableOutputFilesNameTheirFlagAndPath() throws {
        let pcap = Self.message(try UserNetOptions(pcap: "/nonexistent-dir/x.pcap"))
        #expect(
            pcap
                == "--pcap /nonexistent-dir/x.pcap: cannot open it: No such file or directory (errno 2) (its directory must exist)"
        )
        let log = Self.message(try UserNetOptions(logConnections: "/nonexistent-dir/x.log"))
        #expect(log?.hasPrefix("--log-connections /nonexistent-dir/x.log: cannot open it") == true)
    }

    /// A port another socket holds: the message names the -p value, the address and the fix.
    @Test func publishedPortInUseNamesThePortAndTheFix() throws {
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(holder >= 0)
        defer { close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(holder, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        try #require(bound == 0 && listen(holder, 1) == 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = getsockname(holder, $0, &length) }
        }
        let port = UInt16(bigEndian: address.sin_port)
        let message = try #require(Self.message(try UserNetOptions(publish: ["127.0.0.1:\(port):8000"])))
        #expect(
            message == "-p 127.0.0.1:\(port):8000/tcp: cannot listen on 127.0.0.1:\(port): Address already in use "
                + "(errno 98) (another program holds the port; pick another host port)")
        #expect(!message.contains("system(") && !message.contains("eventLoop"))
    }
}
