import Foundation
import Testing
@testable import HashtrendCore
#if canImport(Glibc)
import Glibc
#endif

@Suite("Demo: hashtrend demo", .serialized)
struct DemoCommandTests {
    /// Pids named in the demo's "started broker (pid N), ..." line.
    private func reportedPids(_ stderr: String) -> [String: Int32] {
        guard let line = stderr.split(separator: "\n").first(where: { $0.contains("hashtrend demo: started ") }) else { return [:] }
        var out: [String: Int32] = [:]
        let pattern = try! NSRegularExpression(pattern: #"(\w+) \(pid (\d+)\)"#)
        let s = String(line)
        for m in pattern.matches(in: s, range: NSRange(s.startIndex..., in: s)) {
            let name = String(s[Range(m.range(at: 1), in: s)!])
            out[name] = Int32(s[Range(m.range(at: 2), in: s)!])
        }
        return out
    }

    /// Live processes whose command line or working directory mentions `path`.
    private func processesMentioning(_ path: String) -> [String] {
        let fm = FileManager.default
        var found: [String] = []
        for entry in (try? fm.contentsOfDirectory(atPath: "/proc")) ?? [] where Int32(entry) != nil {
            if Int32(entry) == getpid() { continue }
            let cmd = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(entry)/cmdline")))
                .map { String(decoding: $0.map { $0 == 0 ? 32 : $0 }, as: UTF8.self) } ?? ""
            let cwd = (try? fm.destinationOfSymbolicLink(atPath: "/proc/\(entry)/cwd")) ?? ""
            // Zombies have an empty cmdline; only real processes count.
            if cmd.contains(path) || (cwd.hasPrefix(path) && !cmd.isEmpty) { found.append("\(entry): \(cmd)") }
        }
        return found
    }

    @Test("demo --once-after: a table with rows, Parquet files DuckDB reads, and no process left behind")
    func onceAfter() throws {
        let dir = TestSupport.tempDir("demo-run")
        defer { try? FileManager.default.removeItem(at: dir) }
        let started = Date()
        let p = try ChildProcess(TestSupport.binary("hashtrend"),
                                 ["demo", "--dir", dir.path, "--once-after", "25s", "--stop-timeout", "20s"])
        let status = p.wait(timeout: 180)
        let elapsed = Date().timeIntervalSince(started)
        #expect(status == 0, "stderr:\n\(p.stderr)\nstdout:\n\(p.stdout)")

        // The table: a header line with the window, then ranked rows.
        let lines = p.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("window ") })
        let rows = lines.filter { $0.range(of: #"^\s+\d+\s+\S+\s+#\S+\s+\d+"#, options: .regularExpression) != nil }
        #expect(rows.count >= 5, "\(p.stdout)")
        #expect(p.stdout.contains("read_parquet("), "the summary names a DuckDB query")

        // Parquet files under the demo dir, readable by DuckDB with hive partitioning.
        let files = TrendsTableReader.files(root: dir.path)
        #expect(!files.isEmpty, "no Parquet files; sinkd log:\n\((try? String(contentsOf: dir.appendingPathComponent("logs/sinkd.log"), encoding: .utf8)) ?? "")")
        if !files.isEmpty {
            let script = """
            import duckdb, sys
            r = duckdb.sql("SELECT count(*), count(DISTINCT window_end), min(rank), max(count), min(dt) FROM read_parquet('\(dir.path)/trends/**/*.parquet', hive_partitioning=true)").fetchall()[0]
            print(*r)
            """
            // HASHTREND_PYTHON is a path; the python3 fallback is looked up on PATH through env(1).
            let python = TestSupport.python
            let py = python.contains("/") ? try ChildProcess(python, ["-c", script])
                                          : try ChildProcess("/usr/bin/env", [python, "-c", script])
            #expect(py.wait(timeout: 60) == 0, "\(py.stderr)")
            let f = py.stdout.split(separator: " ").map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) }
            #expect(f.count == 5)
            if f.count == 5 {
                #expect((Int(f[0]) ?? 0) > 0)
                #expect((Int(f[1]) ?? 0) >= 1)
                #expect(f[2] == "1")
                #expect((Int(f[3]) ?? 0) > 0)
            }
            // Our own reader agrees with DuckDB on the row count.
            let ours = try TrendsTableReader.rows(root: dir.path)
            #expect(String(ours.count) == f.first)
        }
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("logs/trendd.log").path))

        // Every child it started is gone.
        let pids = reportedPids(p.stderr)
        #expect(Set(pids.keys) == ["broker", "trendd", "sinkd", "ingestd"], "\(p.stderr)")
        for (name, pid) in pids {
            #expect(kill(pid, 0) != 0 && errno == ESRCH, "\(name) (pid \(pid)) still exists")
        }
        #expect(processesMentioning(dir.path).isEmpty)
        #expect(elapsed < 120, "took \(elapsed)s")
    }

    @Test("a second run moves the first run's table aside and starts a fresh one; SIGTERM stops it cleanly")
    func secondRunAndSigterm() throws {
        let dir = TestSupport.tempDir("demo-run")
        defer { try? FileManager.default.removeItem(at: dir) }
        // A leftover table from an earlier run.
        let old = dir.appendingPathComponent("trends/dt=2026-01-01/hour=00")
        try FileManager.default.createDirectory(at: old, withIntermediateDirectories: true)
        try TrendsTable.encode(demoWindows(count: 2)).withUnsafeBufferPointer { try Data(buffer: $0).write(to: old.appendingPathComponent("x.parquet")) }

        let p = try ChildProcess(TestSupport.binary("hashtrend"), ["demo", "--dir", dir.path, "--once-after", "10m"])
        #expect(p.waitForStderr(containing: "hashtrend demo: started ", timeout: 30), "\(p.stderr)")
        Thread.sleep(forTimeInterval: 3)
        p.signal(SIGTERM)
        let status = p.wait(timeout: 90)
        #expect(status == 0, "\(p.stderr)")
        let prev = (try? FileManager.default.contentsOfDirectory(atPath: dir.appendingPathComponent("previous").path)) ?? []
        #expect(prev.count == 1)
        #expect(!TrendsTableReader.files(root: dir.appendingPathComponent("previous/\(prev.first ?? "")").path).isEmpty)
        for (name, pid) in reportedPids(p.stderr) {
            #expect(kill(pid, 0) != 0 && errno == ESRCH, "\(name) (pid \(pid)) still exists")
        }
        #expect(processesMentioning(dir.path).isEmpty)
    }
}
