// The app's side of the gateway as the engine needs it: a LinkEndpoint for the stack, plus
// what its event loop drives. FDBasedEndpoint (the veth's packet socket) in production; tests
// give the engine an in-memory link, which has no descriptors (they deliver frames
// themselves), so the gateway's core runs without root.

import FDBased
import Link

public protocol GatewayLink: LinkEndpoint {
    /// Descriptors whose readability means frames wait.
    var pollableFileDescriptors: [Int32] { get }
    /// Delivers every frame that waits to the stack. True when the link is gone (EOF or an
    /// error: the app's end went away).
    func dispatchWaiting() -> Bool
    /// The link's counters, for `GatewayCounters.link`.
    var statistics: FDBasedStatistics { get }
    func close()
}

extension FDBasedEndpoint: GatewayLink {
    public func dispatchWaiting() -> Bool { dispatchAvailable().closed }
}
