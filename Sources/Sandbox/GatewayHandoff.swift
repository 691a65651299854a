// What the launcher hands the gateway's process on descriptor 3, and where the other
// descriptors are. One build is at both ends, so the format is only as strict as a bug needs:
// NUL-terminated strings (settings as key=value, then `--`, then the UserNetOptions flags),
// then the gateway's compiled seccomp program to the end. It fits a pipe's buffer, so the
// launcher writes it whole and never blocks on a process that died.

import FDBased
import Glibc
import UserNet

struct GatewayHandoff: Equatable {
    /// Descriptors of the gateway's process, in the order `GatewayProcess` hands them on.
    enum Descriptor {
        static let handoff: Int32 = 3
        /// Lines from the gateway to the launcher (GatewayStatus).
        static let status: Int32 = 4
        /// Requests from the launcher; EOF means stop.
        static let control: Int32 = 5
        /// The app's veth; a named network's gateway has none here (its members' come later).
        static let packetSocket: Int32 = 6
    }

    var flags: [String]
    var dispatch: PacketDispatchMode
    var hasPcap: Bool
    var hasConnectionLog: Bool
    /// The host port each published-port socket is bound to, in order (the kernel's pick where
    /// `-p` gave none: the confined gateway may not ask the socket).
    var hostPorts: [UInt16]
    var publishedPorts: Int { hostPorts.count }
    var log = LogSettings()
    /// RLIMIT_NOFILE, soft and hard, for the gateway (from --max-flows, within the hard limit).
    var openFiles: UInt64
    /// Whether the process may and should empty its supplementary groups (root only).
    var dropGroups: Bool
    var lastCapability: Int32
    /// The test hook `--debug-gateway-forbidden-syscall`: once running, the gateway makes one
    /// syscall outside its allow-list (sync), so a test sees the kernel kill it.
    var forbiddenSyscallAfterStart: Bool
    /// The launcher set up the packet socket (Gateway.preparePacketSocket) before binding it.
    var packetSocketPrepared = false
    /// The gateway serves a named network (Gateway.Settings.servesNetwork): no packet socket.
    var servesNetwork = false
    var seccompProgram: [UInt8]

    /// Where the resources sit among the descriptors the process received.
    var resources: GatewayResources {
        // Then pcap, connection log, published ports (GatewayResources.all), as present.
        var next = servesNetwork ? Descriptor.packetSocket : Descriptor.packetSocket + 1
        func take() -> Int32 {
            defer { next += 1 }
            return next
        }
        var out = GatewayResources()
        if hasPcap { out.pcapFD = take() }
        if hasConnectionLog { out.connectionLogFD = take() }
        out.publishedPortFDs = (0..<publishedPorts).map { _ in take() }
        return out
    }

    var encoded: [UInt8] {
        let settings = [
            "dispatch=\(Self.name(of: dispatch))", "pcap=\(hasPcap ? 1 : 0)", "log=\(hasConnectionLog ? 1 : 0)",
            "nofile=\(openFiles)", "groups=\(dropGroups ? 1 : 0)",
            "last-cap=\(lastCapability)", "forbidden-syscall=\(forbiddenSyscallAfterStart ? 1 : 0)",
            "prepared=\(packetSocketPrepared ? 1 : 0)", "network=\(servesNetwork ? 1 : 0)",
            "host-ports=" + hostPorts.map { String($0) }.joined(separator: ","),
            "log-level=\(log.level)", "log-format=\(log.format.rawValue)", "--"
        ]
        var out: [UInt8] = []
        for text in settings + flags { out += Array(text.utf8) + [0] }
        out += [0] // an empty string ends the strings
        return out + seccompProgram
    }

    init(
        flags: [String], dispatch: PacketDispatchMode, resources: GatewayResources, hostPorts: [UInt16],
        openFiles: UInt64,
        dropGroups: Bool, lastCapability: Int32, forbiddenSyscallAfterStart: Bool, seccompProgram: [UInt8]
    ) {
        self.flags = flags
        self.dispatch = dispatch
        hasPcap = resources.pcapFD != nil
        hasConnectionLog = resources.connectionLogFD != nil
        self.hostPorts = hostPorts
        self.openFiles = openFiles
        self.dropGroups = dropGroups
        self.lastCapability = lastCapability
        self.forbiddenSyscallAfterStart = forbiddenSyscallAfterStart
        self.seccompProgram = seccompProgram
    }

    /// Parses `encoded`; nil for anything it did not make.
    init?(decoding bytes: [UInt8]) {
        var strings: [String] = []
        var start = 0
        var end = 0
        while true {
            guard let zero = bytes[start...].firstIndex(of: 0) else { return nil }
            if zero == start {
                end = zero + 1
                break
            }
            strings.append(String(decoding: bytes[start..<zero], as: UTF8.self))
            start = zero + 1
        }
        guard let separator = strings.firstIndex(of: "--") else { return nil }
        var settings: [String: String] = [:]
        for item in strings[..<separator] {
            guard let equals = item.firstIndex(of: "=") else { return nil }
            settings[String(item[..<equals])] = String(item[item.index(after: equals)...])
        }
        guard let dispatch = settings["dispatch"].flatMap(Self.mode(named:)),
            let openFiles = settings["nofile"].flatMap({ UInt64($0) }),
            let lastCap = settings["last-cap"].flatMap({ Int32($0) }), (0..<64).contains(lastCap)
        else { return nil }
        self.flags = Array(strings[(separator + 1)...])
        self.dispatch = dispatch
        hasPcap = settings["pcap"] == "1"
        hasConnectionLog = settings["log"] == "1"
        let hostPortTexts = settings["host-ports"]?.split(separator: ",") ?? []
        let hostPortList = hostPortTexts.compactMap { UInt16($0) }
        guard hostPortList.count == hostPortTexts.count, hostPortList.count <= PublishedPort.maximum else { return nil }
        hostPorts = hostPortList
        guard
            let logSettings = try? LogSettings(level: settings["log-level"] ?? "", format: settings["log-format"] ?? "")
        else { return nil }
        log = logSettings
        self.openFiles = openFiles
        dropGroups = settings["groups"] == "1"
        lastCapability = lastCap
        forbiddenSyscallAfterStart = settings["forbidden-syscall"] == "1"
        packetSocketPrepared = settings["prepared"] == "1"
        servesNetwork = settings["network"] == "1"
        seccompProgram = Array(bytes[end...])
    }

    static func name(of mode: PacketDispatchMode) -> String {
        switch mode {
        case .readv: "readv"
        case .recvmmsg: "recvmmsg"
        case .packetMMap: "packet-mmap"
        }
    }

    static func mode(named name: String) -> PacketDispatchMode? {
        switch name {
        case "readv": .readv
        case "recvmmsg": .recvmmsg
        case "packet-mmap": .packetMMap
        default: nil
        }
    }
}
