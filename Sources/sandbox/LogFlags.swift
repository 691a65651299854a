import ArgumentParser
import Sandbox

/// The tool's own messages (swift-log, LineLogHandler), shared by `run` and `usernet`: the
/// launcher's set-up steps at debug; the gateway's refusals at limits, policy denials and
/// unanswered DNS queries at warning (at most 10 lines a second).
struct LogFlags: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The least severe of the tool's own messages on stderr: trace, debug (the set-up steps), info, notice, warning (flows the gateway refused at a limit or by policy, DNS queries no upstream answered), error or critical. Default: warning.",
            valueName: "LEVEL"))
    var logLevel: String = "warning"

    @Option(
        help: ArgumentHelp(
            "How those messages are written: text (`sandbox: warning: gateway: ...`) or json (one object a line: time, level, component, msg, fields). Default: text.",
            valueName: "text|json"))
    var logFormat: String = "text"

    func settings() throws(SandboxError) -> LogSettings { try LogSettings(level: logLevel, format: logFormat) }
}
