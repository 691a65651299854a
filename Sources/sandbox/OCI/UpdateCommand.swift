import ArgumentParser
import Sandbox
import UserNet

/// `sandbox update`: changes a detached sandbox's link faults while it runs, e.g. `--net-loss
/// 100%` to cut it off and `--net-loss 0%` to heal it. Only the faults named change.
struct Update: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Change a running detached sandbox's link faults (--net-delay, --net-loss, ...).",
        discussion: "Faults not named keep their values. runc's resource updates are not provided.")

    @OptionGroup(title: "Link faults")
    var faults: LinkFaultFlags

    @Argument(help: "Sandbox names or ids.")
    var ids: [String]

    func run() throws {
        try runtimeCommand { () throws(SandboxError) in
            guard !faults.given.isEmpty else {
                throw .invalidArgument("nothing to update: name a link fault, e.g. --net-loss 100%")
            }
            let runtime = try RuntimeGlobals.runtime()
            for id in ids {
                let now = try runtime.updateLinkFaults(id: id) { (current) throws(SandboxError) in
                    try faults.applied(to: current)
                }
                print("\(id): \(now.flagText)")
            }
        }
    }
}
