// The one test trait the suites share: "needs root". Suites that make namespaces, veth pairs,
// packet sockets or cgroups carry it, so `swift test` as a non-root developer runs every
// other suite and reports these as skipped with the reason, instead of as failures. CI runs
// as root (.ci/run checks), so there nothing is skipped.

import Glibc
import Testing

extension Tag {
    /// Needs root: namespaces, veth pairs, AF_PACKET sockets, cgroups.
    @Tag public static var root: Self
}

extension Trait where Self == ConditionTrait {
    /// Runs only as root (effective uid 0); skipped otherwise, with the reason.
    public static var needsRoot: Self {
        .enabled(if: geteuid() == 0, "needs root (namespaces, veth pairs, packet sockets): run as root")
    }
}
