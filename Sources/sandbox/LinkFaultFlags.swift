import ArgumentParser
import Sandbox
import UserNet

/// What the gateway does to the sandbox's link, for tests of what happens when the network
/// misbehaves (netem's meanings; this is applied in the gateway, in each direction). Shared by
/// `run` and `usernet`; UserNet's LinkFaults parses and checks the values.
struct LinkFaultFlags: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Hold every frame D each way (a round trip gains 2D), give or take JITTER (uniform), e.g. 50ms or 100ms,10ms. Default: no delay.",
            valueName: "D[,JITTER]"))
    var netDelay: String?

    @Option(
        help: ArgumentHelp("Drop this share of frames each way, e.g. 3%. Default: 0%.", valueName: "P%"))
    var netLoss: String?

    @Option(
        help: ArgumentHelp(
            "Carry frames at most this fast each way, e.g. 10mbit or 512kbit (tc's units); a frame waits for the ones before it. Default: as fast as the link goes.",
            valueName: "RATE"))
    var netRate: String?

    @Option(
        help: ArgumentHelp("Send this share of frames twice, e.g. 1%. Default: 0%.", valueName: "P%"))
    var netDuplicate: String?

    @Option(
        help: ArgumentHelp(
            "Send this share of frames at once while the others wait out --net-delay (which it needs), so they overtake. Default: 0%.",
            valueName: "P%"))
    var netReorder: String?

    @Option(
        help: ArgumentHelp(
            "Seed of the faults' random choices: the same seed makes the same choices. Default: 1.", valueName: "N"))
    var netSeed: String?

    /// The flags that were given, by name (refused outside --net=user).
    var given: [String] {
        [
            ("--net-delay", netDelay), ("--net-loss", netLoss), ("--net-rate", netRate),
            ("--net-duplicate", netDuplicate), ("--net-reorder", netReorder), ("--net-seed", netSeed)
        ].compactMap { $0.1 == nil ? nil : $0.0 }
    }

    func linkFaults() throws(SandboxError) -> LinkFaults { try applied(to: LinkFaults()) }

    /// The flags given over `current` (`sandbox update`: what is not named stays).
    func applied(to current: LinkFaults) throws(SandboxError) -> LinkFaults {
        var faults = current
        do {
            try faults.apply(
                delay: netDelay, loss: netLoss, rate: netRate, duplicate: netDuplicate, reorder: netReorder,
                seed: netSeed)
        } catch {
            throw .invalidArgument(error.description)
        }
        return faults
    }
}
