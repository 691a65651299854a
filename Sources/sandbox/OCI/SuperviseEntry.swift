import Glibc
import Sandbox

/// The supervisor's own start (`sandbox __supervise --root DIR [--console-socket S] ID
/// [-- RUN ARGS]`), made by ContainerRuntime, never typed by users: the configuration comes
/// from the bundle in the container's record, or from `run`'s arguments after `--`.
enum SuperviseEntry {
    static func run(_ arguments: [String]) -> Never {
        var words = arguments[...]
        var root: String?, consoleSocket: String?
        while let word = words.first, word.hasPrefix("--"), word != "--" {
            words.removeFirst()
            if word == "--root" { root = words.popFirst() }
            if word == "--console-socket" { consoleSocket = words.popFirst() }
        }
        guard let id = words.popFirst() else { fail("no container id", status: 125) }
        let runArguments = words.first == "--" ? Array(words.dropFirst()) : nil
        do throws(SandboxError) {
            let store = try ContainerStore(root: root)
            let record = try store.read(id)
            let plan: Supervisor.Plan
            if let bundle = record.bundle {
                let loaded = try OCIBundle.load(bundle)
                var configuration = try loaded.sandboxConfiguration(stateDirectory: store.directory(id))
                configuration.consoleSocket = consoleSocket
                // Under an engine this process's stderr is the container's: only errors go there.
                configuration.gatewayLaunch.log = LogSettings(level: .error)
                configuration.gatewayLaunch.log.bootstrap()
                plan = Supervisor.Plan(
                    configuration: configuration, engineNetwork: loaded.engineNetworkNamespace, waitForStart: true,
                    keepLog: false,
                    publishListeners: configuration.network == .user && loaded.engineNetworkNamespace != nil,
                    hooks: loaded.config.hooks)
            } else {
                guard let runArguments, let run = try? Run.parse(runArguments) else {
                    fail("container \(id): no bundle and no run arguments", status: 125)
                }
                try run.logging.settings().bootstrap() // its stderr is the sandbox's log
                var configuration = try run.makeConfiguration(arguments: ["sandbox", "run"] + runArguments)
                // Its link faults can change while it runs (`sandbox update`).
                configuration.userNet?.adjustableLinkFaults = true
                plan = Supervisor.Plan(
                    configuration: configuration, engineNetwork: nil, waitForStart: false, keepLog: true)
            }
            Supervisor.run(plan, id: id, store: store)
        } catch {
            fail(error.description, status: error.exitCode)
        }
    }

    static func fail(_ message: String, status: Int32) -> Never {
        Supervisor.report(failure: message)
        exit(status)
    }
}
