/// `--mount type=bind|tmpfs,...` in docker's syntax: comma-separated KEY=VALUE fields (a bare
/// `readonly`/`ro` for true). bind: `source`/`src`, `target`/`destination`/`dst`,
/// `readonly`/`ro`; tmpfs: `target`, `tmpfs-size` (bytes or 64m), `tmpfs-mode` (octal). Keys
/// docker has and a sandbox cannot honour (bind-propagation, volume options) are refused.
public enum MountFlag {
    public enum Parsed: Sendable, Equatable {
        case bind(VolumeMount)
        case tmpfs(TmpfsMount)
    }

    public static func parse(_ text: String) throws(SandboxError) -> Parsed {
        var fields: [String: String] = [:]
        for field in text.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = field.split(separator: "=", maxSplits: 1).map(String.init)
            guard let key = parts.first, !key.isEmpty, fields[key] == nil else {
                throw .invalidArgument("bad --mount \(text): empty or repeated field \(field)")
            }
            fields[key] = parts.count == 2 ? parts[1] : "true"
        }
        let known: Set<String> = [
            "type", "source", "src", "target", "destination", "dst", "readonly", "ro", "tmpfs-size", "tmpfs-mode"
        ]
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw .invalidArgument(
                "bad --mount \(text): \(unknown) is not supported (use type, source, target, readonly, tmpfs-size, tmpfs-mode)"
            )
        }
        guard let target = fields["target"] ?? fields["destination"] ?? fields["dst"] else {
            throw .invalidArgument("bad --mount \(text): target= is required")
        }
        let readOnly = try flag(fields["readonly"] ?? fields["ro"], in: text)
        switch fields["type"] ?? "volume" {
        case "bind":
            guard let source = fields["source"] ?? fields["src"] else {
                throw .invalidArgument("bad --mount \(text): a bind needs source=")
            }
            guard fields["tmpfs-size"] == nil, fields["tmpfs-mode"] == nil else {
                throw .invalidArgument("bad --mount \(text): tmpfs-size and tmpfs-mode are for type=tmpfs")
            }
            return .bind(try VolumeMount.parse(source + ":" + target + (readOnly ? ":ro" : ":rw")))
        case "tmpfs":
            guard fields["source"] == nil, fields["src"] == nil, !readOnly else {
                throw .invalidArgument("bad --mount \(text): a tmpfs takes no source and is writable")
            }
            var options: [String] = []
            if let size = fields["tmpfs-size"] { options.append("size=" + size) }
            if let mode = fields["tmpfs-mode"] { options.append("mode=" + mode) }
            return .tmpfs(try TmpfsMount.parse(target + (options.isEmpty ? "" : ":" + options.joined(separator: ","))))
        case let other:
            throw .invalidArgument("bad --mount \(text): type \(other) is not supported (use bind or tmpfs)")
        }
    }

    private static func flag(_ value: String?, in text: String) throws(SandboxError) -> Bool {
        switch value {
        case nil, "false", "0": return false
        case "true", "1": return true
        case let other?: throw .invalidArgument("bad --mount \(text): readonly=\(other) (use true or false)")
        }
    }
}
