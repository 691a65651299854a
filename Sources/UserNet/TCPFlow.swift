// The byte pump of one forwarded TCP connection: the app's connection in the stack on one
// side, the host socket on the other, with backpressure both ways:
//   app -> host: read from the connection only while the host socket takes bytes; the
//                connection's receive buffer fills and the app's window closes when it stops
//   host -> app: read the host socket only while the connection's send buffer has room; the
//                host socket's buffer fills and the peer's window closes when it stops
// and half-close both ways (FIN -> shutdown(SHUT_WR); host EOF -> FIN), RST both ways (app RST
// -> abortive close with SO_LINGER 0; host ECONNRESET -> RST to the app).

import Netstack
import Posix

final class TCPFlow: PumpedTCPFlow {
    unowned let engine: GatewayEngine
    unowned let tcp: GatewayTCP
    let key: FlowKey
    let host: HostTCPSocket
    let connection: TCPConnection
    var registration: EventLoop.Registration?
    var record: ConnectionRecord
    var isDirty = false
    private var interest: EventLoop.Interest = .read
    /// The host socket took less than it was offered: the rest waits in the connection's
    /// receive ring (closing the app's window) until the socket is writable again.
    private var hostWriteBlocked = false
    /// The app sent FIN and the host socket got shutdown(SHUT_WR).
    private var appFinished = false
    /// The host sent FIN; the connection got shutdownWrite (or will, `finAwaitsHandshake`).
    private var hostFinished = false
    /// The host's FIN came while the stack's connection to the app was still in SYN-SENT (a
    /// published port's client that half-closes at once). A CLOSE there would delete the TCB
    /// (RFC 9293 3.10.4), so the FIN is queued until the handshake is done, as the same
    /// section asks in SYN-RECEIVED.
    private var finAwaitsHandshake = false
    /// epoll reported the host peer's FIN (EPOLLRDHUP) or an error: read on to the EOF.
    private var hostHungUp = false
    private(set) var isClosed = false

    init(
        engine: GatewayEngine, tcp: GatewayTCP, key: FlowKey, host: HostTCPSocket, connection: TCPConnection,
        record: ConnectionRecord
    ) {
        self.engine = engine
        self.tcp = tcp
        self.key = key
        self.host = host
        self.connection = connection
        self.record = record
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        unregister(closingFD: true)
        connection.onReadiness = nil
        abortUnfinishedConnection()
        host.close()
    }

    /// Starts watching the host socket for reads: on `parked`, the connect's registration,
    /// when it kept one (one EPOLL_CTL_MOD), else registered anew. False when epoll refused.
    func watchHost(taking parked: EventLoop.Registration?) -> Bool {
        let handler: EventLoop.Handler = { [unowned self] readiness in self.hostReady(readiness) }
        do {
            if let parked {
                registration = parked
                try engine.loop.setInterest(parked, .read, handler: handler)
            } else {
                registration = try engine.loop.register(fd: host.fd, interest: .read, handler: handler)
            }
            return true
        } catch {
            return false
        }
    }

    func hostReady(_ readiness: EventLoop.Readiness) {
        if !readiness.isDisjoint(with: [.hangup, .error]) { hostHungUp = true }
        pump()
    }

    /// Moves what can move both ways, then sends what the connection queued.
    func pump() {
        guard !isClosed else { return }
        if connection.isFinished {
            // RST from the app (or its retransmissions ran out): what arrived before it still
            // goes to the host (best effort), then the host peer gets RST too.
            if connection.error != nil { _ = appToHost(passingFIN: false) }
            end(abortingHost: connection.error != nil)
            return
        }
        engine.flows.touch(key, now: engine.now.nanoseconds)
        var output = tcp.output
        let now = tcp.now
        if !appToHost() || !hostToApp() {
            // The host reset the connection (or failed): so does the app's side.
            connection.abort(now: now, output: &output)
            end(abortingHost: true)
            return
        }
        if finAwaitsHandshake && connection.state.isSynchronized {
            finAwaitsHandshake = false
            connection.shutdownWrite()
        }
        connection.poll(now: now, output: &output)
        if appFinished && hostFinished && connection.availableToRead == 0 {
            // Both directions are done: the host socket goes; the connection finishes its
            // close (ACKs, TIME-WAIT) on its own and reports `.closed`.
            unregister(closingFD: true)
            host.close()
            return
        }
        updateInterest()
    }

    /// `closingFD`: the host socket closes right after (see `EventLoop.unregister`).
    private func unregister(closingFD: Bool = false) {
        if let registration { engine.loop.unregister(registration, closingFD: closingFD) }
        registration = nil
    }

    /// Ends the flow: the host socket is closed (with RST when asked) before the engine drops
    /// the flow and logs it.
    private func end(abortingHost: Bool) {
        unregister(closingFD: true)
        if abortingHost { host.abort() } else { host.close() }
        engine.finish(key)
    }

    /// Returns false when the host socket failed. `passingFIN`: when the app's stream ended,
    /// half-close the host socket (not when the stream ended with a RST). The bytes go to the
    /// host socket straight from the connection's receive ring, as much as it holds in one
    /// send: no copy on the way, and one wake-up of the host's reader for all of it.
    private func appToHost(passingFIN: Bool = true) -> Bool {
        guard !appFinished else { return true }
        var failed = false
        let taken = connection.read(inPlace: { [host] first, second in
            do {
                switch try host.write(first, second) {
                case .done(let n): return n
                case .wouldBlock: return 0
                }
            } catch {
                failed = true
                return 0
            }
        })
        if failed { return false }
        record.bytesFromApp &+= UInt64(taken)
        // A short send: the socket's buffer is full.
        hostWriteBlocked = connection.availableToRead > 0
        if hostWriteBlocked { return true }
        if connection.isReadClosed && passingFIN {
            appFinished = true
            // When the host's stream has ended too (its EOF read, nothing left unread), `pump`
            // closes the socket next, and close(2) sends the FIN: no shutdown(2) needed.
            if !hostFinished {
                do { try host.shutdownWrite() } catch { return false }
            }
        }
        return true
    }

    /// Returns false when the host socket failed (ECONNRESET...). The bytes are read straight
    /// into the connection's send buffer (two iovecs when it wraps), as many as it has room for.
    private func hostToApp() -> Bool {
        guard !hostFinished else { return true }
        while connection.writableSpace > 0 {
            let space = connection.writableSpace
            var result = IOResult.wouldBlock
            var failed = false
            do {
                _ = try connection.write(inPlace: { [host] first, second in
                    do { result = try host.read(into: first, second) } catch { failed = true }
                    if case .done(let count) = result { return count }
                    return 0
                })
            } catch {
                return false
            }
            if failed { return false }
            switch result {
            case .wouldBlock:
                return true
            case .done(0):
                hostFinished = true
                if connection.state.isSynchronized { connection.shutdownWrite() } else { finAwaitsHandshake = true }
                return true
            case .done(let count):
                record.bytesToApp &+= UInt64(count)
                // A short read emptied the socket: the next read would only say EAGAIN.
                // epoll is level-triggered, so bytes arriving later are reported again;
                // only a hung-up peer's EOF is worth reading for now.
                if count < space && !hostHungUp { return true }
            }
        }
        return true
    }

    /// Watches the host socket for what the flow can use now. With nothing wanted it is not
    /// watched at all: a half-closed peer keeps EPOLLRDHUP/EPOLLHUP raised, which would
    /// otherwise wake the loop for nothing until the app's window opens.
    private func updateInterest() {
        guard host.fd >= 0 else { return }
        var wanted: EventLoop.Interest = []
        if !hostFinished && connection.writableSpace > 0 { wanted.insert(.read) }
        if hostWriteBlocked { wanted.insert(.write) }
        guard wanted != interest || (registration == nil && !wanted.isEmpty) else { return }
        interest = wanted
        if wanted.isEmpty {
            unregister()
        } else if let registration {
            try? engine.loop.setInterest(registration, wanted)
        } else {
            registration = try? engine.loop.register(fd: host.fd, interest: wanted) { [unowned self] readiness in
                self.hostReady(readiness)
            }
        }
    }
}
