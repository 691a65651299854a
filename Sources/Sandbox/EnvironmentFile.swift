// `--env-file FILE` in docker's format: one NAME=VALUE a line, taken literally (no quotes or
// escapes are interpreted); NAME alone passes this process's value; blank lines and lines
// starting with '#' are skipped.

public enum EnvironmentFile {
    public static func variables(in path: String, lookup: (String) -> String?) throws(SandboxError)
        -> [EnvironmentVariable]
    {
        let text: String
        do { text = try SystemCalls.readText(path) } catch {
            throw .invalidArgument("bad --env-file \(path): cannot read it (\(error))")
        }
        var out: [EnvironmentVariable] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            // As docker: a name with white space in it is a mistake, not a variable.
            guard !trimmed.prefix(while: { $0 != "=" }).contains(where: { $0 == " " || $0 == "\t" }) else {
                throw .invalidArgument("bad --env-file \(path) line \(number + 1): the name has white space in it")
            }
            do {
                if let variable = try EnvironmentVariable.parse(String(trimmed), lookup: lookup) {
                    out.append(variable)
                }
            } catch {
                throw .invalidArgument("bad --env-file \(path) line \(number + 1): expected NAME=VALUE or NAME")
            }
        }
        return out
    }
}
