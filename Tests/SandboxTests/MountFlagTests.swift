import Sandbox
import Testing

/// `--mount` in docker's syntax: what each form becomes, and what is refused.
@Suite struct MountFlagTests {
    @Test func bindAndTmpfsForms() throws {
        #expect(
            try MountFlag.parse("type=bind,source=/srv/data,target=/data,readonly")
                == .bind(VolumeMount(hostPath: "/srv/data", sandboxPath: "/data", readOnly: true)))
        #expect(
            try MountFlag.parse("type=bind,src=/srv/data,dst=/data,ro=false")
                == .bind(VolumeMount(hostPath: "/srv/data", sandboxPath: "/data", readOnly: false)))
        #expect(
            try MountFlag.parse("type=tmpfs,destination=/cache,tmpfs-size=64m,tmpfs-mode=700")
                == .tmpfs(TmpfsMount(sandboxPath: "/cache", options: "size=64m,mode=700")))
    }

    @Test func whatDockerHasAndASandboxCannotHonourIsRefused() {
        for bad in [
            "type=bind,source=/a,target=/b,bind-propagation=shared", "type=volume,source=v,target=/b",
            "type=bind,target=/b", "type=tmpfs,source=/a,target=/b", "type=tmpfs,target=/b,readonly",
            "type=bind,source=/a", "type=bind,source=/a,target=/b,readonly=maybe", "type=bind,source=/a,target=/",
            "type=bind,source=/a,source=/c,target=/b", "type=bind,source=relative,target=/b"
        ] {
            #expect(throws: SandboxError.self, "\(bad)") { try MountFlag.parse(bad) }
        }
    }
}
