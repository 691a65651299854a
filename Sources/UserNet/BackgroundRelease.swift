// Closing an AF_PACKET socket waits for RCU grace periods in the kernel (synchronize_net in
// packet_release, twice with a ring attached: 20-30 ms here), most of a short `sandbox run`.
// The wait is the last reference's: let a throwaway process hold it (CNetShims does the forking,
// since no Swift may run in a child of this multi-threaded process).

import CNetShims
import Glibc

/// Closes `fd` here at once and lets a short-lived grandchild, which nobody waits for, drop
/// the last reference. Returns false (and closes nothing) when no process could be made.
public func closeInBackground(_ fd: Int32) -> Bool {
    usernet_close_in_background(fd) == 0
}
