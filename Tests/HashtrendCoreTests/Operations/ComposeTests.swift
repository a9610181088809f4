import Foundation
import Testing

/// docker-compose.yml, checked statically (no Docker engine here): Debian's docker-compose validates it,
/// and every HASHTREND_* variable given to a daemon service is one that daemon accepts.
@Suite(.serialized) struct ComposeTests {
    @Test func composeFileIsValidAndUsesOnlyKnownSettings() throws {
        let root = TestSupport.packageRoot
        let compose = root.appendingPathComponent("docker-compose.yml").path
        let check = try ChildProcess("/usr/bin/docker-compose", ["-f", compose, "config", "-q"])
        #expect(check.wait(timeout: 60) == 0, "docker-compose config: \(check.stderr)")

        // The daemon services' variables, from the normalised config (env files folded in).
        let script = """
        import json, subprocess, sys, yaml
        out = subprocess.run(["docker-compose", "-f", sys.argv[1], "config"], capture_output=True, text=True, check=True).stdout
        cfg = yaml.safe_load(out)
        res = {}
        for name, svc in cfg["services"].items():
            cmd = svc.get("command") or []
            if cmd and cmd[0] in ("ingestd", "trendd", "sinkd"):
                env = svc.get("environment") or {}
                res[cmd[0]] = sorted(k for k in env if k.startswith("HASHTREND_"))
        print(json.dumps(res))
        """
        let py = try ChildProcess(TestSupport.python, ["-c", script, compose])
        #expect(py.wait(timeout: 60) == 0, "\(py.stderr)")
        let used = try JSONSerialization.jsonObject(with: Data(py.stdout.utf8)) as? [String: [String]] ?? [:]
        #expect(Set(used.keys) == ["ingestd", "trendd", "sinkd"])
        for (daemon, vars) in used {
            let help = try ChildProcess(TestSupport.binary(daemon), ["--help-markdown"])
            _ = help.wait(timeout: 30)
            #expect(!vars.isEmpty)
            for v in vars { #expect(help.stdout.contains("`\(v)`"), "\(daemon) does not accept \(v)") }
        }
    }
}
