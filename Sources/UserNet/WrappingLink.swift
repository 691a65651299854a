// A link endpoint that stands between the stack and another one (CapturingLink, FaultyLink):
// the link's properties are the inner endpoint's.

import Link
import Wire

protocol WrappingLink: LinkEndpoint {
    var inner: any LinkEndpoint { get }
}

extension WrappingLink {
    var mtu: Int { inner.mtu }
    var capabilities: LinkCapabilities { inner.capabilities }
    var maxHeaderLength: Int { inner.maxHeaderLength }
    var linkAddress: MACAddress { inner.linkAddress }
    var gsoMaxSize: Int { inner.gsoMaxSize }
}
