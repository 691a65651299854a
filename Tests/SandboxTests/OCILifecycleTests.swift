import Glibc
import Sandbox
import Testing

/// The runtime-spec lifecycle (runtime.md): which operation each status allows, what the state
/// JSON says, and how a dead supervisor reads.
@Suite struct OCILifecycleTests {
    @Test func startOnlyFromCreated() {
        for status in ContainerStatus.allCases {
            #expect(ContainerOperation.start.allowed(in: status) == (status == .created))
        }
    }

    @Test func killOnlyWhileCreatedOrRunning() {
        #expect(ContainerOperation.kill.allowed(in: .created))
        #expect(ContainerOperation.kill.allowed(in: .running))
        #expect(!ContainerOperation.kill.allowed(in: .stopped))
        #expect(!ContainerOperation.kill.allowed(in: .creating))
    }

    @Test func deleteNeedsStoppedUnlessForced() {
        #expect(ContainerOperation.delete.allowed(in: .stopped))
        #expect(!ContainerOperation.delete.allowed(in: .running))
        // runc deletes a created container without --force; containerd's shim relies on it.
        #expect(ContainerOperation.delete.allowed(in: .created))
        #expect(ContainerOperation.delete.allowed(in: .running, force: true))
        #expect(ContainerOperation.delete.refusal(id: "c1", status: .running).description.contains("not stopped"))
    }

    @Test func execOnlyWhileRunning() {
        for status in ContainerStatus.allCases {
            #expect(ContainerOperation.exec.allowed(in: status) == (status == .running))
        }
    }

    @Test func aDeadSupervisorMeansStopped() {
        var record = ContainerRecord(id: "c1", bundle: "/b", pid: 42, pidStartTime: 7, created: "t")
        record.status = .running
        #expect(record.observed(supervisorAlive: true) == .running)
        #expect(record.observed(supervisorAlive: false) == .stopped)
    }

    @Test func stateJSONHasTheSpecFieldsAndDropsThePidOnceStopped() {
        var record = ContainerRecord(id: "c1", bundle: "/srv/b", pid: 42, pidStartTime: 7, created: "t")
        record.annotations = ["a": "b"]
        let running = String(decoding: record.stateJSON(status: .running), as: UTF8.self)
        for field in [
            "\"ociVersion\"", "\"id\" : \"c1\"", "\"status\" : \"running\"", "\"pid\" : 42", "\"bundle\" : \"/srv/b\"",
            "\"a\" : \"b\""
        ] {
            #expect(running.contains(field), "\(field) in \(running)")
        }
        let stopped = String(decoding: record.stateJSON(status: .stopped), as: UTF8.self)
        #expect(stopped.contains("\"status\" : \"stopped\"") && !stopped.contains("\"pid\""))
    }

    @Test func containerIDsFollowRuncsRule() {
        for good in ["abc", "a.b-c_d+e", String(repeating: "f", count: 64)] {
            #expect((try? OCIRuntime.validate(id: good)) != nil, "\(good)")
        }
        for bad in ["", ".", "..", "a/b", "a b", "x\u{0}", String(repeating: "f", count: 256)] {
            #expect(throws: SandboxError.self) { try OCIRuntime.validate(id: bad) }
        }
    }

    @Test func aStoreRefusesAnIDInUseAndForgetsARemovedOne() throws {
        let root = "/tmp/sandbox-store-test-\(getpid())"
        defer { _ = rmdir(root) }
        let store = try ContainerStore(root: root)
        try store.create("one")
        defer { store.remove("one") }
        #expect(throws: SandboxError.invalidArgument("container one already exists")) { try store.create("one") }
        var record = ContainerRecord(id: "one", bundle: nil, pid: getpid(), pidStartTime: 0, created: "t")
        record.status = .running
        try store.write(record)
        #expect(try store.read("one") == record)
        #expect(store.ids() == ["one"])
        // pidStartTime 0 is not this process's start time: its supervisor reads as gone.
        #expect(store.status(of: record) == .stopped)
        record.pidStartTime = try #require(ProcessStartTime.of(getpid()))
        #expect(store.status(of: record) == .running)
        store.remove("one")
        #expect(store.ids().isEmpty)
        #expect(throws: SandboxError.invalidArgument("container one does not exist")) { try store.read("one") }
    }
}
